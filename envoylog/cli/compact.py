"""`envoylog compact`: compact the readings of days past the full-resolution window."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import click

from envoylog.cli.options import DAY, database_options, settings_from, timezone_overrides
from envoylog.cli.progress import progress_bar
from envoylog.db import open_store
from envoylog.history.compact import DEFAULT_JOBS_AT_MOST, compact, default_jobs


@click.command(name="compact")
@click.option(
    "--before",
    type=DAY,
    help="Compact the local days before this date (YYYY-MM-DD; default: all but the "
    "last full_resolution_days).",
)
@click.option(
    "--jobs",
    type=click.IntRange(1, 64),
    help="Processes working at once (default: this machine's cores, at most "
    f"{DEFAULT_JOBS_AT_MOST}; 1 for one process). On PostgreSQL each compacts gateway-days of "
    "its own; on SQLite they read and plan the days while this one writes them.",
)
@database_options
def compact_command(
    before: date | None, jobs: int | None, db_url: str | None, config_path: Path | None
) -> None:
    """Compact old readings: exact counters at every step, power as mean/min/max.

    Each gateway-day is compacted in one transaction, once its energy is rolled up
    (run `envoylog rollup` first for days logged without the service); energy
    rollups computed again afterwards come out the same. Running it twice changes
    nothing; stopping it midway loses nothing.
    """
    settings = settings_from(config_path)
    window = settings.full_resolution_days
    if before is None and window == 0:
        raise click.ClickException(
            "full_resolution_days is 0 (compaction off) in the config: give --before DATE "
            "to compact the days before DATE."
        )
    with (
        open_store(settings.db_url(db_url)) as store,
        progress_bar("Compacting gateway-days") as progress,
    ):
        summary = compact(
            store,
            now=datetime.now(UTC),
            window_days=window,
            step=timedelta(seconds=settings.compaction_step_s),
            before=before,
            timezone_override=timezone_overrides(settings),
            progress=progress,
            jobs=jobs or default_jobs(),
        )
    if not summary.days and not summary.skipped and not summary.changed:
        click.echo("Nothing to compact: every rolled-up day before the window is compacted.")
        return
    click.echo(
        f"Compacted {summary.days} gateway-day(s): {summary.readings_before:,} readings "
        f"kept as {summary.readings_after:,}."
    )
    if summary.skipped:
        click.echo(
            f"{summary.skipped} gateway-day(s) left as polled: their energy is older than "
            "their last poll; run `envoylog rollup` and compact again."
        )
    if summary.elsewhere:
        click.echo(
            f"{summary.elsewhere} gateway-day(s) were compacted meanwhile by another program "
            "(the service, or another envoylog compact)."
        )
    if summary.changed:
        click.echo(
            f"{summary.changed} gateway-day(s) left as polled: another program changed their "
            "readings while they were compacted; compact again."
        )
