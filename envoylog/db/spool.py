"""The on-disk spool that holds polls while the database is down, and the Writer that uses it.

A spool belongs to one database: under the spool folder, each database has its own
folder (named after it: ``sqlite-envoylog-<hash>``), whose ``database.json`` records
the database's address without password (envoylog.db.engine.database_key) and, once
it has answered, the id the database holds in its ``envoylog_database`` table. Polls
spooled for a database are replayed into that database only: a database at the same
address with another id gets a fresh folder, and the polls spooled for the first one
stay in theirs, named after its id.

One file per poll, ``<arrival>-<process>.json`` (poll_to_json text): the arrival is
nanoseconds since the epoch, strictly increasing within a process, and the process tag
(pid and random hex) keeps two processes sharing the folder (the service and a poll run
by hand) from ever writing the same name. Each is written atomically and durably by
envoylog.files.write_atomic (temp file, fsync, rename, fsync of the folder), so a crash
leaves either the whole poll or nothing. Names sort in arrival order. One process at a
time replays a folder: it holds an flock on ``.replay.lock`` meanwhile.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from envoylog.db.deadline import deadline
from envoylog.db.engine import database_key, describe
from envoylog.db.migrate import HEAD, checked_revision, upgrade_engine
from envoylog.db.models import database_identity
from envoylog.db.save import SaveSummary, save_poll, save_polls
from envoylog.db.store import Store, StoreOptions, open_store
from envoylog.errors import DatabaseUnavailable, SchemaError, SpoolError, StorageError
from envoylog.files import SHARED, remove_leftovers, write_atomic
from envoylog.records import PollResult, poll_from_json, poll_to_json

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 100 * 1024 * 1024
# While the database is down or hung, one probe this often finds when it is back; the
# probe waits at most PROBE_TIMEOUT_S (a frozen server costs the store worker that much
# every PROBE_EVERY_S, and nothing else: polls go straight to the spool meanwhile).
PROBE_EVERY_S = 15.0
PROBE_TIMEOUT_S = 5.0
# An outage is said once when it begins, then summed up this often, and once when it ends.
OUTAGE_REPORT_EVERY_S = 300.0
SUFFIX = ".json"
REASON = ".reason"  # beside a set-aside poll (.bad): why
IDENTITY_FILE = "database.json"
LOCK_FILE = ".replay.lock"
_WARN_EVERY_S = 60.0
_POLL_NAME = re.compile(r"^\d{20}-[0-9a-f]+\.json$")
_LEGACY_NAME = re.compile(r"^(\d+)\.(json|bad)$")  # one folder for every database


class PollTooBig(SpoolError):
    """A poll larger than the whole spool cap: dropped (and counted as such)."""


def folder_name(database: str) -> str:
    """The folder of one database's spool: readable, and unique to its address."""
    backend = database.split(":", 1)[0]
    last = re.sub(r"\.sqlite3?$|\.db$", "", database.rstrip("/").rsplit("/", 1)[-1])
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", last)[:40] or "db"
    digest = hashlib.sha256(database.encode()).hexdigest()[:10]
    return f"{backend}-{readable}-{digest}"


@dataclass(frozen=True, slots=True)
class SpoolFolder:
    """What one database's spool folder holds, read without changing anything."""

    directory: Path
    database: str  # the address, without password
    database_id: str | None  # the id the database holds, once it has answered
    pending: int
    pending_bytes: int
    set_aside: int
    reasons: tuple[str, ...] = ()  # why, for each poll set aside (the newest first)


def spool_folders(root: Path) -> list[SpoolFolder]:
    """Every database's spool under ``root`` (status reads this; nothing is created)."""
    found = []
    for folder in sorted(root.glob("*/")) if root.is_dir() else []:
        identity = _read_identity(folder)
        if identity is None:
            continue
        polls = [p for p in folder.iterdir() if _POLL_NAME.match(p.name)]
        bad = sorted(folder.glob("*.bad"), reverse=True)
        found.append(
            SpoolFolder(
                directory=folder,
                database=identity[0],
                database_id=identity[1],
                pending=len(polls),
                pending_bytes=sum(_size(p) for p in polls),
                set_aside=len(bad),
                reasons=tuple(set_aside_reason(p) for p in bad),
            )
        )
    return found


