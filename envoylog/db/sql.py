"""The bulk write path: SQL text rendered once per dialect, rows as tuples, instants converted once.

``save_poll`` writes dozens of reading rows per poll and thousands per replayed batch.
Going through SQLAlchemy's per-row machinery (dicts, bind processors, the
``UTCDateTime`` type per value, ``insertmanyvalues``) cost more than the database's
own work, and even ``Connection.exec_driver_sql`` costs more per statement than a
small statement itself, so ``save_poll`` writes plain SQL on the driver's cursor
(:class:`~envoylog.db.store.Txn`); the transaction, pooling and error translation
stay SQLAlchemy's. The statements name their columns from the same tuples the rows
are built from, so a column cannot be missed or shifted.

Stored values are exactly what the column types would have bound: on SQLite an
instant is :func:`~envoylog.db.types.sqlite_text`, on PostgreSQL the aware datetime
itself (psycopg sends it as ``timestamptz``): see
:func:`~envoylog.db.types.instant_converter`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import chain
from typing import Any

from envoylog.db.store import Txn

Row = Sequence[Any]


def distinct_op(txn: Txn) -> str:
    """Null-safe inequality (SQLite spells it ``IS NOT``; ``IS DISTINCT FROM`` needs 3.39)."""
    return "IS NOT" if txn.dialect == "sqlite" else "IS DISTINCT FROM"


def same_op(txn: Txn) -> str:
    """Null-safe equality."""
    return "IS" if txn.dialect == "sqlite" else "IS NOT DISTINCT FROM"


def values_row(txn: Txn, width: int) -> str:
    return "(" + ", ".join([txn.mark] * width) + ")"


def insert_rows(txn: Txn, head: str, width: int, rows: Sequence[Row], tail: str = "") -> int:
    """``head VALUES (...) tail`` for every row, as one executemany; return the rows written.

    sqlite3 steps one prepared statement per row in C; psycopg 3 prepares the statement
    once and sends every row in one pipeline (no round trip per row). Both report the
    summed row count, so ``ON CONFLICT`` rows that changed nothing are not counted.
    Measured on PostgreSQL, this beat multi-row VALUES pages by about 1.7x.
    """
    if not rows:
        return 0
    return txn.executemany(f"{head} VALUES {values_row(txn, width)} {tail}", rows)


def insert_returning(
    txn: Txn, head: str, width: int, rows: Sequence[Row], tail: str
) -> list[tuple[Any, ...]]:
    """``head VALUES (...), (...) tail`` in pages of many rows; return what RETURNING gave.

    One statement carries a page of rows, so RETURNING needs no round trip per row.
    """
    returned: list[tuple[Any, ...]] = []
    for sql, params in _pages(txn, head, width, rows, tail):
        returned.extend(txn.rows(sql, params))
    return returned


def _pages(
    txn: Txn, head: str, width: int, rows: Sequence[Row], tail: str
) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """Multi-row statements under the dialect's bound-parameter limit (999 on old SQLite)."""
    limit = txn.conn.dialect.insertmanyvalues_max_parameters
    page = max(1, min(1000, limit // width))
    one = values_row(txn, width)
    for start in range(0, len(rows), page):
        chunk = rows[start : start + page]
        sql = f"{head} VALUES {', '.join([one] * len(chunk))} {tail}"
        yield sql, tuple(chain.from_iterable(chunk))
