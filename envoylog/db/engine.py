"""Engines for SQLite and PostgreSQL, and the one place database errors are translated."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, make_url

from envoylog.db import deadline
from envoylog.errors import ChangedMeanwhile, DatabaseUnavailable, SchemaError, StorageError

log = logging.getLogger(__name__)

SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")

# The db_timeout_s setting's default: the longest one write of the service may take.
# A poll's transaction takes 5-50 ms; a replayed batch of 50 polls under a second.
DEFAULT_TIMEOUT_S = 30.0
# TCP keepalives on PostgreSQL connections: a server that vanished (powered off, cable
# pulled) is noticed after about 30 + 3 x 10 s of silence instead of the kernel's two
# hours; data sent and never acknowledged fails after TCP_USER_TIMEOUT_MS. Neither fires
# for a server that is frozen but whose kernel still answers: envoylog.db.deadline does.
KEEPALIVE_IDLE_S = 30
KEEPALIVE_INTERVAL_S = 10
KEEPALIVE_COUNT = 3
TCP_USER_TIMEOUT_MS = 60_000


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """How to open the database; the defaults suit a Raspberry Pi logging every minute."""

    sqlite_synchronous: str = (
        "NORMAL"  # NORMAL in WAL mode: a power cut loses at most the last commits
    )
    busy_timeout_s: float = 10.0  # how long a writer waits for another writer's lock
    connect_timeout_s: int = 10  # PostgreSQL connect timeout
    # The longest one statement may run and wait for a lock (PostgreSQL statement_timeout
    # and lock_timeout; SQLite's busy timeout becomes the smaller of it and the above).
    # The service's writes are also cut from our side past it (envoylog.db.deadline).
    # Migrations lift it (they may take minutes). None: unbounded.
    timeout_s: float | None = DEFAULT_TIMEOUT_S
    # Never write, nor create a missing SQLite file (`envoylog status` says it changes nothing).
    read_only: bool = False


def parse_url(url: str) -> URL:
    """Parse a database URL, with one clear sentence when it is not one."""
    try:
        return make_url(url)
    except sa_exc.ArgumentError as exc:
        raise StorageError(f"{url!r} is not a database URL (try sqlite:///path.sqlite)") from exc


def describe(url: str | URL) -> str:
    """Name a database for messages: the SQLite file, or user@host:port/db without a password."""
    parsed = parse_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite database {parsed.database or ':memory:'}"
    host = parsed.host or "localhost"
    port = parsed.port or 5432
    user = f"{parsed.username}@" if parsed.username else ""
    return f"PostgreSQL database {user}{host}:{port}/{parsed.database or ''}"


def database_key(url: str | URL) -> str:
    """The database a URL names, as one string without its password: the SQLite file's
    absolute path, or PostgreSQL's user, host, port and database name."""
    parsed = parse_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_path(parsed)
        return f"sqlite:///{path.resolve() if path else ':memory:'}"
    user = f"{parsed.username}@" if parsed.username else ""
    host = (parsed.host or "localhost").lower()
    return f"postgresql://{user}{host}:{parsed.port or 5432}/{parsed.database or ''}"


