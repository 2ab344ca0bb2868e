"""The bulk write path: SQL text rendered once per dialect, rows as tuples, instants converted once.

``save_poll`` writes dozens of reading rows per poll and thousands per replayed batch.
Going through SQLAlchemy's per-row machinery (dicts, bind processors, the
``UTCDateTime`` type per value, ``insertmanyvalues``) cost more than the database's
own work, so the reading tables are written here with plain SQL, still through
``Connection.exec_driver_sql`` (the transaction, pooling and error translation stay
SQLAlchemy's). The statements name their columns from the same tuples the rows are
built from, so a column cannot be missed or shifted.

Stored values are exactly what the column types would have bound: on SQLite an
instant is :func:`~envoylog.db.types.sqlite_text`, on PostgreSQL the aware datetime
itself (psycopg sends it as ``timestamptz``): see
:func:`~envoylog.db.types.instant_converter`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from envoylog.db.store import Txn

Row = Sequence[Any]


def placeholder(txn: Txn) -> str:
    """The DBAPI's positional parameter marker: sqlite3 ``?``, psycopg ``%s``."""
    return "?" if txn.dialect == "sqlite" else "%s"


def distinct_op(txn: Txn) -> str:
    """Null-safe inequality (SQLite spells it ``IS NOT``; ``IS DISTINCT FROM`` needs 3.39)."""
    return "IS NOT" if txn.dialect == "sqlite" else "IS DISTINCT FROM"


def values_row(txn: Txn, width: int) -> str:
    mark = placeholder(txn)
    return "(" + ", ".join([mark] * width) + ")"


def execute_many(txn: Txn, sql: str, rows: Sequence[Row]) -> int:
    """Run one statement per row (the DBAPI's executemany); return the rows it changed.

    sqlite3 and psycopg 3 both report the summed row count of an executemany; psycopg
    sends the rows in one pipeline, without a round trip each.
    """
    if not rows:
        return 0
    return txn.conn.exec_driver_sql(sql, list(rows)).rowcount


def insert_values(
    txn: Txn, head: str, width: int, rows: Sequence[Row], tail: str = ""
) -> list[tuple[Any, ...]]:
    """``head VALUES (...), (...) tail`` in pages of many rows; return what RETURNING gave.

    One statement carries a page of rows, so RETURNING needs no round trip per row.
    Pages keep under the dialect's bound-parameter limit (999 on old SQLite).
    """
    if not rows:
        return []
    limit = txn.conn.dialect.insertmanyvalues_max_parameters
    page = max(1, min(1000, limit // width))
    one = values_row(txn, width)
    returned: list[tuple[Any, ...]] = []
    for start in range(0, len(rows), page):
        chunk = rows[start : start + page]
        sql = f"{head} VALUES {', '.join([one] * len(chunk))} {tail}"
        params = tuple(value for row in chunk for value in row)
        returned.extend(tuple(r) for r in txn.conn.exec_driver_sql(sql, params))
    return returned
