"""`envoylog report`: one HTML file with charts of the logged data, to open in any browser."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from envoylog.cli.options import (
    DAY,
    check_range,
    database_options,
    date_range,
    gateway_filter,
    settings_from,
    timezone_overrides,
)
from envoylog.db.exports import open_existing
from envoylog.report import write_report


@click.command("report")
@gateway_filter
@date_range("a year before --to", "the last day logged")
@click.option(
    "--day",
    type=DAY,
    help="The day whose power curve to draw (default: the last day of the range).",
)
@click.option(
    "--output",
    "-o",
    default="report.html",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The HTML file to write, replaced whole when done.",
)
@database_options
def report(
    gateways: tuple[str, ...],
    start: date | None,
    end: date | None,
    day: date | None,
    output: Path,
    config_path: Path | None,
    db_url: str | None,
) -> None:
    """Write one self-contained HTML report: power, energy, panel health, data quality.

    It opens offline in any browser (nothing is fetched from the network), in
    each gateway's local time. Days with readings newer than their energy are
    rolled up first.
    """
    check_range(start, end)
    settings = settings_from(config_path)
    with open_existing(settings.db_url(db_url), settings.store_options()) as store:
        summary = write_report(
            store,
            output,
            gateways=gateways,
            start=start,
            end=end,
            day=day,
            timezone_override=timezone_overrides(settings),
        )
    shown = ", ".join(f"{g.name} ({g.first} to {g.last})" for g in summary.gateways)
    click.echo(f"wrote {summary.path} ({summary.bytes / 1e6:.1f} MB): {shown}", err=True)
