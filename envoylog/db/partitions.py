"""PostgreSQL partitions of the reading tables: one per UTC month, made ahead of time.

On PostgreSQL (revision 0007) every reading table is partitioned by range on its
reading's instant: a partition per UTC calendar month, named ``<table>_pYYYYMM``,
and ``<table>_default`` for a reading of a month that has none (a gateway clock
far off). The service makes the current month's and the next ``MONTHS_AHEAD``
months' partitions at start and daily, so readings land in their month; a month
made while the default partition holds some of its readings takes them over.
SQLite keeps plain tables: nothing here runs there.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection

log = logging.getLogger(__name__)

# Table -> the instant it is partitioned by. A table comes after the one it refers to
# (phase rows refer to their system reading by id and instant): partitions are attached
# in this order and emptied out of the default partitions in the reverse one.
PARTITIONED: dict[str, str] = {
    "system_readings": "measured_at",
    "phase_readings": "measured_at",
    "meter_readings": "measured_at",
    "inverter_readings": "reported_at",
    "battery_readings": "measured_at",
    "battery_system_readings": "measured_at",
}
# Months made ahead of the current one: a service stopped over a month end still finds
# its month when it starts again, and a day without the daily upkeep loses nothing.
MONTHS_AHEAD = 2
# Any value: the same in every envoylog process sharing a server (migrate.py has another).
_PG_PARTITION_LOCK = 0x656E7670


def month_of(at: datetime) -> datetime:
    """The first instant of ``at``'s UTC month."""
    at = at.astimezone(UTC)
    return datetime(at.year, at.month, 1, tzinfo=UTC)


def add_months(month: datetime, count: int) -> datetime:
    """The first instant of the UTC month ``count`` months after ``month``'s."""
    index = month.year * 12 + month.month - 1 + count
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partition_name(table: str, month: datetime) -> str:
    """The name of ``table``'s partition for ``month``: ``meter_readings_p202612``."""
    return f"{table}_p{month:%Y%m}"


def default_name(table: str) -> str:
    return f"{table}_default"


def bounds(month: datetime) -> str:
    """``FOR VALUES`` of a month's partition (DDL takes no parameters: formatted here)."""
    end = add_months(month, 1)
    return f"FOR VALUES FROM ('{month:%Y-%m-%d} 00:00:00+00') TO ('{end:%Y-%m-%d} 00:00:00+00')"


def partitions(conn: Connection) -> set[str]:
    """The names of every partition in the database's search path."""
    found = conn.execute(
        text(
            "SELECT c.relname FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid "
            "WHERE c.relispartition AND pg_table_is_visible(c.oid)"
        )
    )
    return set(found.scalars())


def ensure_months(conn: Connection, now: datetime, *, ahead: int = MONTHS_AHEAD) -> list[str]:
    """Make the partitions of ``now``'s month and the ``ahead`` next ones that are missing
    (PostgreSQL; nothing on SQLite); return the names made."""
    if conn.dialect.name != "postgresql":
        return []
    first = month_of(now)
    wanted = [add_months(first, n) for n in range(ahead + 1)]
    known = partitions(conn)
    if all(partition_name(t, m) in known for t in PARTITIONED for m in wanted):
        return []  # the daily look, without a lock
    # Two processes sharing the server: the second waits, then finds the months made.
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_PARTITION_LOCK})
    made: list[str] = []
    for month in wanted:
        made += add_month(conn, month)
    return made


def add_month(conn: Connection, month: datetime) -> list[str]:
    """Make ``month``'s partition of every reading table lacking it, taking over the rows
    the default partition holds for that month; return the names made.

    PostgreSQL refuses a partition whose range has rows in the default partition, so
    each is made apart, filled from the default, and attached once the default no
    longer holds them: all in the caller's transaction, which writers wait for.
    """
    known = partitions(conn)
    todo = [t for t in PARTITIONED if partition_name(t, month) not in known]
    end = add_months(month, 1)
    if todo:
        # Writers wait (for a moment: the default partition is nearly always empty). The
        # tables in the order writers take them, so neither waits for the other in a ring.
        conn.exec_driver_sql(f"LOCK TABLE {', '.join(todo)} IN SHARE ROW EXCLUSIVE MODE")
    for table in todo:
        name, inside = partition_name(table, month), _inside(table)
        conn.exec_driver_sql(
            f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        )
        conn.execute(
            text(f"INSERT INTO {name} SELECT * FROM {default_name(table)} WHERE {inside}"),
            {"lo": month, "hi": end},
        )
    moved = 0
    for table in reversed(todo):  # rows referring to others first: no cascade reaches them
        deleted = conn.execute(
            text(f"DELETE FROM {default_name(table)} WHERE {_inside(table)}"),
            {"lo": month, "hi": end},
        )
        moved += int(deleted.rowcount)
    for table in todo:
        name = partition_name(table, month)
        conn.exec_driver_sql(f"ALTER TABLE {table} ATTACH PARTITION {name} {bounds(month)}")
    made = [partition_name(t, month) for t in todo]
    if made:
        log.info("partitions_made month=%s tables=%d moved=%d", f"{month:%Y-%m}", len(made), moved)
    return made


def _inside(table: str) -> str:
    key = PARTITIONED[table]
    return f"{key} >= :lo AND {key} < :hi"


def drop_month(conn: Connection, month: datetime) -> list[str]:
    """Drop ``month``'s partitions, every reading of that month with them; return their names.

    envoylog deletes no reading by age; this is what a retention of readings runs instead
    of a DELETE (benchmarks/bench_partitions.py measures both). A partition of
    ``system_readings`` is detached first: PostgreSQL drops one only once no phase row
    refers to it, which it checks as it detaches.
    """
    known = partitions(conn)
    dropped = []
    for table in reversed(PARTITIONED):  # phase rows before the readings they refer to
        name = partition_name(table, month)
        if name in known:
            conn.exec_driver_sql(f"ALTER TABLE {table} DETACH PARTITION {name}")
            conn.exec_driver_sql(f"DROP TABLE {name}")
            dropped.append(name)
    return dropped
