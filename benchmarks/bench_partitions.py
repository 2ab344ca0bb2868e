"""Benchmark 8a: PostgreSQL partitions: the migration on a year, and a month's retention.

A month of the three-phase, 36-inverter site (benchmarks/yeardata.py, as in benchmark 4)
is written with save_polls and taken back to plain tables (revision 0006); its polls
and readings are then copied in SQL, 31 days later each time, to make a year
(writing a year with save_polls takes an hour on a busy machine; the rows are the
same kind). The database is copied (CREATE DATABASE ... TEMPLATE) and the copy
migrated to month partitions (revision 0007, timed). On both a first VACUUM of the
reading tables sets their visibility maps; then the oldest month of readings is
removed (DELETE on the plain tables, DROP of the month's partitions on the
partitioned ones) and the reading tables vacuumed again, each step timed.
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


# Table -> (instants moved by each copy, ids moved past the originals' largest).
COPIED = {
    "polls": (("started_at", "finished_at"), ("id",)),
    "poll_endpoints": ((), ("poll_id",)),
    "system_readings": (("measured_at",), ("id",)),
    "phase_readings": ((), ("reading_id",)),
    "meter_readings": (("measured_at",), ()),
    "inverter_readings": (("reported_at",), ()),
}
SHIFT_DAYS = 31


def replicate(url: str, copies: int) -> None:
    """Copy the polls and readings ``copies`` times, each SHIFT_DAYS later (plain tables)."""
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            # The span copied: SHIFT_DAYS from the first poll (fill adds a closing minute).
            for table, (instants, _) in COPIED.items():
                if instants:
                    conn.execute(
                        text(
                            f"DELETE FROM {table} WHERE {instants[0]} >= (SELECT min(started_at) "
                            f"FROM polls) + interval '{SHIFT_DAYS} days'"
                        )
                    )
            top = {
                t: int(conn.execute(text(f"SELECT max(id) FROM {t}")).scalar_one())
                for t in ("polls", "system_readings")
            }
            offset = {"id": 0, "poll_id": top["polls"], "reading_id": top["system_readings"]}
            for k in range(1, copies + 1):
                for table, (instants, ids) in COPIED.items():
                    # The database's own columns: it is at an older revision than the models.
                    columns = [c["name"] for c in inspect(conn).get_columns(table)]
                    moved = []
                    for c in columns:
                        if c in instants:
                            moved.append(f"{c} + interval '{k * SHIFT_DAYS} days'")
                        elif c in ids:
                            step = offset[c] or top[table]
                            moved.append(f"{c} + {k * step}")
                        else:
                            moved.append(c)
                    first = ids[0] if ids else None
                    original = f"WHERE {first} <= {offset[first] or top[table]}" if first else ""
                    if not ids:  # readings keyed by instant: those of the first span
                        original = f"WHERE {instants[0]} < (SELECT min({instants[0]}) FROM {table})"
                        original += f" + interval '{SHIFT_DAYS} days'"
                    conn.execute(
                        text(
                            f"INSERT INTO {table} ({', '.join(columns)}) "
                            f"SELECT {', '.join(moved)} FROM {table} {original}"
                        )
                    )
            for table in top:
                sequence = f"pg_get_serial_sequence('{table}', 'id')"
                conn.execute(text(f"SELECT setval({sequence}, max(id)) FROM {table}"))
    finally:
        engine.dispose()


def measure(pg: Any, days: int) -> dict[str, Any]:
    from benchmarks.bench_year import YEAR_START, fill
    from envoylog.db import downgrade, open_store, upgrade
    from envoylog.db.partitions import month_of

    partitioned = pg.create_database("partitioned")
    with open_store(partitioned) as store:
        filled = fill(store, min(days, SHIFT_DAYS))
    downgrade(partitioned, "0006")
    copies = max(0, -(-days // SHIFT_DAYS) - 1)
    replicate(partitioned, copies)
    rows = _count(partitioned)
    plain = pg.create_database("plain", template="partitioned")
    upgrade_s = _timed(lambda: upgrade(partitioned))
    month = month_of(YEAR_START)
    found: dict[str, Any] = {"fill": filled, "rows": rows, "upgrade_s": upgrade_s}
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
    found["downgrade_s"] = _timed(lambda: downgrade(partitioned, "0006"))
    return found


def _count(url: str) -> dict[str, int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in COPIED
            }
    finally:
        engine.dispose()


def run(*, quick: bool, days: int | None = None) -> Section:
    days = days or (62 if quick else 372)
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
    fill, rows = result["fill"], result["rows"]
    section.notes += [
        f"{fill['polls']:,} polls ({fill['days']} days) written with save_polls, then copied "
        f"to {rows['polls']:,} polls, {sum(rows.values()) - rows['polls']:,} rows of poll "
        "endpoints, readings and phases; "
        f"migration 0006 -> 0007 (partitions): {result['upgrade_s']:.0f} s; back to "
        f"0006 (plain tables, a month less): {result['downgrade_s']:.0f} s.",
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
