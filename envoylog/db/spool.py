"""The on-disk spool that holds polls while the database is down (envoylog.db.writer uses it).

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
import fcntl
import hashlib
import heapq
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from envoylog.db.engine import database_key, describe
from envoylog.errors import SpoolError
from envoylog.files import SHARED, remove_leftovers, write_atomic
from envoylog.records import PollResult, poll_from_json, poll_to_json
from envoylog.tally import Tally

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 100 * 1024 * 1024
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


def arrival_of(path: Path) -> int:
    """The arrival key a spooled poll's file name begins with (Spool.arrival)."""
    return int(path.name[:20])


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
        self._drops = Tally(_WARN_EVERY_S, clock)  # polls the full spool dropped
        self.kept_aside = 0  # polls set aside since this process started
        self._clock = clock
        self._tag = f"{os.getpid():x}{secrets.token_hex(2)}"
        self._last_key = 0
        self._key_lock = threading.Lock()  # every poll takes a key: never behind a write
        self._lock = threading.RLock()  # the service's jobs and its store worker both spool
        self._writing = 0  # bytes of the files being written, outside the lock
        self._written = threading.Condition(self._lock)  # told when no write is in flight
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            remove_leftovers(self.directory)  # writes cut short by a crash: never complete
            identity = _read_identity(self.directory)
            self.database_id = identity[1] if identity else None
            if identity is None:
                self._write_identity()
        except OSError as exc:
            raise SpoolError(f"cannot use spool folder {self.directory}: {exc}") from exc
        self.written = 0  # poll files this process wrote
        # What this process knows waits here: its own polls, and (as of the last rescan)
        # other processes'. Kept as files come and go, so nothing lists the folder per poll.
        self._sizes: dict[Path, int] = {}
        self._bytes = 0
        # The same files by name, oldest first, for the drops of a full spool: a heap, its
        # entries of files gone since dropped when they reach the top or outnumber the files.
        # A scan of the files per drop (min() over them) took a third of a 5,000-gateway
        # service's interpreter once its spool was full (docs/performance.md, section 3e).
        self._oldest: list[tuple[str, Path]] = []
        self.rescan()

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._sizes)

    def pending(self) -> list[Path]:
        """The spooled polls, oldest first (those other processes spooled here too)."""
        polls = (p for p in self.directory.iterdir() if _POLL_NAME.match(p.name))
        return sorted(polls, key=lambda p: p.name)  # one folder: by name, as str compares

    def waiting(self, before: int | None = None) -> list[Path]:
        """The polls known to wait here (see rescan), oldest first; ``before``: only those
        that arrived before that arrival key."""
        with self._lock:
            known = list(self._sizes)
        if before is not None:
            known = [p for p in known if arrival_of(p) < before]
        return sorted(known, key=lambda p: p.name)

    def set_aside_files(self) -> list[Path]:
        """The polls kept aside (``.bad``), oldest first."""
        return sorted(self.directory.glob("*.bad"))

    def rescan(self) -> None:
        """Count again what the folder holds (other processes may have spooled)."""
        with self._lock:
            self._sizes = {path: _size(path) for path in self.pending()}
            self._bytes = sum(self._sizes.values())
            self._reorder()

    def arrival(self) -> int:
        """A new arrival key: nanoseconds since the epoch, strictly increasing here."""
        with self._key_lock:
            self._last_key = max(self._last_key + 1, time.time_ns())
            return self._last_key

    def put(self, poll: PollResult, arrival: int | None = None) -> Path:
        """Add a poll in its arrival order, dropping the oldest polls if the cap requires it.

        Durable (file and folder fsynced) before it returns: only then is a poll "spooled".
        """
        data = poll_to_json(poll).encode()
        key = self.arrival() if arrival is None else arrival
        path = self.directory / f"{key:020d}-{self._tag}{SUFFIX}"
        with self._lock:
            if len(data) > self.max_bytes:
                self._drop_counted(1)
                raise PollTooBig(
                    f"a poll of {len(data)} bytes does not fit the spool cap of "
                    f"{self.max_bytes} bytes ({self.directory}); it was dropped"
                )
            while self._sizes and self._bytes + self._writing + len(data) > self.max_bytes:
                self._remove(self._first())
                self._drop_counted(1)
            self._writing += len(data)
        # Written and flushed outside the lock: many jobs spill at once when the store falls
        # behind, and one fsync at a time made each wait for all the others (and every
        # new poll for its arrival key). Known only once durable, so no reader sees it
        # before; a gateway's next poll comes after this one returns, so its order holds.
        durable = False
        try:
            write_atomic(path, data, mode=SHARED, durable=True, parents=False)
            durable = True
        except OSError as exc:
            raise SpoolError(f"cannot write spool file {path}: {exc}") from exc
        finally:
            with self._lock:
                self._writing -= len(data)
                if durable:
                    self._known(path, len(data))
                    self.written += 1
                if not self._writing:
                    self._written.notify_all()
        return path

    def load(self, path: Path) -> PollResult | None:
        """Read a spooled poll; a corrupt file is renamed ``.bad`` (with a warning) and skipped,
        and one that is gone (another process stored it) is forgotten: None for both."""
        try:
            return poll_from_json(path.read_bytes())
        except FileNotFoundError:
            with self._lock:
                self._known(path, None)
            return None
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
            self._known(path, None)
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
        self._known(path, None)

    def _known(self, path: Path, size: int | None) -> None:
        """Note a file that now waits here (``size``), or no longer does (None)."""
        was = self._sizes.pop(path, None)
        self._bytes -= was or 0
        if size is not None:
            if was is None:
                heapq.heappush(self._oldest, (path.name, path))
            self._sizes[path] = size
            self._bytes += size
        if len(self._oldest) > 2 * len(self._sizes) + 64:
            self._reorder()

    def _first(self) -> Path:
        """The oldest file known to wait here (there is one)."""
        while self._oldest[0][1] not in self._sizes:
            heapq.heappop(self._oldest)
        return self._oldest[0][1]

    def _reorder(self) -> None:
        self._oldest = [(path.name, path) for path in self._sizes]
        heapq.heapify(self._oldest)

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
        database gets a fresh folder. A spool that holds nothing (no poll, none set
        aside) has nothing to keep and is simply tied to the new database.
        """
        if self.database_id == database_id:
            return
        if self.database_id is not None and (self.pending() or self.set_aside_files()):
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
            # A write in flight would lose its poll with the folder moved under it (its
            # temporary file gone): the writes finish first, their polls set aside too.
            while self._writing:
                self._written.wait()
            held = len(self.pending())
            try:
                os.replace(self.directory, kept)
                self.directory.mkdir()
            except OSError as exc:
                raise SpoolError(f"cannot set aside spool folder {self.directory}: {exc}") from exc
            self._sizes, self._bytes, self._oldest = {}, 0, []
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

    @property
    def dropped(self) -> int:
        """Polls the full spool dropped, since start."""
        return self._drops.total

    def _drop_counted(self, count: int) -> None:
        self._drops.add(count)
        self.report_drops()

    def report_drops(self, *, now: bool = False) -> None:
        """Say how many polls the full spool dropped: at the first drop, then at most once
        a minute while more are dropped, and (``now``) at stop, so every drop is counted in
        some line: the dropped= figures add up to total_dropped."""
        count = self._drops.due(now=now)
        if count:
            log.warning(
                "spool_full oldest polls dropped dropped=%d total_dropped=%d dir=%s max_bytes=%d",
                count,
                self.dropped,
                self.directory,
                self.max_bytes,
            )
