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

from sqlalchemy import Float, String, Table

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


def insert_head(table: Table, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table.name} ({', '.join(columns)})"


def insert_rows(
    txn: Txn, table: Table, columns: Sequence[str], rows: Sequence[Row], tail: str = ""
) -> int:
    """Insert the rows (``INSERT ... tail``); return the rows written.

    On SQLite, one executemany: sqlite3 steps one prepared statement per row in C. On
    PostgreSQL, one statement whatever the number of rows: each column is sent as one
    binary array and ``unnest`` turns them back into rows (psycopg's executemany spends
    tens of microseconds of Python per row: 36 inverter rows cost 0.45 ms that way,
    0.23 ms as arrays). Both count only the rows written, so ``ON
    CONFLICT`` rows that changed nothing are not counted.
    """
    if not rows:
        return 0
    if txn.arrays:
        plan = _unnest(table, tuple(columns), tail)
        return int(txn.execute(plan[0], _arrays(rows, plan)).rowcount)
    return txn.executemany(
        f"{insert_head(table, columns)} VALUES {values_row(txn, len(columns))} {tail}", rows
    )


def insert_returning(
    txn: Txn, table: Table, columns: Sequence[str], rows: Sequence[Row], tail: str
) -> list[tuple[Any, ...]]:
    """Insert the rows with as few statements as possible; return what RETURNING gave.

    PostgreSQL: one ``unnest`` statement. SQLite: multi-row ``VALUES`` in pages.
    """
    if not rows:
        return []
    if txn.arrays:
        plan = _unnest(table, tuple(columns), tail)
        return txn.rows(plan[0], _arrays(rows, plan))
    returned: list[tuple[Any, ...]] = []
    for sql, params in _pages(txn, insert_head(table, columns), len(columns), rows, tail):
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


_Plan = tuple[str, tuple[int, ...], tuple[int, ...]]  # SQL, float columns, text columns
_UNNEST: dict[tuple[str, tuple[str, ...], str], _Plan] = {}


def _unnest(table: Table, columns: tuple[str, ...], tail: str) -> _Plan:
    """``INSERT ... SELECT * FROM unnest(%b::type[], ...) tail``, and the float and text columns.

    The array types come from the models, so they are the columns' own types. The arrays
    travel in binary (``%b``): psycopg dumps them about twice as fast as text arrays.
    """
    key = (table.name, columns, tail)
    found = _UNNEST.get(key)
    if found is None:
        from sqlalchemy.dialects import postgresql

        dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
        types = [table.c[name].type for name in columns]
        # Text unbounded: a cast to VARCHAR(n) would cut a long value instead of refusing it.
        names = ["TEXT" if isinstance(t, String) else t.compile(dialect=dialect) for t in types]
        arrays = ", ".join(f"%b::{name}[]" for name in names)
        sql = f"{insert_head(table, columns)} SELECT * FROM unnest({arrays}) {tail}"
        floats = tuple(i for i, t in enumerate(types) if isinstance(t, Float))
        texts = tuple(i for i, t in enumerate(types) if isinstance(t, String))
        found = _UNNEST[key] = (sql, floats, texts)
    return found


def _arrays(rows: Sequence[Row], plan: _Plan) -> list[Any]:
    """The rows as one array per column, each of one type (psycopg refuses mixed lists)."""
    from envoylog.db.pgarrays import Float8Array

    arrays: list[Any] = [list(column) for column in zip(*rows, strict=True)]
    _, floats, texts = plan
    for i in floats:  # packed at once; an int among floats packs as a float
        arrays[i] = Float8Array(arrays[i])
    for i in texts:  # a StrEnum among str
        arrays[i] = [v if v is None or type(v) is str else str(v) for v in arrays[i]]
    return arrays
