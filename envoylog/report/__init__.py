"""The HTML report: one self-contained file (charts by Bokeh, inline) that opens offline.

For each gateway: a day's power curve, energy per day and month with
self-consumption and self-sufficiency, battery state of charge where there are
batteries, per-panel health, and data quality (coverage, gaps, counter
corrections, parse failures), all in the gateway's local time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from envoylog.db import Store
from envoylog.db.energy import select_gateways
from envoylog.energy.rollup import catch_up
from envoylog.errors import ConfigError
from envoylog.export import write_file
from envoylog.report.data import GatewayData, collect
from envoylog.report.page import render


@dataclass(frozen=True, slots=True)
class ReportSummary:
    path: Path
    bytes: int
    gateways: tuple[GatewayData, ...]


def build_report(
    store: Store,
    *,
    gateways: Sequence[str] = (),
    start: date | None = None,
    end: date | None = None,
    day: date | None = None,
    timezone_override: Mapping[str, str] | None = None,
    generated_at: datetime | None = None,
) -> tuple[str, tuple[GatewayData, ...]]:
    """The report's HTML and what it shows, after rolling up days newer readings reach."""
    if start is not None and end is not None and start > end:
        raise ConfigError(f"the date range is empty: {start} is after {end}")
    rows = select_gateways(store, gateways)
    if not rows:
        raise ConfigError(f"no gateway in {store.name} yet: nothing to report")
    catch_up(store, rows, end=end, timezone_override=timezone_override)
    data = tuple(
        collect(store, row, start=start, end=end, day=day, timezone_override=timezone_override)
        for row in rows
    )
    return render(data, generated_at or datetime.now(UTC)), data


def write_report(store: Store, path: Path, **options: object) -> ReportSummary:
    """Build the report and write it to ``path`` whole (never half a file under the name)."""
    text, data = build_report(store, **options)  # type: ignore[arg-type]
    payload = text.encode()
    write_file(path, payload, what="the report")
    return ReportSummary(path, len(payload), data)