def set_aside_reason(path: Path) -> str:
    """Why a poll was set aside, from the ``.reason`` file beside it."""
    try:
        return path.with_suffix(REASON).read_text().strip() or "no reason recorded"
    except OSError:
        return "no reason recorded"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _read_identity(folder: Path) -> tuple[str, str | None] | None:
    try:
        data = json.loads((folder / IDENTITY_FILE).read_text())
        database, database_id = data["database"], data.get("id")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(database, str) or not isinstance(database_id, str | None):
        return None
    return database, database_id


class Spool:
    """A bounded folder of polls waiting for one database; the oldest go first when full."""

    def __init__(
        self,
        root: Path,
        url: str,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.root = root
        self.database = database_key(url)
        self.name = describe(url)
        self.directory = root / folder_name(self.database)
        self.max_bytes = max_bytes
        self.dropped = 0
        self.kept_aside = 0  # polls set aside since this process started
        self._clock = clock
        self._dropped_unreported = 0
        self._last_warning: float | None = None
        self._tag = f"{os.getpid():x}{secrets.token_hex(2)}"
        self._last_key = 0
        self._lock = threading.RLock()  # the service's jobs and its store worker both spool
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            remove_leftovers(self.directory)  # writes cut short by a crash: never complete
            identity = _read_identity(self.directory)
            self.database_id = identity[1] if identity else None
            if identity is None:
                self._write_identity()
        except OSError as exc:
            raise SpoolError(f"cannot use spool folder {self.directory}: {exc}") from exc
        self._sizes = {path: _size(path) for path in self.pending()}

    @property
    def size_bytes(self) -> int:
        return sum(self._sizes.values())

    def __len__(self) -> int:
        return len(self._sizes)

    def pending(self) -> list[Path]:
        """The spooled polls, oldest first (those other processes spooled here too)."""
        return sorted(p for p in self.directory.iterdir() if _POLL_NAME.match(p.name))

    def set_aside_files(self) -> list[Path]:
        """The polls kept aside (``.bad``), oldest first."""
        return sorted(self.directory.glob("*.bad"))

    def rescan(self) -> None:
        """Count again what the folder holds (other processes may have spooled)."""
        with self._lock:
            self._sizes = {path: _size(path) for path in self.pending()}

    def arrival(self) -> int:
        """A new arrival key: nanoseconds since the epoch, strictly increasing here."""
        with self._lock:
            self._last_key = max(self._last_key + 1, time.time_ns())
            return self._last_key

    def put(self, poll: PollResult, arrival: int | None = None) -> Path:
        """Add a poll in its arrival order, dropping the oldest polls if the cap requires it.

        Durable (file and folder fsynced) before it returns: only then is a poll "spooled".
        """
        data = poll_to_json(poll).encode()
        key = self.arrival() if arrival is None else arrival
        with self._lock:
            if len(data) > self.max_bytes:
                self._drop_counted(1)
                raise PollTooBig(
                    f"a poll of {len(data)} bytes does not fit the spool cap of "
                    f"{self.max_bytes} bytes ({self.directory}); it was dropped"
                )
            while self._sizes and self.size_bytes + len(data) > self.max_bytes:
                oldest = min(self._sizes)
                self._remove(oldest)
                self._drop_counted(1)
            path = self.directory / f"{key:020d}-{self._tag}{SUFFIX}"
            try:
                write_atomic(path, data, mode=SHARED, durable=True, parents=False)
            except OSError as exc:
                raise SpoolError(f"cannot write spool file {path}: {exc}") from exc
            self._sizes[path] = len(data)
        return path

    def load(self, path: Path) -> PollResult | None:
        """Read a spooled poll; a corrupt file is renamed ``.bad`` (with a warning) and skipped."""
        try:
            return poll_from_json(path.read_bytes())
        except OSError as exc:
            raise SpoolError(f"cannot read spool file {path}: {exc}") from exc
        except (ValueError, KeyError, TypeError) as exc:
            self.set_aside(path, f"unreadable: {exc}")
            return None

    def set_aside(self, path: Path, reason: str) -> None:
        """Rename a file that cannot be replayed to ``.bad`` so it never blocks the rest;
        the reason is kept beside it (``.reason``) for `envoylog status`."""
        bad = path.with_suffix(".bad")
        log.error("poll_set_aside file=%s reason=%s", bad, reason)
        try:
            write_atomic(path.with_suffix(REASON), f"{reason}\n", mode=SHARED, parents=False)
        except OSError as exc:  # a full disk: the reason is in the log line above
            log.warning("set_aside_reason_unsaved file=%s error=%s", bad, exc)
        try:
            os.replace(path, bad)
        except OSError as exc:
            raise SpoolError(f"cannot set aside spool file {path}: {exc}") from exc
        with self._lock:
            self._sizes.pop(path, None)
            self.kept_aside += 1

    def reason(self, path: Path) -> str:
        """Why a poll was set aside (its ``.reason`` file)."""
        return set_aside_reason(path)

    def retry_set_aside(self) -> int:
        """Put the polls set aside back in line (in their arrival order), to be replayed."""
        files = self.set_aside_files()
        for bad in files:
            try:
                os.replace(bad, bad.with_suffix(SUFFIX))
                bad.with_suffix(REASON).unlink(missing_ok=True)
            except OSError as exc:
                raise SpoolError(f"cannot put {bad} back in the spool: {exc}") from exc
        self.rescan()
        return len(files)

    def remove(self, path: Path) -> None:
        with self._lock:
            self._remove(path)

    def _remove(self, path: Path) -> None:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise SpoolError(f"cannot delete spool file {path}: {exc}") from exc
        self._sizes.pop(path, None)

    @contextlib.contextmanager
    def replaying(self) -> Iterator[bool]:
        """Hold the folder's replay lock while the block runs; False: another process has it."""
        try:
            fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, SHARED)
        except OSError as exc:
            lock = self.directory / LOCK_FILE
            raise SpoolError(f"cannot open the spool's lock {lock}: {exc}") from exc
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)  # releases the lock

    def bind(self, database_id: str) -> None:
        """Tie the spool to the database that answered at its address.

        A spool made for a database with another id (a new database at the same address)
        is never replayed into this one: its folder keeps that id in its name, and this
        database gets a fresh folder.
        """
        if self.database_id == database_id:
            return
        if self.database_id is not None:
            self._retire(database_id)
        self.database_id = database_id
        try:
            self._write_identity()
        except OSError as exc:
            where = self.directory / IDENTITY_FILE
            raise SpoolError(f"cannot record the spool's database in {where}: {exc}") from exc

    def _retire(self, database_id: str) -> None:
        old = self.database_id
        assert old is not None
        kept = self.directory.with_name(f"{self.directory.name}-id-{old[:8]}")
        for number in range(2, 100):
            if not kept.exists():
                break
            kept = self.directory.with_name(f"{self.directory.name}-id-{old[:8]}-{number}")
        with self._lock:
            held = len(self.pending())
            try:
                os.replace(self.directory, kept)
                self.directory.mkdir()
            except OSError as exc:
                raise SpoolError(f"cannot set aside spool folder {self.directory}: {exc}") from exc
            self._sizes = {}
        log.error(
            "spool_for_another_database: the %d polls spooled for %s (id %s) are not "
            "replayed into the database now at that address (id %s); they stay in %s",
            held,
            self.name,
            old,
            database_id,
            kept,
        )

    def _write_identity(self) -> None:
        identity = {"database": self.database, "id": self.database_id}
        write_atomic(self.directory / IDENTITY_FILE, json.dumps(identity), mode=SHARED)

    def adopt_legacy(self) -> int:
        """Move the polls an earlier version spooled at the top of the spool folder (one
        folder for every database) into this database's folder, oldest first."""
        legacy = sorted(
            (int(m[1]), p)
            for p in self.root.iterdir()
            if p.is_file() and (m := _LEGACY_NAME.match(p.name))
        )
        for number, path in legacy:
            target = self.directory / f"{number:020d}-{self._tag}{path.suffix}"
            try:
                os.replace(path, target)
            except OSError as exc:
                raise SpoolError(f"cannot move spool file {path} to {target}: {exc}") from exc
        if legacy:
            self.rescan()
            log.warning(
                "spool_adopted polls=%d database=%r: polls spooled by an earlier version "
                "are replayed into this database",
                len(legacy),
                self.name,
            )
        return len(legacy)

    def _drop_counted(self, count: int) -> None:
        self.dropped += count
        self._dropped_unreported += count
        self.report_drops()

    def report_drops(self, *, now: bool = False) -> None:
        """Say how many polls the full spool dropped: at the first drop, then at most once
        a minute while more are dropped, and (``now``) at stop, so every drop is counted in
        some line: the dropped= figures add up to total_dropped."""
        with self._lock:
            if not self._dropped_unreported:
                return
            at = self._clock()
            last = self._last_warning
            if not now and last is not None and at - last < _WARN_EVERY_S:
                return
            log.warning(
                "spool_full oldest polls dropped dropped=%d total_dropped=%d dir=%s max_bytes=%d",
                self._dropped_unreported,
                self.dropped,
                self.directory,
                self.max_bytes,
            )
            self._last_warning = at
            self._dropped_unreported = 0


