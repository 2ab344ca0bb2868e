"""`envoylog rollup`: recompute the energy tables for a range of local days."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import click

from envoylog.cli.options import (
    check_range,
    database_options,
    date_range,
    gateway_filter,
    settings_from,
    timezone_overrides,
)
from envoylog.cli.progress import progress_bar
from envoylog.db import open_store
from envoylog.energy.rollup import GatewayRollup, rollup


@click.command(name="rollup")
@date_range("the first reading's", "the last reading's")
@gateway_filter
@database_options
def rollup_command(
    start: date | None,
    end: date | None,
    gateways: tuple[str, ...],
    db_url: str | None,
    config_path: Path | None,
) -> None:
    """Recompute hourly, daily and monthly energy (and inverter days) from the counters.

    Local dates in each gateway's timezone, --from and --to both inclusive
    (default: the days the readings cover). Recomputing replaces what was
    stored for those days, so running it twice changes nothing; a day that no
    reading touches gets no row.
    """
    check_range(start, end)
    settings = settings_from(config_path)
    with (
        open_store(settings.db_url(db_url)) as store,
        progress_bar("Recomputing days") as progress,
    ):
        done: list[GatewayRollup] = []
        for name in gateways or (None,):
            summary = rollup(
                store,
                gateway=name,
                start=start,
                end=end + timedelta(days=1) if end else None,
                timezone_override=timezone_overrides(settings),
                progress=progress,
            )
            done.extend(summary.gateways)
    if not done:
        click.echo("Nothing to recompute: no readings logged in that range.")
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
