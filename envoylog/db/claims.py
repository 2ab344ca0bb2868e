"""Which process polls a gateway when several share one PostgreSQL: an advisory lock per serial.

Each `envoylog run` holds, on one connection of its own, a session-level advisory lock
for every gateway it polls. Another process configured with the same gateway is refused
it, says once who holds it, and asks again at each of its ticks: when the owner dies,
PostgreSQL ends its session and releases its locks, and the next ask takes it over.

A database that cannot be asked (down, frozen) never stops a poll: polled by two
processes, a reading is stored once (every reading table has a natural key), while a
poll never made is lost for good. SQLite needs none of this: one process per file.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, text

from envoylog.db.deadline import deadline
from envoylog.db.engine import EngineOptions, make_engine, parse_url, translated
from envoylog.errors import EnvoylogError

log = logging.getLogger(__name__)

KEY_PREFIX = "envoylog-gateway:"
# A claim's call on the database is cut off past this: taking or testing a lock never
# waits for anything, so a database slower than this is treated as unreachable.
CLAIM_TIMEOUT_S = 5.0
# The connection is proven alive at most this often (an owned gateway is otherwise
# answered from memory), and an unreachable database is asked again this often.
CHECK_EVERY_S = 30.0
_APPLICATION_NAME_MAX = 63  # PostgreSQL's NAMEDATALEN - 1

_TRY_LOCKS = "SELECT k, pg_try_advisory_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k"
# A lock on one bigint key is listed with its high half as classid, its low half as objid.
_HOLDER = """
SELECT a.application_name, l.pid FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.classid = CAST(:classid AS oid) AND l.objid = CAST(:objid AS oid)
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
LIMIT 1
"""


def lock_key(serial: str) -> int:
    """The advisory lock key of a gateway serial: a stable signed 64-bit hash."""
    digest = hashlib.blake2b((KEY_PREFIX + serial).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def application_name() -> str:
    """How this process names itself to PostgreSQL, so another can say who holds a gateway."""
    pid = f"/{os.getpid()}"
    host = socket.gethostname()[: _APPLICATION_NAME_MAX - len("envoylog/") - len(pid)]
    return f"envoylog/{host}{pid}"


class GatewayClaims:
    """The gateways this process polls, each claimed with an advisory lock on PostgreSQL."""

    def __init__(
        self,
        url: str,
        options: EngineOptions | None = None,
        *,
        name: str | None = None,
        timeout_s: float = CLAIM_TIMEOUT_S,
        check_every_s: float = CHECK_EVERY_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name or application_name()
        named = parse_url(url).update_query_dict({"application_name": self.name})
        self._engine = make_engine(named.render_as_string(hide_password=False), options)
        self._url = self._engine.url
        self._timeout_s = timeout_s
        self._check_every_s = check_every_s
        self._monotonic = monotonic
        self._io = threading.Lock()  # one call on the connection at a time
        self._state = threading.Lock()  # the dictionaries below
        self._conn: Connection | None = None
        self._owned: dict[str, str] = {}  # serial -> gateway name: locked on the connection
        self._assumed: dict[str, str] = {}  # polled while the database could not be asked
        self._elsewhere: dict[str, str] = {}  # serial -> the holder, as last refused
        self._holder_at: dict[str, float] = {}  # when the holder was last looked up
        self._checked_at = -math.inf  # when the connection last answered
        self._retry_at = -math.inf  # no new connection before this, after a failure
        self._down = False  # the database could not be asked, and that was said
        self._closed = False

    def claim(self, serial: str, *, gateway: str) -> str | None:
        """Claim a gateway for this process. None: poll it (this process holds its lock,
        or the database cannot say); else the holder's name (its application_name)."""
        owned = self._owns(serial)
        if owned is None:
            return None  # closed, or held on a connection proven alive lately
        # An owned gateway never waits for another's call: its lock is held.
        if not self._io.acquire(blocking=not owned, timeout=-1 if owned else 2 * self._timeout_s):
            return None
        try:
            return self._claim(serial, gateway)
        except Exception:  # a claim problem must never stop the logging
            log.error("gateway_claim_failed gateway=%s serial=%s", gateway, serial, exc_info=True)
            return None
        finally:
            self._io.release()

    def owned(self) -> set[str]:
        """The serials whose lock this process holds now."""
        with self._state:
            return set(self._owned)

    def close(self) -> None:
        """Release every lock (the connection closes) and claim nothing more."""
        with self._state:
            self._closed = True
        acquired = self._io.acquire(timeout=2 * self._timeout_s)
        try:
            self._disconnect()
            self._engine.dispose()
        finally:
            if acquired:
                self._io.release()

    def _owns(self, serial: str) -> bool | None:
        """Whether the lock is held, None when no claim is needed (closed, or held and
        the connection proven alive recently)."""
        with self._state:
            if self._closed:
                return None
            if serial not in self._owned:
                return False
            fresh = self._monotonic() - self._checked_at < self._check_every_s
            return None if fresh else True

    def _claim(self, serial: str, gateway: str) -> str | None:
        if not self._connected():
            with self._state:
                if serial not in self._owned:
                    self._assumed[serial] = gateway
            return None
        with self._state:
            if serial in self._owned:
                return None
        try:
            self._try({serial: gateway})
        except EnvoylogError as exc:
            self._lost(exc)
            self._retry_at = self._monotonic() + self._check_every_s
            with self._state:
                self._assumed[serial] = gateway
            return None
        with self._state:
            return None if serial in self._owned else self._elsewhere[serial]

    def _connected(self) -> bool:
        """Whether the connection (and so every lock on it) lives: proven at most every
        check_every_s; lost, it is made again and what was owned claimed again."""
        now = self._monotonic()
        if self._conn is not None:
            if now - self._checked_at < self._check_every_s:
                return True
            try:
                self._call("checking the gateway claims' connection", "SELECT 1")
                self._checked_at = now
                return True
            except EnvoylogError as exc:
                self._lost(exc)  # tried again at once: a restarted database is back already
        if now < self._retry_at:
            return False
        try:
            self._connect()
            with self._state:
                wanted = {**self._assumed, **self._owned}
            if wanted:
                self._try(wanted)
        except EnvoylogError as exc:
            self._lost(exc)
            self._retry_at = now + self._check_every_s
            return False
        self._checked_at = now
        if self._down:
            self._down = False
            log.warning("gateway_claims_available claimed=%d", len(self.owned()))
        return True

    def _connect(self) -> None:
        doing = "connecting for the gateway claims"
        with deadline(self._engine, self._timeout_s, doing), translated(self._url, doing):
            self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    def _call(self, doing: str, sql: str, **params: Any) -> Sequence[Any]:
        conn = self._conn
        if conn is None:
            raise RuntimeError("no connection")  # callers connect first
        with deadline(self._engine, self._timeout_s, doing), translated(self._url, doing):
            return list(conn.execute(text(sql), params))

    def _try(self, gateways: dict[str, str]) -> None:
        """Try to lock each serial; say, once, of each refused, which process polls it."""
        keys = {lock_key(serial): serial for serial in gateways}
        rows = self._call("claiming gateways", _TRY_LOCKS, keys=list(keys))
        granted = {keys[key] for key, ok in rows if ok}
        # Looking the holder up scans pg_locks (5 ms with 5,000 locks held): once a check.
        now = self._monotonic()
        refused = {}
        for serial in gateways:
            if serial in granted:
                continue
            known = self._elsewhere.get(serial)
            if known is None or now - self._holder_at.get(serial, -math.inf) >= self._check_every_s:
                known = self._holder(serial)
                self._holder_at[serial] = now
            refused[serial] = known
        with self._state:
            for serial in granted:
                self._owned[serial] = gateways[serial]
                self._assumed.pop(serial, None)
                if self._elsewhere.pop(serial, None) is not None:
                    log.warning("gateway_taken_over gateway=%s serial=%s", gateways[serial], serial)
            for serial, holder in refused.items():
                self._owned.pop(serial, None)
                self._assumed.pop(serial, None)
                if serial not in self._elsewhere:
                    log.warning(
                        "gateway_polled_elsewhere gateway=%s serial=%s by=%s",
                        gateways[serial],
                        serial,
                        holder,
                    )
                self._elsewhere[serial] = holder

    def _holder(self, serial: str) -> str:
        unsigned = lock_key(serial) & 0xFFFF_FFFF_FFFF_FFFF
        rows = self._call(
            f"asking who polls gateway {serial}",
            _HOLDER,
            classid=unsigned >> 32,
            objid=unsigned & 0xFFFF_FFFF,
        )
        if not rows:
            return "a process that has just let it go"
        name, pid = rows[0]
        return str(name) if name else f"PostgreSQL backend {pid}"

    def _lost(self, exc: EnvoylogError) -> None:
        """The connection failed: its locks are gone with it. Polling goes on regardless."""
        self._disconnect()
        with self._state:
            self._assumed.update(self._owned)
            self._owned.clear()
            if self._down:
                return
            self._down = True
        log.warning(
            "gateway_claims_unavailable error=%s: every gateway configured here is polled "
            "until the database answers again (a reading polled twice is stored once)",
            exc,
        )

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            with deadline(self._engine, self._timeout_s, "closing the gateway claims"):
                conn.invalidate()  # closes the session: PostgreSQL releases its locks
                conn.close()  # gives its place back to the engine's pool
        except Exception as exc:  # a connection already broken: nothing left to release
            log.debug("gateway_claims_close_failed error=%s", exc)


def claims_for(url: str, options: EngineOptions | None = None) -> GatewayClaims | None:
    """Gateway claims for a database several processes may share (PostgreSQL), else None."""
    if parse_url(url).get_backend_name() != "postgresql":
        return None
    return GatewayClaims(url, options)