class WriteStatus(enum.StrEnum):
    STORED = "stored"  # the poll is in the database
    SPOOLED = "spooled"  # the database is unavailable; the poll waits in the spool
    SET_ASIDE = "set-aside"  # the database refused it (a bug): kept in the spool as .bad
    LOST = "lost"  # not stored, and the spool could not keep it (a full disk): counted


@dataclass(slots=True)
class WriteResult:
    status: WriteStatus
    summary: SaveSummary = field(default_factory=SaveSummary)  # this poll and replayed ones
    replayed: int = 0  # spooled polls stored before this one
    # Earliest start of the replayed polls per gateway serial: where late data begins.
    replayed_since: dict[str, datetime] = field(default_factory=dict)
    replayed_until: datetime | None = None  # latest end among them

    def note_replayed(self, polls: Sequence[PollResult]) -> None:
        self.replayed += len(polls)
        for poll in polls:
            until = self.replayed_until
            self.replayed_until = max(until or poll.finished_at, poll.finished_at)
            serial, started = poll.gateway.serial, poll.started_at
            earliest = self.replayed_since.get(serial)
            self.replayed_since[serial] = started if earliest is None else min(earliest, started)

    pending: int = 0  # polls still in the spool
    error: str | None = None  # why the poll was spooled or set aside


