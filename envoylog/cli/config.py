"""`envoylog config check`: is the config file right, and can every gateway be reached."""

from __future__ import annotations

from pathlib import Path

import click

from envoylog.cli.options import required_config
from envoylog.config.summary import database_source, reach, render_reached, summarise


@click.group(name="config")
def config() -> None:
    """Check the configuration file (see docs/configuration.md for every key)."""


@config.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Config file (default: $ENVOYLOG_CONFIG, then /etc/envoylog/envoylog.toml, "
    "then ~/.config/envoylog/envoylog.toml).",
)
@click.option("--offline", is_flag=True, help="Validate and summarise only; contact no gateway.")
def check(config_path: Path | None, offline: bool) -> None:
    """Validate the config file, show what it says and reach each gateway once.

    Prints the settings as understood (never a secret), then for each enabled
    gateway its serial, firmware, whether it is metered and which endpoints
    answered. Exits non-zero when the file is invalid or a gateway could not be
    reached.
    """
    path, settings = required_config(config_path)
    click.echo(summarise(settings, settings.db_url(), database_source(settings)))
    if not settings.gateways:
        raise click.ClickException(
            f"{path}: there is no [[gateway]] table; add one with name and host."
        )
    if offline:
        return
    failed = []
    for gateway in settings.enabled_gateways:
        reached = reach(gateway)
        click.echo()
        click.echo(render_reached(reached))
        if not reached.ok:
            failed.append(gateway.name)
    if failed:
        total = len(settings.enabled_gateways)
        raise click.ClickException(
            f"{len(failed)} of {total} gateways could not be reached or gave no data "
            f"({', '.join(failed)}); see above for why."
        )
