"""What one gateway's report shows, read from the database in a handful of queries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pandas as pd

from envoylog.db import Store
from envoylog.db import report as sql
from envoylog.db.battery import soc_series
from envoylog.db.energy import GatewayRow
from envoylog.db.power import PowerFlow, Series, day_series
from envoylog.energy.counters import DEFAULT_THRESHOLDS
from envoylog.energy.periods import day_range
from envoylog.energy.rollup import gateway_zone
from envoylog.errors import ConfigError
from envoylog.export import ExportKind, frame

# A report covers at most this many days unless --from says otherwise (a year's heatmap
# of 36 inverters fits the 3 MB budget; see benchmarks/bench_report.py).
DEFAULT_DAYS = 365


@dataclass(frozen=True, slots=True)
class GatewayData:
    """Everything one gateway's section of the report draws."""

    name: str
    serial: str
    timezone: str
    first: date
    last: date
    day: date  # the day of the power curve
    daily: pd.DataFrame  # the daily export's columns
    monthly: pd.DataFrame
    inverter_days: pd.DataFrame
    inverters: Mapping[str, sql.InverterStatus]
    power: Mapping[PowerFlow, Series]
    soc: list[tuple[datetime, float]]  # the batteries' state of charge over the day (%)
    gaps: Sequence[sql.Gap]
    corrections: Sequence[sql.Event]
    parse_failures: Sequence[tuple[datetime, str]]


def _imperfect_runs(daily: pd.DataFrame, zone: str) -> list[tuple[datetime, datetime]]:
    """UTC spans of the consecutive days whose coverage is below 100 %.

    A gap longer than the coverage rule allows lowers the coverage of every day it
    touches, so gaps are looked for there only: a year of minute polls is not read
    for the few days that have one.
    """
    runs: list[tuple[datetime, datetime]] = []
    for day, pct in zip(daily["date"], daily["coverage_pct"], strict=True):
        if pct >= 100:
            continue
        lo, hi = day_range(day, day, zone)
        if runs and runs[-1][1] == lo:
            runs[-1] = (runs[-1][0], hi)
        else:
            runs.append((lo, hi))
    return runs


def collect(
    store: Store,
    gateway: GatewayRow,
    *,
    start: date | None,
    end: date | None,
    day: date | None,
    timezone_override: Mapping[str, str] | None = None,
) -> GatewayData:
    """Read one gateway's energy, power, inverter days and data quality for the range."""
    zone = gateway_zone(gateway, timezone_override)
    name = gateway.name or gateway.serial
    daily = frame(store, ExportKind.DAILY, gateways=[gateway.serial], start=start, end=end)
    if daily.empty:
        raise ConfigError(
            f"no energy for gateway {name} between {start or 'the start'} and "
            f"{end or 'the end'} in {store.name}: nothing to report"
        )
    last = end or daily["date"].max()
    first = start or max(daily["date"].min(), last - timedelta(days=DEFAULT_DAYS - 1))
    daily = daily[(daily["date"] >= first) & (daily["date"] <= last)].reset_index(drop=True)
    if day is not None and not first <= day <= last:
        raise ConfigError(f"--day {day} is outside the report's range {first} to {last}")
    day = day or daily["date"].max()
    lo, hi = day_range(first, last, zone)
    day_lo, day_hi = day_range(day, day, zone)
    with store.reading("reading the report's readings") as conn:
        power = day_series(conn, gateway.id, day_lo, day_hi)
        soc = [p for p in soc_series(conn, gateway.id, day_lo, day_hi) if p[0] < day_hi]
        max_gap = DEFAULT_THRESHOLDS.max_gap.total_seconds()
        gaps = [
            gap
            for run_lo, run_hi in _imperfect_runs(daily, zone)
            for gap in sql.gaps(conn, gateway.id, run_lo, run_hi, max_gap)
        ]
        corrections = sql.counter_events(conn, gateway.id, lo, hi)
        failures = sql.parse_failures(conn, gateway.id, lo, hi)
        inverters = sql.inverter_statuses(conn, gateway.id)
    wanted = {"gateways": [gateway.serial], "start": first, "end": last}
    return GatewayData(
        name=name,
        serial=gateway.serial,
        timezone=zone,
        first=first,
        last=last,
        day=day,
        daily=daily,
        monthly=frame(store, ExportKind.MONTHLY, **wanted),  # type: ignore[arg-type]
        inverter_days=frame(store, ExportKind.INVERTERS, **wanted),  # type: ignore[arg-type]
        inverters=inverters,
        power=power,
        soc=soc,
        gaps=gaps,
        corrections=corrections,
        parse_failures=failures,
    )