def sqlite_path(url: URL) -> Path | None:
    """The file behind a SQLite URL, or None for an in-memory database."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(str(url.database))


def check_sqlite_file(url: URL) -> None:
    """Refuse, without touching it, a file that exists but is not a SQLite database.

    The header is read through SQLite, never through a descriptor of our own: closing
    one drops every POSIX lock this process holds on the file, those of its open
    connections included, and another program's reader closing next would take itself
    for the last one and delete the WAL, with the commits still to come, under them.
    """
    path = sqlite_path(url)
    if path is None:
        return
    if not path.parent.is_dir():
        raise StorageError(f"cannot create {describe(url)}: folder {path.parent} does not exist")
    if not path.exists() or path.stat().st_size == 0:
        return
    try:
        with closing(sqlite3.connect(path)) as conn:
            conn.execute("PRAGMA schema_version").fetchone()
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_NOTADB:
            return  # unreadable, locked...: the engine's first connection says so
        raise SchemaError(
            f"{path} is not a SQLite database; envoylog left it untouched "
            "(point --db at a new file or at an envoylog database)"
        ) from None


def make_engine(url: str, options: EngineOptions | None = None) -> Engine:
    """Create an engine with envoylog's connection settings for the URL's dialect."""
    options = options or EngineOptions()
    parsed = parse_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        check_sqlite_file(parsed)
        engine = _sqlite_engine(parsed, options)
    elif backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        engine = _postgresql_engine(parsed, options)
    else:
        raise StorageError(
            f"unsupported database {describe(parsed)}: use sqlite:// or postgresql://"
        )
    deadline.watch(engine)  # so a call of the service can be cut off past its deadline
    return engine


# PostgreSQL compiles a statement whose estimated cost passes jit_above_cost: a search over
# a year of month partitions does, and compiling cost more than it saved. On a generated
# year the hourly rollup's inverter search took 146 ms with it and 21 without, a gateway's
# rollup 401 and 256 ms (docs/performance.md, section 8). envoylog's statements are short;
# users' own sessions keep their server's setting.
def _postgresql_engine(url: URL, options: EngineOptions) -> Engine:
    server_options = "-c timezone=UTC -c jit=off"
    if options.read_only:
        server_options += " -c default_transaction_read_only=on"
    if options.timeout_s is not None:
        ms = max(1, int(options.timeout_s * 1000))
        server_options += f" -c statement_timeout={ms} -c lock_timeout={ms}"
    return create_engine(
        url,
        pool_pre_ping=True,
        connect_args={
            "connect_timeout": options.connect_timeout_s,
            "options": server_options,
            "keepalives": 1,
            "keepalives_idle": KEEPALIVE_IDLE_S,
            "keepalives_interval": KEEPALIVE_INTERVAL_S,
            "keepalives_count": KEEPALIVE_COUNT,
            "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
        },
    )


def _sqlite_engine(url: URL, options: EngineOptions) -> Engine:
    synchronous = options.sqlite_synchronous.upper()
    if synchronous not in SYNCHRONOUS_MODES:
        raise StorageError(
            f"SQLite synchronous must be one of {', '.join(SYNCHRONOUS_MODES)}, not {synchronous!r}"
        )
    busy_s = options.busy_timeout_s
    if options.timeout_s is not None:
        busy_s = min(busy_s, options.timeout_s)
    if options.read_only:
        return _sqlite_reader(url, busy_s)
    engine = create_engine(url, connect_args={"timeout": busy_s})
    busy_ms = int(busy_s * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own BEGIN handling would open write transactions lazily (deferred),
        # so two writers could both read and then fail to upgrade their lock. We turn it
        # off and issue BEGIN IMMEDIATE ourselves (SQLAlchemy's documented recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _sqlite_reader(url: URL, busy_s: float) -> Engine:
    """An engine that only reads an existing SQLite file (mode=ro): it never creates one,
    nor changes its journal mode."""
    path = sqlite_path(url)
    if path is None or not path.is_file():
        raise StorageError(
            f"there is no database at {url.database}: nothing has been stored there yet "
            "(check --db, $ENVOYLOG_DB or the config file's database)"
        )
    location = f"file:{quote(path.as_posix())}?mode=ro"

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(location, uri=True, timeout=busy_s, check_same_thread=False)

    return create_engine(url, creator=connect)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def translated(url: URL, doing: str) -> Iterator[None]:
    """Translate SQLAlchemy errors: outages become DatabaseUnavailable, bugs StorageError."""
    try:
        yield
    except sa_exc.DBAPIError as exc:
        raise _translate(exc, url, doing) from exc
    except (sa_exc.TimeoutError, sa_exc.DisconnectionError) as exc:
        raise DatabaseUnavailable(f"{describe(url)} is unavailable while {doing}: {exc}") from exc
    except sa_exc.SQLAlchemyError as exc:
        raise StorageError(f"{describe(url)}: {doing} failed: {_first_line(exc)}") from exc


def _translate(exc: sa_exc.DBAPIError, url: URL, doing: str) -> StorageError:
    detail = _first_line(exc)
    if url.password:
        detail = detail.replace(str(url.password), "***")
    name = describe(url)
    if getattr(exc.orig, "sqlstate", None) == "40001":  # a snapshot met another's change
        return ChangedMeanwhile(f"{name}: rows changed by another program while {doing}")
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError) or (
        exc.connection_invalidated
    ):
        return DatabaseUnavailable(f"{name} is unavailable while {doing}: {detail}")
    if url.get_backend_name() == "sqlite" and "file is not a database" in detail:
        return SchemaError(f"{url.database} is not a SQLite database; envoylog left it untouched")
    return StorageError(f"{name}: {doing} failed (a bug, please report it): {detail}")
