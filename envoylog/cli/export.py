"""``envoylog export``: hourly, daily, monthly or per-inverter energy as CSV, Parquet or xlsx."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import IO

import click

from envoylog import export as library
from envoylog.cli import progress as bars
from envoylog.cli.options import (
    check_range,
    database_options,
    date_range,
    gateway_filter,
    settings_from,
    timezone_overrides,
)
from envoylog.db import Store
from envoylog.db.exports import database_name, open_existing
from envoylog.export import ExportKind, ExportSummary, Format, format_for

_NAMES = {"parquet": "Parquet", "xlsx": "xlsx"}


@click.command("export")
@click.argument("kind", type=click.Choice([k.value for k in ExportKind]))
@gateway_filter
@date_range("the first there is", "the last there is")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "parquet", "xlsx"]),
    help="Output format (default: from the --output extension, .csv, .parquet or .xlsx; "
    "csv to standard output).",
)
@click.option(
    "--output",
    "-o",
    default="-",
    show_default=True,
    metavar="PATH|-",
    help="File to write, replaced whole when done; '-' writes to standard output.",
)
@click.option(
    "--bom",
    is_flag=True,
    help="Start the CSV with a UTF-8 byte order mark, for Excel and non-ASCII gateway names.",
)
@database_options
def export(
    kind: str,
    gateways: tuple[str, ...],
    start: date | None,
    end: date | None,
    fmt: Format | None,
    output: str,
    bom: bool,
    config_path: Path | None,
    db_url: str | None,
) -> None:
    """Export hourly, daily, monthly or per-inverter energy as CSV, Parquet or xlsx.

    Dates are each gateway's local dates (hours: local hours with their UTC
    offset); --from and --to are inclusive, and a month is exported when any of
    its days is in the range. Energy is in kWh, ratios in %, units in every
    column name; a missing figure is an empty cell, never 0. Days with readings
    newer than their energy are rolled up first.
    """
    check_range(start, end)
    fmt = fmt or format_for(output)
    to_stdout = output == "-"
    if to_stdout and fmt != "csv" and bars.is_terminal(sys.stdout):
        raise click.UsageError(
            f"refusing to write {_NAMES[fmt]} (binary) to a terminal: use --output FILE or a pipe"
        )
    settings = settings_from(config_path)
    with open_existing(settings.db_url(db_url), settings.store_options()) as store:
        target: Path | IO[bytes] | IO[str]
        if not to_stdout:
            target = Path(output)
        elif fmt != "csv":
            target = sys.stdout.buffer
        else:
            target = sys.stdout
        with bars.progress_bar("Reading rows") as progress:
            summary = library.export(
                store,
                ExportKind(kind),
                gateways=gateways,
                start=start,
                end=end,
                fmt=fmt,
                output=target,
                progress=progress,
                bom=bom,
                timezone_override=timezone_overrides(settings),
            )
        if summary.rows == 0:
            click.echo(_nothing_message(store, kind, gateways, start, end), err=True)
        elif summary.path is not None:
            click.echo(_done_message(summary, kind), err=True)


def _nothing_message(
    store: Store, kind: str, gateways: tuple[str, ...], start: date | None, end: date | None
) -> str:
    scope = f"gateway {', '.join(gateways)}" if gateways else "any gateway"
    if start and end:
        span = f" between {start} and {end}"
    elif start:
        span = f" from {start} on"
    elif end:
        span = f" up to {end}"
    else:
        span = ""
    what = "inverter energy" if kind == ExportKind.INVERTERS else f"{kind} energy"
    return (
        f"no {what} for {scope}{span} in {database_name(store)}: "
        "no readings there (nothing written)"
    )


def _done_message(summary: ExportSummary, kind: str) -> str:
    noun = "gateway" if len(summary.gateways) == 1 else "gateways"
    return (
        f"exported {summary.rows} {kind} rows for {len(summary.gateways)} {noun} "
        f"({summary.first} to {summary.last}) to {summary.path}"
    )
