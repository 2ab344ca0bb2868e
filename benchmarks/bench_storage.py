"""Benchmark 5: database bytes per gateway-day at the default cadences, per sample site.

Each site's simulator profile (the same sites as sample_data/) runs on a manual
clock for one local day; the service's own GatewayJob and StoreWorker log it (as
`envoylog demo` does) into SQLite and into PostgreSQL. Sizes are those of the
database after the day minus those of an empty database of the same schema:
SQLite from dbstat after the last connection has checkpointed the WAL, PostgreSQL
from pg_total_relation_size per table (heap, indexes and TOAST). Raw bodies (kept
raw_body_days, 3 by default) are reported separately. The size is deterministic
for a seed, so one round is enough.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import SITES, Section, battery_note, postgres

READING_TABLES = (
    "system_readings",
    "phase_readings",
    "meter_readings",
    "inverter_readings",
    "battery_readings",
    "battery_system_readings",
)
# Profiles beyond the sample sites: a battery site with a storage CT too.
EXTRA_SITES = ("iq-battery-storage-ct",)
RAW = "raw_bodies"
AIM_MB = 3.0
DAY = datetime(2024, 6, 15).date()


def log_site(site: str, db_url: str, spool: Path, minutes: int) -> int:
    from benchmarks.driver import TICK_S, drive
    from envoylog.simulator import ManualClock, SimulatedGateway
    from envoylog.simulator.profiles import get_profile

    zone = ZoneInfo(get_profile(site).timezone)
    clock = ManualClock(datetime.combine(DAY, time(0), zone))
    polls = 0
    with SimulatedGateway(site, clock=clock, seed=1) as gateway:
        token = gateway.token if gateway.profile.modern else None
        driven = drive([(gateway.url, token)], db_url, spool, clock.now)
        try:
            for _ in range(minutes // (TICK_S // 60)):
                polls += driven.tick()
                clock.advance(timedelta(seconds=TICK_S))
        finally:
            driven.close()
    return polls


# Bytes of one PostgreSQL table (:t), indexes and TOAST included, with its partitions if
# it is partitioned (the partitioned reading tables hold none themselves).
TABLE_BYTES = (
    "SELECT coalesce((SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree(:t)), "
    "pg_total_relation_size(:t))"
)


def sizes(db_url: str) -> dict[str, int]:
    """Bytes per table (indexes included) of a database; closes every connection first."""
    from sqlalchemy import create_engine, text

    if db_url.startswith("sqlite"):
        path = db_url.split("///", 1)[1]
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            pages = conn.execute("SELECT name, tbl_name FROM sqlite_master").fetchall()
            owner = {name: tbl for name, tbl in pages}
            out: dict[str, int] = {}
            for name, size in conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
                table = owner.get(name, name)
                out[table] = out.get(table, 0) + int(size)
        return out
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    # A month partition counts for its table (the partitioned reading tables).
                    "SELECT coalesce(pg_partition_root(c.oid), c.oid)::regclass::text, "
                    "pg_total_relation_size(c.oid) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE c.relkind = 'r' AND n.nspname = 'public'"
                )
            ).all()
    finally:
        engine.dispose()
    found: dict[str, int] = {}
    for name, size in rows:
        found[str(name)] = found.get(str(name), 0) + int(size)
    return found


def count_rows(db_url: str) -> dict[str, int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return {
                t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one())
                for t in (*READING_TABLES, "polls")
            }
    finally:
        engine.dispose()


def measure(site: str, db_url: str, empty_url: str, spool: Path, minutes: int) -> dict[str, Any]:
    from envoylog.db import open_store

    open_store(empty_url).close()
    polls = log_site(site, db_url, spool, minutes)
    empty = sizes(empty_url)
    full = sizes(db_url)
    grown = {t: full[t] - empty.get(t, 0) for t in full}
    raw = sum(v for k, v in grown.items() if RAW in k)
    total = sum(grown.values())
    rows = count_rows(db_url)
    readings = sum(rows[t] for t in READING_TABLES)
    scale = 1440 / minutes
    return {
        "polls": polls,
        "readings": readings,
        "rows": rows,
        "bytes_per_day": round((total - raw) * scale),
        "raw_bytes_per_day": round(raw * scale),
        "bytes_per_reading": round((total - raw) / readings, 1) if readings else None,
        "largest_tables": dict(sorted(grown.items(), key=lambda kv: -kv[1])[:6]),
    }


def run(*, quick: bool, sites: list[str] | None = None, minutes: int | None = None) -> Section:
    minutes = minutes or 1440
    section = Section(
        "5. Storage per gateway-day (default cadences)",
        [
            "site",
            "readings / day",
            "SQLite MB / day",
            "SQLite B / reading",
            "PostgreSQL MB / day",
            "PostgreSQL B / reading",
            "raw bodies MB / day (SQLite, PG)",
        ],
    )
    with tempfile.TemporaryDirectory() as tmp, postgres() as pg:
        folder = Path(tmp)
        for site in sites or [*SITES, *EXTRA_SITES]:
            key = site.replace("-", "_").replace(".", "_")
            result: dict[str, Any] = {
                "sqlite": measure(
                    site,
                    f"sqlite:///{folder}/{key}.sqlite",
                    f"sqlite:///{folder}/{key}-empty.sqlite",
                    folder / f"spool-{key}",
                    minutes,
                )
            }
            if pg is not None:
                result["postgresql"] = measure(
                    site,
                    pg.create_database(f"st_{key}"),
                    pg.create_database(f"st_{key}_empty"),
                    folder / f"spool-pg-{key}",
                    minutes,
                )
            section.data[site] = result
            sq, pq = result["sqlite"], result.get("postgresql")
            section.rows.append(
                [
                    site,
                    f"{sq['readings'] * 1440 // minutes}",
                    f"{sq['bytes_per_day'] / 1e6:.2f}",
                    f"{sq['bytes_per_reading']}",
                    f"{pq['bytes_per_day'] / 1e6:.2f}" if pq else "-",
                    f"{pq['bytes_per_reading']}" if pq else "-",
                    f"{sq['raw_bytes_per_day'] / 1e6:.2f}, "
                    + (f"{pq['raw_bytes_per_day'] / 1e6:.2f}" if pq else "-"),
                ]
            )
    section.notes += [
        f"One simulated local day ({DAY}, {minutes} min"
        + (", scaled to a day" if minutes != 1440 else "")
        + ") through GatewayJob + StoreWorker at the default cadences, quiet window kept; "
        "sizes are after the day minus an empty database; deterministic (one round).",
        "Raw bodies are kept for raw_body_days (3) and then pruned, so they cost about "
        "3 days' worth in total, not per day forever; they are excluded from MB / day.",
        f"Aim: under {AIM_MB:.0f} MB per gateway-day for the largest site.",
    ]
    battery_note(
        section, "MB per gateway-day (SQLite)", lambda r: r["sqlite"]["bytes_per_day"] / 1e6
    )
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--site", action="append")
    parser.add_argument("--minutes", type=int)
    args = parser.parse_args()
    print(run(quick=args.quick, sites=args.site, minutes=args.minutes).markdown())


if __name__ == "__main__":
    main()
