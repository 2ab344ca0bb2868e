"""`envoylog status`: how logging is going, per gateway."""

from __future__ import annotations

from pathlib import Path

import click

from envoylog.config import find_config_file, load_settings
from envoylog.paths import status_file
from envoylog.status import collect_status, render, token_expiries


@click.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Config file (default: $ENVOYLOG_CONFIG, /etc/envoylog/envoylog.toml, per-user file).",
)
@click.option(
    "--db",
    "db_url",
    metavar="URL",
    help="Database URL or SQLite file (overrides $ENVOYLOG_DB and the config file).",
)
def status(config_path: Path | None, db_url: str | None) -> None:
    """Show each gateway's last good poll, last error, token expiry and readings in 24 h.

    Also the spool (polls waiting for the database) and the database size. Reads
    the database without changing it; a running service adds what only it knows.
    """
    settings = load_settings(find_config_file(config_path))
    report = collect_status(
        settings.db_url(db_url), status_file(), settings.spool_dir, token_expiries(settings)
    )
    click.echo(render(report))
