"""Benchmark 8a: PostgreSQL partitions: the migration on a year, and a month's retention.

A year of the three-phase, 36-inverter site (benchmarks/yeardata.py, as in benchmark 4)
is written with save_polls, taken back to plain tables (revision 0006: the downgrade,
timed), copied (CREATE DATABASE ... TEMPLATE), and the copy migrated to month
partitions (revision 0007, timed). On both databases a first VACUUM of the reading
tables sets their visibility maps; then the oldest month of readings is removed
(DELETE on the plain tables, DROP of the month's partitions on the partitioned ones)
and the reading tables vacuumed again, each step timed.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import Section, postgres


def _timed(action: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    action()
    return round(time.perf_counter() - t0, 2)


def _run(url: str, *statements: str, autocommit: bool = False) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT" if autocommit else None)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()


def _reading_bytes(url: str) -> int:
    from sqlalchemy import create_engine, text

    from benchmarks.bench_storage import TABLE_BYTES
    from envoylog.db.partitions import PARTITIONED

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return sum(
                int(conn.execute(text(TABLE_BYTES), {"t": table}).scalar_one())
                for table in PARTITIONED
            )
    finally:
        engine.dispose()


def _vacuum(url: str) -> float:
    from envoylog.db.partitions import PARTITIONED

    return _timed(lambda: _run(url, *(f"VACUUM {t}" for t in PARTITIONED), autocommit=True))


def _delete_month(url: str, month: datetime) -> None:
    from envoylog.db.partitions import PARTITIONED, add_months

    end = add_months(month, 1)
    _run(
        url,
        *(
            f"DELETE FROM {table} WHERE {key} >= '{month:%Y-%m-%d}' AND {key} < '{end:%Y-%m-%d}'"
            for table, key in reversed(PARTITIONED.items())
            if table != "phase_readings"  # the foreign key's cascade deletes them
        ),
    )


def _drop_month(url: str, month: datetime) -> None:
    from sqlalchemy import create_engine

    from envoylog.db.partitions import drop_month

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            drop_month(conn, month)
    finally:
        engine.dispose()


def measure(pg: Any, days: int) -> dict[str, Any]:
    from benchmarks.bench_year import YEAR_START, fill
    from envoylog.db import downgrade, open_store, upgrade
    from envoylog.db.partitions import month_of

    partitioned = pg.create_database("partitioned")
    with open_store(partitioned) as store:
        filled = fill(store, days)
    downgrade_s = _timed(lambda: downgrade(partitioned, "0006"))
    plain = pg.create_database("plain", template="partitioned")
    upgrade_s = _timed(lambda: upgrade(partitioned))
    month = month_of(YEAR_START)
    found: dict[str, Any] = {"fill": filled, "downgrade_s": downgrade_s, "upgrade_s": upgrade_s}
    for name, url, remove in (
        ("plain", plain, _delete_month),
        ("partitioned", partitioned, _drop_month),
    ):
        first_vacuum_s = _vacuum(url)
        size = _reading_bytes(url)
        remove_s = _timed(lambda url=url, remove=remove: remove(url, month))
        vacuum_s = _vacuum(url)
        found[name] = {
            "first_vacuum_s": first_vacuum_s,
            "reading_mb": round(size / 1e6, 1),
            "remove_month_s": remove_s,
            "vacuum_after_s": vacuum_s,
            "reading_mb_after": round(_reading_bytes(url) / 1e6, 1),
        }
    return found


def run(*, quick: bool, days: int | None = None) -> Section:
    days = days or (62 if quick else 366)
    section = Section(
        f"8a. PostgreSQL partitions ({days} days, 3 phases, 36 inverters)",
        [
            "tables",
            "reading tables MB",
            "VACUUM after load s",
            "remove the first month s",
            "VACUUM after it s",
            "MB after",
        ],
    )
    with postgres() as pg:
        if pg is None:
            section.notes.append("PostgreSQL unavailable: nothing measured.")
            return section
        result = measure(pg, days)
    section.data.update(result)
    for name, how in (("plain", "DELETE"), ("partitioned", "DROP partitions")):
        r = result[name]
        section.rows.append(
            [
                f"{name} (revision {'0006' if name == 'plain' else '0007'}, {how})",
                f"{r['reading_mb']:,.0f}",
                f"{r['first_vacuum_s']:.1f}",
                f"{r['remove_month_s']:.2f}",
                f"{r['vacuum_after_s']:.2f}",
                f"{r['reading_mb_after']:,.0f}",
            ]
        )
    fill = result["fill"]
    section.notes += [
        f"{fill['polls']:,} polls, {fill['rows']:,} rows written with save_polls; "
        f"migration 0006 -> 0007 (partitions): {result['upgrade_s']:.0f} s; "
        f"0007 -> 0006 (plain tables): {result['downgrade_s']:.0f} s.",
        f"The month removed: {datetime(2024, 1, 1, tzinfo=UTC):%Y-%m} (the first of the data).",
    ]
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--days", type=int)
    args = parser.parse_args()
    print(run(quick=args.quick, days=args.days).markdown())


if __name__ == "__main__":
    main()
