"""``Store``: an open, up-to-date database plus the row caches that keep ``save_poll`` cheap."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from envoylog.db.engine import EngineOptions, describe, driver_error, make_engine, translated
from envoylog.db.migrate import upgrade_engine
from envoylog.db.types import instant_converter


@dataclass(frozen=True, slots=True)
class StoreOptions:
    """What to keep and how to connect."""

    engine: EngineOptions = field(default_factory=EngineOptions)
    raw_body_days: float = 3.0  # keep raw bodies this long (failed parses: until reparsed)
    zlib_level: int = 6


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


class StaleCache(Exception):
    """A cached gateway row no longer matches the database: another writer changed it."""


class Txn:
    """One write transaction: SQL straight to the driver's cursor, and the caches it reads.

    Rows are read from the Store's caches (copied on first use) or from the database;
    what the transaction learns joins the Store only once it commits.
    """

    __slots__ = (
        "cached",
        "conn",
        "cursor",
        "dialect",
        "driver_errors",
        "gateways",
        "instant",
        "inverters",
        "mark",
        "meters",
        "store",
        "verified",
    )

    def __init__(self, conn: Connection, store: Store) -> None:
        self.conn = conn
        self.store = store
        self.dialect: str = conn.dialect.name
        self.mark = "?" if self.dialect == "sqlite" else "%s"  # the driver's parameter marker
        self.instant: Callable[[datetime], Any] = instant_converter(self.dialect)
        dbapi_connection = conn.connection.dbapi_connection
        assert dbapi_connection is not None  # an open transaction has a connection
        self.cursor: Any = dbapi_connection.cursor()
        self.driver_errors: type[Exception] = conn.dialect.loaded_dbapi.Error
        self.gateways: dict[str, GatewayState] = {}  # serial -> state
        self.verified: set[str] = set()  # serials read from the database in this transaction
        self.cached = False  # whether any row came from the Store's caches
        self.meters: dict[int, dict[int, MeterRow]] = {}  # gateway id -> eid -> row
        self.inverters: dict[int, dict[str, int]] = {}  # gateway id -> serial -> id

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement on the cursor; return the cursor (driver errors as SQLAlchemy's)."""
        try:
            self.cursor.execute(sql, params)
        except self.driver_errors as exc:
            raise driver_error(self.conn, exc, sql, params, self.cursor) from exc
        return self.cursor

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a query (or ``... RETURNING``); return every row."""
        try:
            self.cursor.execute(sql, params)
            return [tuple(row) for row in self.cursor.fetchall()]
        except self.driver_errors as exc:
            raise driver_error(self.conn, exc, sql, params, self.cursor) from exc

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """Run one statement per row; return the rows it changed."""
        try:
            self.cursor.executemany(sql, rows)
        except self.driver_errors as exc:
            raise driver_error(self.conn, exc, sql, rows, self.cursor) from exc
        return int(self.cursor.rowcount)

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
    def transaction(self, doing: str) -> Iterator[Txn]:
        """Run the block in one transaction (BEGIN IMMEDIATE on SQLite); roll back on any error.

        A rolled-back transaction may have left the caches behind the database (or ahead
        of it), so they are dropped.
        """
        try:
            with translated(self.engine.url, doing), self.engine.begin() as conn:
                txn = Txn(conn, self)
                try:
                    yield txn
                finally:
                    txn.cursor.close()
        except BaseException:
            self.forget()
            raise
        txn.commit_caches()

    @contextmanager
    def reading(self, doing: str) -> Iterator[Connection]:
        """A connection for queries, with errors translated."""
        with translated(self.engine.url, doing), self.engine.connect() as conn:
            yield conn

    def close(self) -> None:
        self.forget()
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
