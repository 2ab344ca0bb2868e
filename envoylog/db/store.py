"""``Store``: an open, up-to-date database plus the row caches that keep ``save_poll`` cheap."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from types import TracebackType
from typing import Any

from sqlalchemy import Engine, Executable, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from envoylog.db.engine import EngineOptions, describe, make_engine, translated
from envoylog.db.migrate import upgrade_engine


@dataclass(frozen=True, slots=True)
class StoreOptions:
    """What to keep and how to connect."""

    engine: EngineOptions = field(default_factory=EngineOptions)
    raw_body_days: float = 3.0  # keep raw bodies this long (failed parses: until reparsed)
    # Level 3 costs 40 % less CPU than zlib's default 6 on a 72 kB device_data body, for an
    # 11 % larger result (measured on the three-phase sample site).
    zlib_level: int = 3


@dataclass(slots=True)
class GatewayState:
    """A gateway's row as this process last read or wrote it."""

    id: int
    serial: str
    host: str
    name: str | None
    part_number: str | None
    firmware: str | None
    metered: bool | None
    timezone: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    created: bool = False


MeterRow = dict[str, Any]  # a meters row by column name: id and configuration


Upsert = postgresql.Insert | sqlite.Insert  # an INSERT that can say ON CONFLICT


def upsert(dialect: str, table: Table) -> Upsert:
    """``insert(table)`` in the dialect's own form, which can say ``ON CONFLICT``.

    Saving builds each statement once per dialect (``functools.cache`` on its builder)
    and binds values at execution: a statement object reused keeps its compiled form
    and cache key, where building it anew costs more than running it.
    """
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


@cache
def insert_new(
    dialect: str, table: Table, key: tuple[str, ...], returning: tuple[str, ...] = ()
) -> Executable:
    """``INSERT ... ON CONFLICT (key) DO NOTHING [RETURNING ...]``: only rows not stored yet."""
    statement = upsert(dialect, table).on_conflict_do_nothing(index_elements=key)
    return statement.returning(*(table.c[name] for name in returning)) if returning else statement


class StaleCache(Exception):
    """A cached gateway row no longer matches the database: another writer changed it."""


# Saving runs on SQLAlchemy Core alone, with no fast path beside it. Measured with
# benchmarks/bench_poll.py (CPU per gateway-minute at the default cadences, six sample
# sites, two full runs) against the hand-built SQL on the driver's cursor it replaced:
# SQLite 0.85-1.98 -> 1.28-2.48 ms, PostgreSQL 1.58-2.67 -> 1.97-3.72 ms, so Core costs
# 16-47 % of a gateway-minute. The smallest fast paths tried (Core-compiled statements
# sent by exec_driver_sql, or by the cursor's executemany, for the executemany inserts)
# won back a quarter to a half of that on SQLite and nothing on PostgreSQL, where the old
# speed came from hand-packed binary arrays; only the whole old path wins it all back.
class Txn:
    """One write transaction: its connection, the dialect's INSERT, and the caches saving reads.

    Rows are read from the Store's caches (copied on first use) or from the database;
    what the transaction learns joins the Store only once it commits.
    """

    __slots__ = (
        "cached",
        "conn",
        "dialect",
        "gateways",
        "inverters",
        "meters",
        "store",
        "verified",
    )

    def __init__(self, conn: Connection, store: Store) -> None:
        self.conn = conn
        self.store = store
        self.dialect: str = conn.dialect.name
        self.gateways: dict[str, GatewayState] = {}  # serial -> state
        self.verified: set[str] = set()  # serials read from the database in this transaction
        self.cached = False  # whether any row came from the Store's caches
        self.meters: dict[int, dict[int, MeterRow]] = {}  # gateway id -> eid -> row
        self.inverters: dict[int, dict[str, int]] = {}  # gateway id -> serial -> id

    def written(self, statement: Executable, rows: Sequence[Mapping[str, Any]]) -> int:
        """Run an INSERT with the rows (one executemany); return the rows it wrote.

        The drivers' rowcount (kept by ``preserve_rowcount``) sums what each row changed, so
        an ``ON CONFLICT`` row that changed nothing is not counted. Cheaper than RETURNING:
        SQLite steps one prepared statement per row in C, and psycopg caches the short
        statement, where a multi-row VALUES of a few hundred parameters is parsed anew.
        """
        if not rows:
            return 0
        result = self.conn.execute(statement, rows, execution_options={"preserve_rowcount": True})
        return int(result.rowcount)

    def commit_caches(self) -> None:
        self.store.gateways.update(self.gateways)
        self.store.meters.update(self.meters)
        self.store.inverters.update(self.inverters)


