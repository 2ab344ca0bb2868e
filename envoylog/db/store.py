"""``Store``: an open, up-to-date database plus the id caches that keep ``save_poll`` cheap."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from envoylog.db.engine import EngineOptions, describe, make_engine, translated
from envoylog.db.migrate import upgrade_engine
from envoylog.db.types import instant_converter


@dataclass(frozen=True, slots=True)
class StoreOptions:
    """What to keep and how to connect."""

    engine: EngineOptions = field(default_factory=EngineOptions)
    raw_body_days: float = 3.0  # keep raw bodies this long (failed parses: until reparsed)
    zlib_level: int = 6


@dataclass(slots=True)
class Txn:
    """One write transaction; ids it creates join the Store's caches only once it commits."""

    conn: Connection
    store: Store
    new_meter_ids: dict[tuple[int, int], int] = field(default_factory=dict)
    new_inverter_ids: dict[tuple[int, str], int] = field(default_factory=dict)
    dialect: str = field(init=False)
    instant: Callable[[datetime], Any] = field(init=False)  # stored form of an instant

    def __post_init__(self) -> None:
        self.dialect = self.conn.dialect.name
        self.instant = instant_converter(self.dialect)

    def meter_id(self, gateway_id: int, eid: int) -> int | None:
        key = (gateway_id, eid)
        return self.store.meter_ids.get(key) or self.new_meter_ids.get(key)

    def inverter_id(self, gateway_id: int, serial: str) -> int | None:
        key = (gateway_id, serial)
        return self.store.inverter_ids.get(key) or self.new_inverter_ids.get(key)


class Store:
    """An open envoylog database. Create it with :func:`open_store`; close it when done."""

    def __init__(self, engine: Engine, options: StoreOptions) -> None:
        self.engine = engine
        self.options = options
        self.name = describe(engine.url)
        self.meter_ids: dict[tuple[int, int], int] = {}
        self.inverter_ids: dict[tuple[int, str], int] = {}

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def raw_body_lifetime(self) -> timedelta:
        return timedelta(days=self.options.raw_body_days)

    @contextmanager
    def transaction(self, doing: str) -> Iterator[Txn]:
        """Run the block in one transaction (BEGIN IMMEDIATE on SQLite); roll back on any error."""
        with translated(self.engine.url, doing), self.engine.begin() as conn:
            txn = Txn(conn, self)
            yield txn
        self.meter_ids.update(txn.new_meter_ids)
        self.inverter_ids.update(txn.new_inverter_ids)

    @contextmanager
    def reading(self, doing: str) -> Iterator[Connection]:
        """A connection for queries, with errors translated."""
        with translated(self.engine.url, doing), self.engine.connect() as conn:
            yield conn

    def close(self) -> None:
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
