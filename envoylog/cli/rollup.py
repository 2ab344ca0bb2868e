"""`envoylog rollup`: recompute the energy tables for a range of local days."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import click

from envoylog.cli.options import DAY, database_options, settings_from
from envoylog.cli.progress import progress_bar
from envoylog.db import open_store
from envoylog.energy.rollup import GatewayRollup, rollup


@click.command(name="rollup")
@click.option("--from", "start", type=DAY, help="First local day.")
@click.option("--to", "end", type=DAY, help="Day after the last (exclusive).")
@click.option(
    "--gateway",
    "gateways",
    multiple=True,
    metavar="NAME|SERIAL",
    help="Only this gateway (repeatable; default: every gateway).",
)
@database_options
def rollup_command(
    start: datetime | None,
    end: datetime | None,
    gateways: tuple[str, ...],
    db_url: str | None,
    config_path: Path | None,
) -> None:
    """Recompute hourly, daily and monthly energy (and inverter days) from the counters.

    Local days in each gateway's timezone, from --from up to but not
    including --to (default: the whole logged history). Recomputing replaces
    what was stored for those days, so running it twice changes nothing.
    """
    settings = settings_from(config_path)
    zones = {g.name: g.timezone for g in settings.gateways if g.timezone}
    with (
        open_store(settings.db_url(db_url)) as store,
        progress_bar("Recomputing days") as progress,
    ):
        done: list[GatewayRollup] = []
        for name in gateways or (None,):
            summary = rollup(
                store,
                gateway=name,
                start=start.date() if start else None,
                end=end.date() if end else None,
                timezone_override=zones,
                progress=progress,
            )
            done.extend(summary.gateways)
    if not done:
        click.echo("Nothing to recompute: no polls logged in that range.")
    for result in done:
        click.echo(render(result))


def render(result: GatewayRollup) -> str:
    """What was recomputed for one gateway, and from which counters."""
    last = date.fromordinal(result.end_day.toordinal() - 1)
    lines = [
        f"{result.name or result.serial} ({result.serial}, {result.timezone}): "
        f"{result.days} day(s) {result.first_day} to {last}, "
        f"{result.corrections} counter correction(s) recorded in gateway_events",
        *(f"  {column:<19} {source or '-'}" for column, source in result.sources.items()),
        *(f"  warning: {text}" for text in result.warnings),
    ]
    return "\n".join(lines)
