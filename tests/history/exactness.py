"""Rollups before and after compaction, side by side."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, insert, select

from envoylog.db import Store
from envoylog.db.energy import energy_daily, energy_hourly, inverter_daily, inverter_poll_times
from envoylog.db.models import Base, gateway_events, gateways, phase_table, poll_endpoints, polls
from envoylog.db.report import gaps
from envoylog.energy.counters import DEFAULT_THRESHOLDS
from envoylog.energy.periods import Resolution
from envoylog.energy.rollup import rollup
from envoylog.energy.tables import poll_coverage
from envoylog.history.compact import CompactionSummary, compact
from envoylog.history.settings import STEP_DEFAULT

STEP = STEP_DEFAULT  # an hour: every series folds across the 30-minute gap limit
LATER = datetime(2030, 1, 1, tzinfo=UTC)  # every simulated day is long rolled up by then
ENERGY = ("production_wh", "consumption_wh", "import_wh", "export_wh", "net_grid_wh",
          "battery_charge_wh", "battery_discharge_wh", "self_consumption_wh", "estimated_wh",
          "peak_production_w", "self_sufficiency")  # fmt: skip
EXACT = ("coverage", "corrections", "production_source", "consumption_source", "grid_source",
         "battery_source", "soc_min_pct", "soc_max_pct", "soc_end_pct")  # fmt: skip


def snapshot(store: Store) -> dict[str, Any]:
    """Every rollup row and counter event of the database, keyed."""
    rollup(store, now=LATER)
    found: dict[str, Any] = {}
    with store.reading("snapshot") as conn:
        for name, table, key in (
            ("hourly", energy_hourly, ("gateway_id", "start_at")),
            ("daily", energy_daily, ("gateway_id", "day")),
            ("inverters", inverter_daily, ("inverter_id", "day")),
        ):
            found[name] = {
                tuple(r[k] for k in key): dict(r) for r in conn.execute(select(table)).mappings()
            }
        e = gateway_events.c
        events = select(e.gateway_id, e.at, e.kind, e.detail).where(e.kind.like("counter-%"))
        found["events"] = sorted(tuple(r) for r in conn.execute(events))
        found["poll log"] = poll_log(conn)
    return found


def poll_log(conn: Any) -> dict[str, Any]:
    """What readers take from the poll log: gaps, inverter coverage per hour, the polls
    that failed and the endpoints with an error or a parse failure."""
    p, e = polls.c, poll_endpoints.c
    found: dict[str, Any] = {}
    for gateway_id in conn.execute(select(gateways.c.id)).scalars():
        first, last = conn.execute(
            select(
                func.min(p.started_at), func.max(func.coalesce(p.last_started_at, p.started_at))
            ).where(p.gateway_id == gateway_id)
        ).one()
        if first is None:
            continue
        lo = first.replace(minute=0, second=0, microsecond=0)
        hi = last.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        limit = DEFAULT_THRESHOLDS.max_gap.total_seconds()
        found[f"{gateway_id} gaps"] = gaps(conn, gateway_id, lo, hi, limit)
        times = inverter_poll_times(conn, gateway_id, lo, hi)
        found[f"{gateway_id} coverage"] = poll_coverage(times, "UTC", Resolution.HOUR, lo, hi)
    failed = select(p.gateway_id, p.started_at, p.status).where(p.status == "failed")
    found["failed"] = sorted(tuple(r) for r in conn.execute(failed))
    noted = (
        select(p.gateway_id, p.started_at, e.endpoint, e.error, e.parse_failed)
        .join(poll_endpoints, e.poll_id == p.id)
        .where((e.error.is_not(None)) | e.parse_failed)
    )
    found["noted"] = sorted(tuple(r) for r in conn.execute(noted))
    return found


def compact_all(store: Store, before: date = date(2030, 1, 1)) -> CompactionSummary:
    return compact(store, now=LATER, window_days=0, step=STEP, before=before)


def differences(before: dict[str, Any], after: dict[str, Any], rel: float = 1e-4) -> list[str]:
    """What differs beyond ``rel`` (0.01 %) in energy, or at all in coverage and sources."""
    found = []
    for name in ("hourly", "daily", "inverters"):
        old, new = before[name], after[name]
        if old.keys() != new.keys():
            found.append(f"{name}: rows {sorted(set(old) ^ set(new))[:5]}")
        for key in old.keys() & new.keys():
            for column, a in old[key].items():
                b = new[key][column]
                if column == "computed_at" or a == b:
                    continue
                close = column in ENERGY or column in ("wh", "peak_w", "coverage")
                numbers = close and a is not None and b is not None
                if numbers and math.isclose(a, b, rel_tol=rel, abs_tol=1e-6):
                    continue
                found.append(f"{name} {key} {column}: {a} -> {b}")
    found += poll_log_differences(before["poll log"], after["poll log"])
    if before["events"] != after["events"]:
        gone = sorted(set(before["events"]) - set(after["events"]))[:3]
        new = sorted(set(after["events"]) - set(before["events"]))[:3]
        found.append(f"events: lost {gone}, new {new}")
    return found


def poll_log_differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What readers of the poll log would see differently (coverage within 1e-9)."""
    found = []
    for name, old in before.items():
        new = after.get(name)
        if name.endswith("coverage") and new is not None and len(old) == len(new):
            hours = sum(not math.isclose(a, b, abs_tol=1e-9) for a, b in zip(old, new, strict=True))
            if hours:
                found.append(f"poll log {name}: {hours} hours differ")
        elif new != old:
            found.append(f"poll log {name}: {old} -> {new}")
    return found


COPIED = (
    "gateways", "polls", "poll_endpoints", "system_readings", "phase_readings", "meters",
    "meter_readings", "inverters", "inverter_readings", "batteries", "battery_readings",
    "battery_system_readings",
)  # fmt: skip


def load(store: Store, sqlite_path: Path) -> None:
    """Copy the readings (and what they hang on) of a logged SQLite file into ``store``."""
    source = create_engine(f"sqlite:///{sqlite_path}")
    try:
        with source.connect() as conn, store.transaction("loading readings") as txn:
            instants: dict[int, Any] = {}  # system reading id -> measured_at
            for name in COPIED:
                table = Base.metadata.tables[name]
                rows = [dict(r) for r in conn.execute(select(table)).mappings()]
                if name == "system_readings":
                    instants = {r["id"]: r["measured_at"] for r in rows}
                if name == "phase_readings" and store.dialect == "postgresql":
                    table = phase_table(store.dialect)  # with its system reading's instant
                    for row in rows:
                        row["measured_at"] = instants[row["reading_id"]]
                for start in range(0, len(rows), 5000):
                    txn.conn.execute(insert(table), rows[start : start + 5000])
    finally:
        source.dispose()


def readings(store: Store) -> dict[str, int]:
    """Rows per compacted reading table."""
    with store.reading("counting") as conn:
        return {
            t: int(
                conn.execute(select(func.count()).select_from(Base.metadata.tables[t])).scalar_one()
            )
            for t in ("meter_readings", "system_readings", "inverter_readings", "phase_readings")
        }
