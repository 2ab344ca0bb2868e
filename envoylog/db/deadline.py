"""A deadline on a database call, kept from our side: past it, the engine's connections are cut.

A frozen PostgreSQL (``kill -STOP``, a hung VM, a stalled disk under it) leaves every
connection open: its kernel still acknowledges, so TCP keepalives and tcp_user_timeout
never fire, and the server cannot run its own statement_timeout. A call waiting on it
waits forever. So while a bounded call runs, one watchdog thread holds its deadline;
past it, every connection of the engine is cut under the waiting thread (a socket
shutdown for PostgreSQL: psycopg's wait wakes up and raises; ``interrupt()`` for
SQLite), the engine opens no new connection until the call has returned (SQLAlchemy
would otherwise reconnect behind a failed pre-ping and wait the connect timeout again),
and the call raises DatabaseUnavailable. Measured on a SIGSTOPped PostgreSQL 15: a
pre-ping blocked for 2 s returned within 0.01 s of the cut.

One bounded call at a time per engine: the service's store worker is the only thread
writing, and each command opens its own engine.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import math
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Engine, event

from envoylog.errors import DatabaseUnavailable

log = logging.getLogger(__name__)


class _Connections:
    """The open DBAPI connections of one engine, and whether new ones are refused."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.open: dict[int, Any] = {}
        self.refusing: object | None = None  # the cut call, until it returns
        self.deadline_at: float | None = None  # of the bounded call running (time.monotonic)
        self.lock = threading.Lock()

    def cut(self, call: object) -> int:
        with self.lock:
            self.refusing = call
            connections = list(self.open.values())
        for connection in connections:
            with contextlib.suppress(Exception):  # already closed: nothing to cut
                _cut(self.backend, connection)
        return len(connections)

    def release(self, call: object) -> None:
        with self.lock:
            if self.refusing is call:
                self.refusing = None


def _cut(backend: str, connection: Any) -> None:
    if backend == "sqlite":
        connection.interrupt()  # documented as safe from another thread
        return
    # A duplicate of the descriptor: shutdown acts on the socket itself, so the waiting
    # thread sees the end of the stream, and its own descriptor stays valid until the
    # driver closes it.
    sock = socket.socket(fileno=os.dup(connection.fileno()))
    try:
        sock.shutdown(socket.SHUT_RDWR)
    finally:
        sock.close()


_ENGINES: weakref.WeakKeyDictionary[Engine, _Connections] = weakref.WeakKeyDictionary()


def watch(engine: Engine) -> None:
    """Track the engine's connections so a deadline can cut them (make_engine calls it)."""
    backend = engine.dialect.name
    connections = _Connections(backend)
    _ENGINES[engine] = connections
    dbapi_error = engine.dialect.loaded_dbapi.OperationalError

    @event.listens_for(engine, "connect")
    def _opened(dbapi_connection: Any, _record: Any) -> None:
        with connections.lock:
            connections.open[id(dbapi_connection)] = dbapi_connection

    @event.listens_for(engine, "close")
    @event.listens_for(engine, "close_detached")
    def _closed(dbapi_connection: Any, *_: Any) -> None:
        with connections.lock:
            connections.open.pop(id(dbapi_connection), None)

    @event.listens_for(engine, "do_connect")
    def _refuse(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
        if connections.refusing is not None:
            raise dbapi_error("not connecting: the call's deadline has passed")
        # A connection being made is no socket we can cut yet: it gets no longer than
        # the call has left (libpq counts whole seconds, at least 2).
        at = connections.deadline_at
        if at is not None and "connect_timeout" in cparams:
            left = max(2, math.ceil(at - time.monotonic()))
            cparams["connect_timeout"] = min(int(cparams["connect_timeout"]), left)


class _Call:
    __slots__ = ("done", "fired_after", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = False
        self.fired_after: float | None = None  # seconds into the call when it was cut


@contextlib.contextmanager
def deadline(engine: Engine, seconds: float | None, doing: str) -> Iterator[None]:
    """Run the block within ``seconds`` (None: unbounded), or cut it off and raise
    DatabaseUnavailable saying what it was ``doing``."""
    connections = _ENGINES.get(engine)
    if seconds is None or connections is None:
        yield
        return
    call = _Call()
    started = time.monotonic()

    def expire() -> None:
        with call.lock:
            if call.done:
                return
            call.fired_after = time.monotonic() - started
        cut = connections.cut(call)
        log.debug("database_call_cut doing=%s after_s=%g connections=%d", doing, seconds, cut)

    at = started + max(seconds, 0.0)
    connections.deadline_at = at
    token = _WATCHDOG.arm(at, expire)
    try:
        yield
    except BaseException as exc:
        if call.fired_after is not None:
            from envoylog.db.engine import describe

            raise DatabaseUnavailable(
                f"{describe(engine.url)} did not answer within {round(call.fired_after, 1):g} s "
                f"while {doing}; the connection was closed"
            ) from exc
        raise
    finally:
        _WATCHDOG.disarm(token)
        with call.lock:
            call.done = True
        connections.deadline_at = None
        connections.release(call)


def hurry(at: float) -> None:
    """Bring every running call's deadline forward to ``at`` (time.monotonic()), at the
    latest: a stop must not wait a whole db_timeout_s for a call already under way."""
    _WATCHDOG.hurry(at)


class _Watchdog:
    """One daemon thread firing the actions of deadlines that passed."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._actions: dict[int, Callable[[], None]] = {}
        self._tokens = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, at: float, action: Callable[[], None]) -> int:
        with self._cond:
            token = next(self._tokens)
            self._actions[token] = action
            heapq.heappush(self._heap, (at, token))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="envoylog-db-deadline", daemon=True
                )
                self._thread.start()
            self._cond.notify()
            return token

    def hurry(self, at: float) -> None:
        with self._cond:
            for token in self._actions:
                heapq.heappush(self._heap, (at, token))  # the later entry is then stale
            self._cond.notify()

    def disarm(self, token: int) -> None:
        with self._cond:
            self._actions.pop(token, None)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][1] not in self._actions:
                    heapq.heappop(self._heap)  # disarmed
                if not self._heap:
                    self._cond.wait()
                    continue
                at, token = self._heap[0]
                left = at - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                heapq.heappop(self._heap)
                action = self._actions.pop(token)
            try:
                action()
            except Exception:  # a deadline must never kill the watchdog
                log.exception("database_deadline_failed")


_WATCHDOG = _Watchdog()
