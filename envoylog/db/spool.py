"""The on-disk spool that holds polls while the database is down, and the Writer that uses it.

One file per poll, ``<sequence>.json`` (poll_to_json text), written atomically and
durably by envoylog.files.write_atomic (temp file, fsync, rename, fsync of the
folder), so a crash leaves either the whole poll or nothing.
Names sort in arrival order. One spool folder belongs to one process.
"""

from __future__ import annotations

import enum
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from envoylog.db.save import SaveSummary, save_poll, save_polls
from envoylog.db.store import Store, StoreOptions, open_store
from envoylog.errors import DatabaseUnavailable, SchemaError, SpoolError, StorageError
from envoylog.files import SHARED, remove_leftovers, write_atomic
from envoylog.records import PollResult, poll_from_json, poll_to_json

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 100 * 1024 * 1024
SUFFIX = ".json"
_WARN_EVERY_S = 60.0


class Spool:
    """A bounded folder of polls waiting for the database; the oldest go first when full."""

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.dropped = 0
        self._clock = clock
        self._dropped_unreported = 0
        self._last_warning: float | None = None
        try:
            directory.mkdir(parents=True, exist_ok=True)
            remove_leftovers(directory)  # writes cut short by a crash: never complete polls
        except OSError as exc:
            raise SpoolError(f"cannot use spool folder {directory}: {exc}") from exc
        files = self.pending()
        self._next = int(files[-1].stem) + 1 if files else 1
        self._sizes = {path: path.stat().st_size for path in files}

    @property
    def size_bytes(self) -> int:
        return sum(self._sizes.values())

    def __len__(self) -> int:
        return len(self._sizes)

    def pending(self) -> list[Path]:
        """The spooled polls, oldest first."""
        return sorted(
            (p for p in self.directory.glob(f"*{SUFFIX}") if p.stem.isdigit()),
            key=lambda p: int(p.stem),
        )

    def put(self, poll: PollResult) -> Path:
        """Add a poll at the end, dropping the oldest polls if the cap requires it."""
        data = poll_to_json(poll).encode()
        if len(data) > self.max_bytes:
            self._drop_counted(1)
            raise SpoolError(
                f"a poll of {len(data)} bytes does not fit the spool cap of {self.max_bytes} "
                f"bytes ({self.directory}); it was dropped"
            )
        while self._sizes and self.size_bytes + len(data) > self.max_bytes:
            oldest = min(self._sizes, key=lambda p: int(p.stem))
            self.remove(oldest)
            self._drop_counted(1)
        path = self.directory / f"{self._next:012d}{SUFFIX}"
        self._next += 1
        try:
            # Durable (file and folder fsynced) before it returns: only then is a poll "spooled".
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
        """Rename a file that cannot be replayed to ``.bad`` so it never blocks the rest."""
        bad = path.with_suffix(".bad")
        log.warning("spool file set aside file=%s reason=%s", bad, reason)
        try:
            os.replace(path, bad)
        except OSError as exc:
            raise SpoolError(f"cannot set aside spool file {path}: {exc}") from exc
        self._sizes.pop(path, None)

    def remove(self, path: Path) -> None:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise SpoolError(f"cannot delete spool file {path}: {exc}") from exc
        self._sizes.pop(path, None)

    def _drop_counted(self, count: int) -> None:
        self.dropped += count
        self._dropped_unreported += count
        now = self._clock()
        if self._last_warning is None or now - self._last_warning >= _WARN_EVERY_S:
            log.warning(
                "spool full, oldest polls dropped dropped=%d total_dropped=%d dir=%s max_bytes=%d",
                self._dropped_unreported,
                self.dropped,
                self.directory,
                self.max_bytes,
            )
            self._last_warning = now
            self._dropped_unreported = 0


class WriteStatus(enum.StrEnum):
    STORED = "stored"  # the poll is in the database
    SPOOLED = "spooled"  # the database is unavailable; the poll waits in the spool
    SET_ASIDE = "set-aside"  # the database refused it (a bug): kept in the spool as .bad


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


class Writer:
    """Store polls, falling back to the spool; spooled polls are replayed first, in order.

    The database is opened lazily, so a Writer can start (and spool) while it is down.
    A schema problem (``SchemaError``) is not an outage: it is raised, never spooled.
    """

    def __init__(
        self,
        url: str,
        spool: Spool,
        *,
        options: StoreOptions | None = None,
        store: Store | None = None,
        replay_batch: int = 50,
    ) -> None:
        self.url = url
        self.spool = spool
        self.options = options
        self.replay_batch = replay_batch
        self._store = store

    def write(self, poll: PollResult) -> WriteResult:
        """Replay the spool, then store ``poll``; on an outage, spool it and say so."""
        result = WriteResult(WriteStatus.STORED)
        try:
            store = self._open()
            self._replay(store, result)
            result.summary.add(save_poll(store, poll))
        except SchemaError:
            self.spool.put(poll)  # kept for a version of envoylog that can store it
            raise
        except DatabaseUnavailable as exc:
            log.warning("database unavailable, poll spooled: %s", exc)
            self.spool.put(poll)
            result.status, result.error = WriteStatus.SPOOLED, str(exc)
        except StorageError as exc:
            path = self.spool.put(poll)
            self.spool.set_aside(path, str(exc))
            result.status, result.error = WriteStatus.SET_ASIDE, str(exc)
        result.pending = len(self.spool)
        return result

    def replay(self) -> WriteResult:
        """Store what the spool holds (e.g. at start-up) without a new poll."""
        result = WriteResult(WriteStatus.STORED)
        try:
            self._replay(self._open(), result)
        except DatabaseUnavailable as exc:
            result.status, result.error = WriteStatus.SPOOLED, str(exc)
        result.pending = len(self.spool)
        return result

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def _open(self) -> Store:
        if self._store is None:
            self._store = open_store(self.url, self.options)
        return self._store

    def _replay(self, store: Store, result: WriteResult) -> None:
        files = self.spool.pending()
        while files:
            chunk, files = files[: self.replay_batch], files[self.replay_batch :]
            loaded = [(path, self.spool.load(path)) for path in chunk]
            batch = [(path, poll) for path, poll in loaded if poll is not None]
            try:
                result.summary.add(save_polls(store, [poll for _, poll in batch]))
            except (DatabaseUnavailable, SchemaError):
                raise
            except StorageError:
                # One poll in the batch is refused: find it by storing them one by one.
                self._replay_one_by_one(store, batch, result)
            else:
                for path, _ in batch:
                    self.spool.remove(path)
                result.note_replayed([poll for _, poll in batch])

    def _replay_one_by_one(
        self, store: Store, batch: list[tuple[Path, PollResult]], result: WriteResult
    ) -> None:
        for path, poll in batch:
            try:
                result.summary.add(save_poll(store, poll))
            except (DatabaseUnavailable, SchemaError):
                raise
            except StorageError as exc:
                self.spool.set_aside(path, str(exc))
                continue
            self.spool.remove(path)
            result.note_replayed([poll])
