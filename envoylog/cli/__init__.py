"""The ``envoylog`` command line: thin commands over the library.

Library errors (``EnvoylogError``) become one clear sentence and a non-zero exit
here, in one place; no command prints a traceback for a user mistake.
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any

import click

from envoylog import __version__
from envoylog.errors import EnvoylogError

# (module, attribute) of every command: imported lazily so `envoylog --help` stays fast.
_COMMANDS: dict[str, tuple[str, str]] = {}


class EnvoylogGroup(click.Group):
    """A click group that turns library errors into one-line messages."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._lazy()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in self._lazy():
            module_name, attribute = self._lazy()[cmd_name]
            command = getattr(importlib.import_module(module_name), attribute)
        return command

    def _lazy(self) -> dict[str, tuple[str, str]]:
        return _COMMANDS if self.name == "envoylog" else {}

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EnvoylogError as exc:
            raise click.ClickException(str(exc)) from exc


def configure_logging(verbosity: int) -> None:
    """Send one line per event to stderr, journald-friendly (journald adds the time)."""
    level = logging.WARNING - 10 * verbosity
    stamp = "" if os.environ.get("JOURNAL_STREAM") else "%(asctime)s "
    logging.basicConfig(
        level=max(level, logging.DEBUG),
        format=f"{stamp}%(levelname)s %(name)s: %(message)s",
    )
    # Libraries narrate their internals at INFO; only -vv (debug) shows that.
    for chatty in ("alembic", "apscheduler"):
        logging.getLogger(chatty).setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)


@click.group(cls=EnvoylogGroup, name="envoylog")
@click.version_option(__version__, prog_name="envoylog")
@click.option("-v", "--verbose", count=True, help="Log more (-v: info, -vv: debug).")
def cli(verbose: int) -> None:
    """Log Enphase Envoy / IQ Gateway data into SQLite or PostgreSQL.

    Polls the gateway's local API, stores every reading with the gateway's own
    timestamps, and turns its lifetime counters into energy you can trust.
    """
    configure_logging(verbose)


def register(name: str, module: str, attribute: str) -> None:
    _COMMANDS[name] = (module, attribute)


register("probe", "envoylog.cli.probe", "probe")
register("simulate", "envoylog.cli.simulate", "simulate")
register("token", "envoylog.cli.token", "token")
register("poll", "envoylog.cli.poll", "poll")
register("db", "envoylog.cli.db", "db")
register("reparse", "envoylog.cli.reparse", "reparse_command")
register("config", "envoylog.cli.config", "config")
register("run", "envoylog.cli.run", "run")
register("status", "envoylog.cli.status", "status")
register("demo", "envoylog.cli.demo", "demo")
register("rollup", "envoylog.cli.rollup", "rollup_command")
register("compact", "envoylog.cli.compact", "compact_command")
register("export", "envoylog.cli.export", "export")
register("report", "envoylog.cli.report", "report")
register("now", "envoylog.cli.now", "now")
register("spool", "envoylog.cli.spool", "spool")


def main() -> None:
    cli()