class Store:
    """An open envoylog database. Create it with :func:`open_store`; close it when done.

    It caches the gateway, meter and inverter rows it has written, so a poll needs no
    SELECT. One process should write one gateway at a time; if another writer changed a
    gateway's row anyway, saving notices (:class:`StaleCache`) and starts again from fresh rows.
    """

    def __init__(self, engine: Engine, options: StoreOptions) -> None:
        self.engine = engine
        self.options = options
        self.name = describe(engine.url)
        self.gateways: dict[str, GatewayState] = {}
        self.meters: dict[int, dict[int, MeterRow]] = {}
        self.inverters: dict[int, dict[str, int]] = {}
        self._writer: Connection | None = None
        self._writer_lock = threading.Lock()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def raw_body_lifetime(self) -> timedelta:
        return timedelta(days=self.options.raw_body_days)

    def forget(self) -> None:
        """Drop every cached row (they are read again when next needed)."""
        self.gateways.clear()
        self.meters.clear()
        self.inverters.clear()

    @contextmanager
    def transaction(self, doing: str, *, snapshot: bool = False) -> Iterator[Txn]:
        """Run the block in one transaction (BEGIN IMMEDIATE on SQLite); roll back on any error.

        ``snapshot``: every statement sees the database as the first one did, and rows
        written by others since are neither read nor changed (REPEATABLE READ on
        PostgreSQL; SQLite's write lock, taken at BEGIN, keeps other writers out anyway).
        Changing a row another transaction changed since fails (``ChangedMeanwhile``).

        A rolled-back transaction may have left the caches behind the database (or ahead
        of it), so they are dropped.
        """
        try:
            with translated(self.engine.url, doing), self._connection() as conn:
                if snapshot and self.dialect == "postgresql":
                    conn.execution_options(isolation_level="REPEATABLE READ")  # this checkout
                with conn.begin():
                    txn = Txn(conn, self)
                    yield txn
        except BaseException:
            self.forget()
            raise
        txn.commit_caches()

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """On SQLite, the Store's own write connection when free; else one from the pool.

        Keeping one saves the pool's check-out and check-in per poll. PostgreSQL takes a
        pooled connection each time, so the pool's pre-ping still replaces a connection
        the server dropped while we were idle.
        """
        if self.dialect != "sqlite" or not self._writer_lock.acquire(blocking=False):
            with self.engine.connect() as conn:
                yield conn
            return
        try:
            if self._writer is None:
                self._writer = self.engine.connect()
            try:
                yield self._writer
            except BaseException:
                self._writer.close()  # after any error, start again from a checked connection
                self._writer = None
                raise
        finally:
            self._writer_lock.release()

    @contextmanager
    def reading(self, doing: str) -> Iterator[Connection]:
        """A connection for queries, with errors translated."""
        with translated(self.engine.url, doing), self.engine.connect() as conn:
            yield conn

    def close(self) -> None:
        self.forget()
        with self._writer_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Store {self.name}>"


def open_store(url: str, options: StoreOptions | None = None, *, migrate: bool = True) -> Store:
    """Open the database at ``url``, bringing a new or older schema to the current one."""
    options = options or StoreOptions()
    engine = make_engine(url, options.engine)
    try:
        if migrate:
            upgrade_engine(engine)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine, options)