@dataclass(slots=True)
class Outage:
    """The database is down or hung: since when, why, and what waited in the spool since."""

    began: float  # the Writer's clock
    error: str
    spooled: int = 0
    last_probe: float = 0.0
    last_report: float = 0.0


class Writer:
    """Store polls, falling back to the spool; spooled polls are replayed first, in order.

    The database is opened lazily, so a Writer can start (and spool) while it is down.
    A schema problem (``SchemaError``) is not an outage: it is raised, never spooled.
    The Writer's spool is ``url``'s folder under ``spool_root``.

    Every database call is bounded (the options' ``timeout_s``, and ``until`` when a
    caller has a deadline of its own): past it the call is cut off (envoylog.db.deadline).
    A call that fails for want of the database starts an outage: from then on polls go
    straight to the spool, and one bounded probe every ``probe_every_s`` finds when the
    database is back; then the spool is replayed in order, before the next poll.
    """

    def __init__(
        self,
        url: str,
        spool_root: Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        options: StoreOptions | None = None,
        store: Store | None = None,
        replay_batch: int = 50,
        probe_every_s: float = PROBE_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.spool = Spool(spool_root, url, max_bytes=max_bytes)
        self.options = options or StoreOptions()
        self.replay_batch = replay_batch
        self.probe_every_s = probe_every_s
        self.outage: Outage | None = None
        self.lost = 0  # polls neither stored nor kept by the spool, since start
        self.last_loss: str | None = None
        self._count_lock = threading.Lock()
        self.progressed_at = time.monotonic()  # when the last database call ended
        self._clock = clock
        self._store = store
        self._bound = False

    @property
    def timeout_s(self) -> float | None:
        """The longest one database call may take."""
        return self.options.engine.timeout_s

    def write(
        self, poll: PollResult, *, arrival: int | None = None, until: float | None = None
    ) -> WriteResult:
        """Replay the spool, then store ``poll``; on an outage, spool it and say so.

        ``arrival`` orders the poll in the spool (Spool.arrival, taken when it was made);
        ``until`` (this Writer's clock) is when the caller needs an answer: past it, or
        while the database is down and no probe is due, the poll goes to the spool.
        """
        result = WriteResult(WriteStatus.STORED)
        try:
            if not self._reachable(until):
                self._spool(poll, arrival, result)
            else:
                store = self._open(until)
                self.spool.rescan()
                if len(self.spool):
                    self._behind_others(store, poll, arrival, result, until)
                else:
                    with self._bounded(store, until, _saving(poll)):
                        result.summary.add(save_poll(store, poll))
                    self._back(result)
        except SchemaError:
            self.keep(poll, arrival)  # kept for a version of envoylog that can store it
            raise
        except DatabaseUnavailable as exc:
            began = self._down(str(exc))
            self._spool(poll, arrival, result)
            if began:
                self._announce(result)
        except SpoolError as exc:  # the spool failed while replaying: this poll waits
            log.error("spool_failed dir=%s error=%s", self.spool.directory, exc)
            self._spool(poll, arrival, result)
        except StorageError as exc:
            self._set_aside(poll, arrival, result, str(exc))
        except Exception as exc:  # a bug: it costs this poll, never the store
            log.error("store_failed gateway=%s", poll.gateway.serial, exc_info=True)
            self._set_aside(poll, arrival, result, unexpected(exc))
        result.pending = len(self.spool)
        return result

    def _set_aside(
        self, poll: PollResult, arrival: int | None, result: WriteResult, reason: str
    ) -> None:
        path = self.keep(poll, arrival)
        if path is None:
            result.status, result.error = WriteStatus.LOST, f"{reason}; {self.last_loss}"
            return
        self.spool.set_aside(path, reason)
        result.status, result.error = WriteStatus.SET_ASIDE, reason

    def keep(self, poll: PollResult, arrival: int | None = None) -> Path | None:
        """Put a poll in the spool, durably; when the spool cannot keep it (a full disk),
        the poll is lost: one error line, counted, and None."""
        try:
            return self.spool.put(poll, arrival)
        except PollTooBig:
            return None  # counted and said as a drop by the spool
        except SpoolError as exc:
            with self._count_lock:  # the jobs spill from their threads: counted exactly
                self.lost += 1
                self.last_loss = str(exc)
                lost = self.lost
            log.error(
                "poll_lost gateway=%s started_at=%s lost=%d error=%s",
                poll.gateway.serial,
                poll.started_at.isoformat(),
                lost,
                exc,
            )
            return None

    def _behind_others(
        self,
        store: Store,
        poll: PollResult,
        arrival: int | None,
        result: WriteResult,
        until: float | None,
    ) -> None:
        """Polls wait in the spool: this one joins them in its arrival order (one made
        before others that a full queue sent there goes before them), then all are replayed."""
        path = self.keep(poll, arrival)
        if path is None:
            result.status, result.error = WriteStatus.LOST, self.last_loss
            return
        if not self._replay(store, result, until) or path.exists():
            self._spool(poll, None, result, path=path)
            return
        result.replayed -= 1  # itself
        if path.with_suffix(".bad").exists():
            result.status, result.error = WriteStatus.SET_ASIDE, self.spool.reason(path)
        self._back(result)

    def replay(self, *, until: float | None = None) -> WriteResult:
        """Store what the spool holds (at start-up, or while idle) without a new poll; during
        an outage, only when a probe is due and finds the database back."""
        result = WriteResult(WriteStatus.STORED)
        try:
            if not self._reachable(until):
                result.status = WriteStatus.SPOOLED
                result.error = self.outage.error if self.outage else "no time left"
            elif not self._replay(self._open(until), result, until):
                result.status = WriteStatus.SPOOLED
                result.error = f"another envoylog process is replaying {self.spool.directory}"
            else:
                self._back(result)
        except DatabaseUnavailable as exc:
            result.status, result.error = WriteStatus.SPOOLED, str(exc)
            if self._down(str(exc)):
                self._announce()
        result.pending = len(self.spool)
        return result

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def _reachable(self, until: float | None) -> bool:
        """Whether to ask the database now: not past ``until``, and during an outage only
        when a probe is due and the database answers it."""
        now = self._clock()
        if until is not None and now >= until:
            return False
        outage = self.outage
        if outage is None:
            return True
        if now - outage.last_probe < self.probe_every_s:
            return False
        outage.last_probe = now
        probe_s = min(PROBE_TIMEOUT_S, self.timeout_s or PROBE_TIMEOUT_S)
        doing = "checking whether it is back"
        try:
            store = self._open(until, probe_s)
            with self._bounded(store, until, doing, probe_s), store.reading(doing) as conn:
                conn.exec_driver_sql("SELECT 1")
        except DatabaseUnavailable as exc:
            outage.error = str(exc)
            outage.last_probe = self._clock()  # the next one a full interval after this
            self.close()  # a fresh engine for the next probe
            self._report_outage()
            return False
        return True

    def _down(self, error: str) -> bool:
        """An outage begins (True), or goes on."""
        self.close()  # its connections may be cut or dead: a fresh engine when it is back
        now = self._clock()
        if self.outage is not None:
            self.outage.error, self.outage.last_probe = error, now
            return False
        self.outage = Outage(began=now, error=error, last_probe=now, last_report=now)
        return True

    def _announce(self, first: WriteResult | None = None) -> None:
        """Say once that an outage began, after its first poll is in the spool (or lost)."""
        fate = ""
        if first is not None:
            kept = first.status is WriteStatus.SPOOLED
            fate = "; this poll is there" if kept else "; this poll was lost (see poll_lost)"
        log.warning(
            "database_unavailable database=%r error=%s: polls wait in the spool (%s) until "
            "it answers again, checked every %g s%s",
            self.spool.name,
            self.outage.error if self.outage else "",
            self.spool.directory,
            self.probe_every_s,
            fate,
        )

    def _back(self, result: WriteResult) -> None:
        outage, self.outage = self.outage, None
        if outage is None:
            return
        log.warning(
            "database_back database=%r after_s=%.0f polls_spooled=%d polls_replayed=%d",
            self.spool.name,
            self._clock() - outage.began,
            outage.spooled,
            result.replayed,
        )

    def _report_outage(self) -> None:
        outage = self.outage
        if outage is None:
            return
        now = self._clock()
        if now - outage.last_report < OUTAGE_REPORT_EVERY_S:
            return
        outage.last_report = now
        log.warning(
            "database_still_unavailable database=%r for_s=%.0f polls_spooled=%d pending=%d "
            "error=%s",
            self.spool.name,
            now - outage.began,
            outage.spooled,
            len(self.spool),
            outage.error,
        )

    def _spool(
        self,
        poll: PollResult,
        arrival: int | None,
        result: WriteResult,
        *,
        path: Path | None = None,
    ) -> None:
        """Put the poll in the spool (``path``: it is there already); only once it is
        durable there is it said to be."""
        if self.outage is not None:
            reason = self.outage.error
        elif len(self.spool):
            reason = f"another envoylog process is replaying the spool of {self.spool.name}"
        else:
            reason = "no time left to store it (the service is stopping)"
        path = path or self.keep(poll, arrival)
        if path is None:
            result.status, result.error = WriteStatus.LOST, f"{reason}; {self.last_loss}"
            return
        log.debug("poll_spooled gateway=%s file=%s", poll.gateway.serial, path.name)
        result.status, result.error = WriteStatus.SPOOLED, reason
        if self.outage is not None:
            self.outage.spooled += 1
            self._report_outage()

    @contextlib.contextmanager
    def _bounded(
        self, store: Store, until: float | None, doing: str, seconds: float | None = None
    ) -> Iterator[None]:
        """A deadline on one database call: the smallest of ``seconds``, the options'
        timeout, and what is left until ``until``."""
        bounds = [b for b in (seconds, self.timeout_s) if b is not None]
        if until is not None:
            bounds.append(max(until - self._clock(), 0.001))
        try:
            with deadline(store.engine, min(bounds, default=None), doing):
                yield
        finally:
            self.progressed_at = time.monotonic()  # a bounded call ended: alive

    def _open(self, until: float | None = None, seconds: float | None = None) -> Store:
        if self._store is None:
            store = open_store(self.url, self.options, migrate=False)
            try:
                with self._bounded(store, until, "checking the schema", seconds):
                    current = checked_revision(store.engine)
                if current != HEAD:
                    upgrade_engine(store.engine)  # minutes, maybe: not cut off
            except BaseException:
                store.close()
                raise
            self._store = store
        if not self._bound:
            with self._bounded(self._store, until, "reading the database's id", seconds):
                found = database_id(self._store)
            if found is not None:
                self.spool.bind(found)
            self._bound = True
        return self._store

    def _replay(self, store: Store, result: WriteResult, until: float | None = None) -> bool:
        """Store the spooled polls, oldest first; False when another process replays them
        or ``until`` came first."""
        self.spool.rescan()
        if not len(self.spool):
            return True
        with self.spool.replaying() as mine:
            if not mine:
                return False
            while files := self.spool.pending():  # until none is left, new ones included
                for start in range(0, len(files), self.replay_batch):
                    if until is not None and self._clock() >= until:
                        return False
                    chunk = files[start : start + self.replay_batch]
                    self._replay_batch(store, chunk, result, until)
        return True

    def _replay_batch(
        self, store: Store, chunk: list[Path], result: WriteResult, until: float | None
    ) -> None:
        loaded = [(path, self.spool.load(path)) for path in chunk]
        batch = [(path, poll) for path, poll in loaded if poll is not None]
        try:
            with self._bounded(store, until, f"replaying {len(batch)} spooled polls"):
                result.summary.add(save_polls(store, [poll for _, poll in batch]))
        except (DatabaseUnavailable, SchemaError):
            raise
        except Exception:
            # One poll in the batch is refused: find it by storing them one by one.
            self._replay_one_by_one(store, batch, result, until)
        else:
            for path, _ in batch:
                self.spool.remove(path)
            result.note_replayed([poll for _, poll in batch])

    def _replay_one_by_one(
        self,
        store: Store,
        batch: list[tuple[Path, PollResult]],
        result: WriteResult,
        until: float | None,
    ) -> None:
        for path, poll in batch:
            try:
                with self._bounded(store, until, _saving(poll)):
                    result.summary.add(save_poll(store, poll))
            except (DatabaseUnavailable, SchemaError):
                raise
            except StorageError as exc:
                self.spool.set_aside(path, str(exc))
                continue
            except Exception as exc:  # a bug: it costs this poll, never the replay
                log.error("store_failed gateway=%s", poll.gateway.serial, exc_info=True)
                self.spool.set_aside(path, unexpected(exc))
                continue
            self.spool.remove(path)
            result.note_replayed([poll])


def unexpected(exc: BaseException) -> str:
    """An error no part of envoylog expected, in one line for a reason file."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__} while saving (a bug, please report it): {first}"


def _saving(poll: PollResult) -> str:
    return f"saving the poll of gateway {poll.gateway.serial} at {poll.started_at.isoformat()}"


def database_id(store: Store) -> str | None:
    """The id the database holds in ``envoylog_database`` (None: its row was deleted)."""
    with store.reading("reading the database's id") as conn:
        found = conn.execute(database_identity.select().limit(1)).first()
    return None if found is None else str(found.id)
