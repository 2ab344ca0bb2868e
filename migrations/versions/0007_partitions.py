"""PostgreSQL: the reading tables partitioned by UTC month (SQLite: nothing changes).

Each reading table becomes a table partitioned by range on its reading's instant,
with a partition per UTC month holding readings (and the current and next two
months) and a default partition for a month without one (envoylog.db.partitions
makes months ahead from then on). The rows are copied into the new table in one
statement per table, routed to their month, and the old table dropped: PostgreSQL
cannot turn a table into a partitioned one in place, and attaching the old table
whole as a single partition would keep its years in one piece that retention could
never drop a month of.

What PostgreSQL requires of a partitioned table is the only other change: its
primary and unique keys hold the partition key, so ``system_readings`` is keyed by
``(id, measured_at)``, and ``phase_readings`` carries its system reading's
``measured_at``, partitioned by it too: its foreign key refers to ``(id,
measured_at)``. Indexes, constraints, the id sequence, grants and the views on the
tables are carried over as they are. Downgrading copies the rows back into plain
tables.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from alembic import op
from sqlalchemy import text
from sqlalchemy.engine import Connection

from envoylog.db.partitions import add_months, bounds, default_name, month_of, partition_name

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Table -> its instant (the partition key), a table after the one it refers to: a frozen
# copy of envoylog.db.partitions.PARTITIONED, since a migration must not change with the code.
TABLES = {
    "system_readings": "measured_at",
    "phase_readings": "measured_at",
    "meter_readings": "measured_at",
    "inverter_readings": "reported_at",
    "battery_readings": "measured_at",
    "battery_system_readings": "measured_at",
}
# The keys without the instant before this revision (widened with it here).
PLAIN_KEYS = {"system_readings": ("id",), "phase_readings": ("reading_id", "phase")}
PHASE_FK = "fk_phase_readings_reading_id_system_readings"
MONTHS_AHEAD = 2
# LIKE copies columns, NOT NULL, defaults (the id sequence's) and checks; keys are added
# once the rows are in (one index build instead of an insert per row into it).
_LIKE = "INCLUDING DEFAULTS INCLUDING CONSTRAINTS"


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    months = _months(conn)
    _rebuild(conn, partitioned=True, months=months)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    _rebuild(conn, partitioned=False, months=[])


def _rebuild(conn: Connection, *, partitioned: bool, months: list[datetime]) -> None:
    """Copy every table into a new one of the other kind and put it in the old one's place,
    with the old one's views, constraints, indexes, sequences and grants."""
    views = _dependent_views(conn)
    grants = _grants(conn, [*TABLES, *(name for name, _ in views)])
    for name, _ in reversed(views):
        _sql(conn, f"DROP VIEW {name}")
    constraints = {t: _constraints(conn, t) for t in TABLES}
    indexes = {t: _indexes(conn, t) for t in TABLES}
    sequences = {t: _sequences(conn, t) for t in TABLES}
    for table, key in TABLES.items():
        new = f"{table}_new"
        if partitioned:
            extra = ", measured_at timestamptz NOT NULL" if table == "phase_readings" else ""
            _sql(
                conn,
                f"CREATE TABLE {new} (LIKE {table} {_LIKE}{extra}) PARTITION BY RANGE ({key})",
            )
            for month in months:
                name = partition_name(table, month)
                _sql(conn, f"CREATE TABLE {name} PARTITION OF {new} {bounds(month)}")
            _sql(conn, f"CREATE TABLE {default_name(table)} PARTITION OF {new} DEFAULT")
        else:
            _sql(conn, f"CREATE TABLE {new} (LIKE {table} {_LIKE})")
            if table == "phase_readings":
                _sql(conn, f"ALTER TABLE {new} DROP COLUMN measured_at")
        columns = _columns(conn, new)
        _sql(conn, f"INSERT INTO {new} ({', '.join(columns)}) {_rows(table, columns)}")
    for table in reversed(TABLES):  # a table before the one it refers to
        for sequence, _ in sequences[table]:
            _sql(conn, f"ALTER SEQUENCE {sequence} OWNED BY NONE")
        _sql(conn, f"DROP TABLE {table}")
    for table in TABLES:
        _sql(conn, f"ALTER TABLE {table}_new RENAME TO {table}")
        for name, definition in constraints[table]:
            made = _constraint(table, name, definition, partitioned)
            _sql(conn, f"ALTER TABLE {table} ADD CONSTRAINT {name} {made}")
        for definition in indexes[table]:
            _sql(conn, definition.replace(" ON ONLY ", " ON "))
        for sequence, column in sequences[table]:
            _sql(conn, f"ALTER SEQUENCE {sequence} OWNED BY {table}.{column}")
    for name, definition in views:
        _sql(conn, f"CREATE VIEW {name} AS {definition}")
    for statement in grants:
        _sql(conn, statement)
    for table in TABLES:
        _sql(conn, f"ANALYZE {table}")


def _sql(conn: Connection, statement: str) -> None:
    """Run DDL as written: a view's definition may hold what text() would take for a bind."""
    conn.exec_driver_sql(statement)


def _months(conn: Connection) -> list[datetime]:
    """The UTC months holding readings, and the current month and the next ones."""
    now = month_of(datetime.now(tz=UTC))
    found = {add_months(now, n) for n in range(MONTHS_AHEAD + 1)}
    for table, key in TABLES.items():
        if table == "phase_readings":
            continue  # in its system reading's month
        rows = conn.execute(text(f"SELECT DISTINCT date_trunc('month', {key}, 'UTC') FROM {table}"))
        found.update(month_of(at) for at in rows.scalars())
    return sorted(found)


def _columns(conn: Connection, table: str) -> list[str]:
    rows = conn.execute(
        text(
            "SELECT attname FROM pg_attribute WHERE attrelid = CAST(:table AS regclass) "
            "AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
        ),
        {"table": table},
    )
    return [str(name) for name in rows.scalars()]


def _rows(table: str, columns: list[str]) -> str:
    """The SELECT of the old table's rows for the new table's ``columns``."""
    if table == "phase_readings" and "measured_at" in columns:
        # A phase row takes its system reading's instant; each has one (its foreign key).
        picked = ", ".join("s.measured_at" if c == "measured_at" else f"p.{c}" for c in columns)
        return (
            f"SELECT {picked} FROM phase_readings p JOIN system_readings s ON s.id = p.reading_id"
        )
    return f"SELECT {', '.join(columns)} FROM {table}"


def _constraint(table: str, name: str, definition: str, partitioned: bool) -> str:
    """A constraint's definition on the new table: keys with (or without) the instant."""
    if name == PHASE_FK:
        if partitioned:
            return (
                "FOREIGN KEY (reading_id, measured_at) REFERENCES system_readings (id, measured_at)"
                " ON DELETE CASCADE"
            )
        return "FOREIGN KEY (reading_id) REFERENCES system_readings (id) ON DELETE CASCADE"
    if not definition.startswith(("PRIMARY KEY", "UNIQUE")):
        return definition
    kind = definition.split(" (", 1)[0]
    columns = [c.strip() for c in definition.split("(", 1)[1].rsplit(")", 1)[0].split(",")]
    if partitioned and TABLES[table] not in columns:
        columns.append(TABLES[table])
    elif not partitioned and table in PLAIN_KEYS and kind == "PRIMARY KEY":
        columns = list(PLAIN_KEYS[table])
    return f"{kind} ({', '.join(columns)})"


def _constraints(conn: Connection, table: str) -> list[tuple[str, str]]:
    """The table's key and foreign key constraints (LIKE copies its checks), by name."""
    rows = conn.execute(
        text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = CAST(:table AS regclass) AND contype IN ('p', 'u', 'f') "
            "AND conparentid = 0 ORDER BY contype DESC, conname"
        ),
        {"table": table},
    )
    return [(str(name), str(definition)) for name, definition in rows]


def _indexes(conn: Connection, table: str) -> list[str]:
    """``CREATE INDEX`` of the table's indexes that back no constraint."""
    rows = conn.execute(
        text(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid = CAST(:table AS regclass) AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
        ),
        {"table": table},
    )
    return [str(definition) for definition in rows.scalars()]


def _sequences(conn: Connection, table: str) -> list[tuple[str, str]]:
    """(sequence, column) of the table's serial columns."""
    rows = conn.execute(
        text(
            "SELECT s.relname, a.attname FROM pg_depend d "
            "JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
            "JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid "
            "WHERE d.refobjid = CAST(:table AS regclass) AND d.deptype = 'a'"
        ),
        {"table": table},
    )
    return [(str(sequence), str(column)) for sequence, column in rows]


def _dependent_views(conn: Connection) -> list[tuple[str, str]]:
    """(name, definition) of the views on the tables, oldest first."""
    rows = conn.execute(
        text(
            "SELECT DISTINCT v.oid, v.relname, pg_get_viewdef(v.oid) FROM pg_depend d "
            "JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class "
            "WHERE d.classid = CAST('pg_rewrite' AS regclass) AND v.relkind = 'v' "
            "AND d.refobjid IN (SELECT CAST(t AS regclass) FROM unnest(CAST(:tables AS text[])) t) "
            "ORDER BY v.oid"
        ),
        {"tables": list(TABLES)},
    )
    return [(str(name), str(definition)) for _, name, definition in rows]


def _grants(conn: Connection, names: list[str]) -> list[str]:
    """``GRANT`` statements giving the tables and views the privileges they have now (a
    read-only role for dashboards keeps its SELECT)."""
    rows: Any = conn.execute(
        text(
            "SELECT c.relname, a.privilege_type, "
            "CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END "
            "FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a "
            "LEFT JOIN pg_roles r ON r.oid = a.grantee "
            "WHERE c.oid IN (SELECT CAST(n AS regclass) FROM unnest(CAST(:names AS text[])) n) "
            "AND a.grantee <> c.relowner"
        ),
        {"names": names},
    )
    return [f"GRANT {privilege} ON {name} TO {grantee}" for name, privilege, grantee in rows]
