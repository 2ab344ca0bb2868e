"""The Writer: polls into the database, up to a batch in a transaction, falling back to the
spool (envoylog.db.spool) while the database is down, and replaying it, in arrival order,
when it is back."""

from __future__ import annotations

import contextlib
import enum
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from envoylog.db.deadline import deadline
from envoylog.db.migrate import HEAD, checked_revision, upgrade_engine
from envoylog.db.models import database_identity
from envoylog.db.save import SaveSummary, save_poll, save_polls
from envoylog.db.spool import DEFAULT_MAX_BYTES, PollTooBig, Spool, arrival_of
from envoylog.db.store import Store, StoreOptions, open_store
from envoylog.errors import DatabaseUnavailable, SchemaError, SpoolError, StorageError
from envoylog.records import PollResult

log = logging.getLogger(__name__)

# Polls stored in one transaction at most (the store worker's queue, a replay). Measured
# with a minute of 1,000 gateways of the fleet benchmark on PostgreSQL with fsync: CPU
# per poll 3.4-3.6 ms one by one, 2.1 ms by 10, 1.8-1.9 ms by 100, 2.0 ms by 200 (wall
# 8-10, 5.0, 3.6-4.9, 5.3 ms): past 100 a batch saves nothing more and holds the worker
# longer between the rollups that give way to polls.
BATCH_POLLS = 100
# Other processes may spool into the folder (a poll run by hand while the database was
# down): it is listed again this often, and whenever a replay starts.
RESCAN_EVERY_S = 30.0
NO_TIME_LEFT = "no time left to store it (the service is stopping)"
# While the database is down or hung, one probe this often finds when it is back; the
# probe waits at most PROBE_TIMEOUT_S (a frozen server costs the store worker that much
# every PROBE_EVERY_S, and nothing else: polls go straight to the spool meanwhile).
PROBE_EVERY_S = 15.0
PROBE_TIMEOUT_S = 5.0
# An outage is said once when it begins, then summed up this often, and once when it ends.
OUTAGE_REPORT_EVERY_S = 300.0


class WriteStatus(enum.StrEnum):
    STORED = "stored"  # the poll is in the database
    SPOOLED = "spooled"  # the database is unavailable; the poll waits in the spool
    SET_ASIDE = "set-aside"  # the database refused it (a bug): kept in the spool as .bad
    LOST = "lost"  # not stored, and the spool could not keep it (a full disk): counted


@dataclass(slots=True)
class WriteResult:
    status: WriteStatus  # of the poll written (the first, of several), or of a replay
    summary: SaveSummary = field(default_factory=SaveSummary)  # these polls and replayed ones
    replayed: int = 0  # spooled polls stored with these
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
    # Of each poll given to write_many, in that order: what became of it, and why.
    fates: list[tuple[WriteStatus, str | None]] = field(default_factory=list)


@dataclass(slots=True)
class Outage:
    """The database is down or hung: since when, why, and what waited in the spool since."""

    began: float  # the Writer's clock
    error: str
    spooled: int = 0
    last_probe: float = 0.0
    last_report: float = 0.0


@dataclass(slots=True)
class _Entry:
    """A poll on its way to the database: handed over (no ``path``), or waiting in the spool
    (``poll`` read from ``path`` when its turn comes)."""

    arrival: int
    poll: PollResult | None = None
    path: Path | None = None
    fate: WriteStatus | None = None  # of a handed-over poll, once decided
    error: str | None = None


class Writer:
    """Store polls, falling back to the spool; spooled polls are replayed first, in order.

    The database is opened lazily, so a Writer can start (and spool) while it is down.
    A schema problem (``SchemaError``) is not an outage: it is raised, never spooled.
    The Writer's spool is ``url``'s folder under ``spool_root``.

    Polls are stored up to ``batch`` in one transaction. Every database call is bounded
    (``call_timeout_s``, and ``until`` when a caller has a deadline of its own): past it
    the call is cut off (envoylog.db.deadline). A call that fails for want of the
    database starts an outage: from then on polls go straight to the spool, and one
    bounded probe every ``probe_every_s`` finds when the database is back; then the
    spool is replayed in order, before the polls that arrived after it.
    """

    def __init__(
        self,
        url: str,
        spool_root: Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        options: StoreOptions | None = None,
        store: Store | None = None,
        batch: int = BATCH_POLLS,
        probe_every_s: float = PROBE_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.spool = Spool(spool_root, url, max_bytes=max_bytes)
        self.options = options or StoreOptions()
        self.batch = max(1, batch)
        self.probe_every_s = probe_every_s
        self.outage: Outage | None = None
        self.lost = 0  # polls neither stored nor kept by the spool, since start
        self.last_loss: str | None = None
        self._count_lock = threading.Lock()
        self.progressed_at = time.monotonic()  # when the last database call ended
        self._clock = clock
        self._store = store
        self._bound = False
        self._scanned_at = clock()

    @property
    def timeout_s(self) -> float | None:
        """The longest one database call about one poll may take."""
        return self.options.engine.timeout_s

    def call_timeout_s(self, polls: int = 1) -> float | None:
        """The longest a call storing ``polls`` polls in one transaction may take.

        One poll gets timeout_s (db_timeout_s, 30 s by default: thousands of times the
        8-10 ms a poll of the fleet benchmark takes on PostgreSQL); each poll more adds a
        share of it, up to twice timeout_s for a full batch (100 polls took 0.4-1.1 s on
        the loaded 2-core machine): a frozen server is still found within a minute, and
        a slow but healthy one still has fifty times what a batch needs.
        """
        if self.timeout_s is None:
            return None
        return self.timeout_s * (1 + (min(polls, self.batch) - 1) / self.batch)

    @property
    def longest_call_s(self) -> float | None:
        """The longest any one database call of this Writer may take (a full batch)."""
        return self.call_timeout_s(self.batch)

    def write(
        self, poll: PollResult, *, arrival: int | None = None, until: float | None = None
    ) -> WriteResult:
        """Store ``poll`` after the spooled polls that arrived before it; on an outage,
        spool it and say so (see write_many)."""
        result = self.write_many([(arrival, poll)], until=until)
        result.status, result.error = result.fates[0]
        return result

    def write_many(
        self,
        polls: Sequence[tuple[int | None, PollResult]],
        *,
        until: float | None = None,
    ) -> WriteResult:
        """Store ``polls`` (arrival, poll), up to ``batch`` in a transaction, each after the
        spooled polls that arrived before it; on an outage, spool them and say so.

        An arrival (Spool.arrival, taken when the poll was made; None: now) orders the
        poll among the spooled ones. ``until`` (this Writer's clock) is when the caller
        needs an answer: past it, or while the database is down and no probe is due, the
        polls go to the spool. ``fates`` says what became of each.
        """
        entries = [
            _Entry(self.spool.arrival() if arrival is None else arrival, poll)
            for arrival, poll in polls
        ]
        result = WriteResult(WriteStatus.STORED)
        reason = NO_TIME_LEFT
        try:
            if not self._reachable(until):
                reason = self.outage.error if self.outage is not None else NO_TIME_LEFT
            elif self._in_order(self._open(until), entries, result, until):
                self._back(result)
            elif until is None or self._clock() < until:
                reason = f"another envoylog process is replaying the spool of {self.spool.name}"
        except SchemaError:
            for entry, poll in _undecided(entries):
                self.keep(poll, entry.arrival)  # kept for a version that can store it
            raise
        except DatabaseUnavailable as exc:
            reason = str(exc)
            if self._down(reason):
                self._spool(entries, reason)
                self._announce(entries)
        except SpoolError as exc:  # the spool failed while replaying: these polls wait
            log.error("spool_failed dir=%s error=%s", self.spool.directory, exc)
            reason = str(exc)
        except Exception:  # a bug outside any one poll: these polls wait in the spool
            log.error("store_failed polls=%d", len(entries), exc_info=True)
            reason = "an unexpected error while storing (a bug, please report it)"
        self._spool(entries, reason)
        result.fates = [(e.fate or WriteStatus.STORED, e.error) for e in entries]
        result.pending = len(self.spool)
        return result

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

    def replay(self, *, until: float | None = None) -> WriteResult:
        """Store what the spool holds (at start-up, or while idle) without a new poll; during
        an outage, only when a probe is due and finds the database back."""
        result = WriteResult(WriteStatus.STORED)
        try:
            if not self._reachable(until):
                result.status = WriteStatus.SPOOLED
                result.error = self.outage.error if self.outage else "no time left"
            else:
                store = self._open(until)
                self._rescan()
                if not self._in_order(store, [], result, until):
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

    def behind(self) -> bool:
        """Whether polls wait for the database (an outage, or the spool holds some)."""
        self._rescan_when_due()
        return self.outage is not None or bool(len(self.spool))

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def _rescan_when_due(self) -> None:
        """Look for polls other processes spooled here, at most every RESCAN_EVERY_S: this
        process keeps count of its own, so no write lists the folder."""
        if self._clock() - self._scanned_at >= RESCAN_EVERY_S:
            self._rescan()

    def _rescan(self) -> None:
        self.spool.rescan()
        self._scanned_at = self._clock()

    def _in_order(
        self, store: Store, entries: list[_Entry], result: WriteResult, until: float | None
    ) -> bool:
        """Store ``entries`` (handed over, in arrival order) with the spooled polls that
        arrived before the newest of them, all in arrival order; with no entries, all the
        spool holds. False when another process replays the spool, or ``until`` came first.

        Why this keeps each gateway's polls in order without moving handed-over polls
        through the spool: a gateway makes one poll at a time, so its polls arrive in
        order; a spooled one (an outage, or a full queue) keeps its arrival in its name,
        and is stored with the first handed-over poll that arrived after it, before that
        poll. A spooled poll newer than every entry waits for a later, newer write (or
        the replay when the queue is empty). The spool's own order is its names'.
        """
        self._rescan_when_due()
        if entries and not len(self.spool):
            return self._store_run(store, entries, result, until)
        with self.spool.replaying() as mine:
            if not mine:
                return False
            newest = max((e.arrival for e in entries), default=None)
            while True:
                spooled = [
                    _Entry(arrival_of(path), path=path)
                    for path in self.spool.waiting(before=newest)
                ]
                if not spooled and not entries:
                    return True
                merged = sorted([*entries, *spooled], key=lambda e: e.arrival)
                if not self._store_run(store, merged, result, until):
                    return False
                if entries:  # spooled polls newer than these wait for their turn
                    return True

    def _store_run(
        self, store: Store, entries: list[_Entry], result: WriteResult, until: float | None
    ) -> bool:
        """Store ``entries`` in order, ``batch`` at a time; False when ``until`` came first."""
        for start in range(0, len(entries), self.batch):
            if until is not None and self._clock() >= until:
                return False
            self._store_batch(store, entries[start : start + self.batch], result, until)
        return True

    def _store_batch(
        self, store: Store, batch: list[_Entry], result: WriteResult, until: float | None
    ) -> None:
        """Store the polls in one transaction; when one is refused, each alone, setting
        aside the ones refused. An outage (or a schema problem) is raised."""
        for entry in batch:
            if entry.poll is None and entry.path is not None:
                entry.poll = self.spool.load(entry.path)  # a corrupt file is set aside
        batch = [e for e in batch if e.poll is not None]
        polls = [e.poll for e in batch if e.poll is not None]
        if len(batch) > 1:
            try:
                with self._bounded(store, until, f"saving {len(batch)} polls", polls=len(batch)):
                    result.summary.add(save_polls(store, polls))
            except (DatabaseUnavailable, SchemaError):
                raise
            except Exception:  # one poll in the batch is refused: find it, one by one
                pass
            else:
                for entry in batch:
                    self._stored(entry, result)
                return
        for entry, poll in zip(batch, polls, strict=True):
            try:
                with self._bounded(store, until, _saving(poll)):
                    result.summary.add(save_poll(store, poll))
            except (DatabaseUnavailable, SchemaError):
                raise
            except StorageError as exc:
                self._refused(entry, str(exc))
                continue
            except Exception as exc:  # a bug: it costs this poll, never the store
                log.error("store_failed gateway=%s", poll.gateway.serial, exc_info=True)
                self._refused(entry, unexpected(exc))
                continue
            self._stored(entry, result)

    def _stored(self, entry: _Entry, result: WriteResult) -> None:
        if entry.path is None:
            entry.fate = WriteStatus.STORED
            return
        self.spool.remove(entry.path)
        assert entry.poll is not None
        result.note_replayed([entry.poll])

    def _refused(self, entry: _Entry, reason: str) -> None:
        """Set aside a poll the database refused (kept as ``.bad`` with its reason)."""
        path = entry.path
        if path is None:
            assert entry.poll is not None
            path = self.keep(entry.poll, entry.arrival)
            if path is None:
                entry.fate, entry.error = WriteStatus.LOST, f"{reason}; {self.last_loss}"
                return
            entry.fate, entry.error = WriteStatus.SET_ASIDE, reason
        self.spool.set_aside(path, reason)

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

    def _spool(self, entries: list[_Entry], reason: str) -> None:
        """Put the handed-over polls not decided yet in the spool; only once each is durable
        there is it said to be."""
        for entry, poll in _undecided(entries):
            path = self.keep(poll, entry.arrival)
            if path is None:
                entry.fate, entry.error = WriteStatus.LOST, f"{reason}; {self.last_loss}"
                continue
            log.debug("poll_spooled gateway=%s file=%s", poll.gateway.serial, path.name)
            entry.fate, entry.error = WriteStatus.SPOOLED, reason
            if self.outage is not None:
                self.outage.spooled += 1
        self._report_outage()

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

    def _announce(self, first: list[_Entry] | None = None) -> None:
        """Say once that an outage began, after its first polls are in the spool (or lost)."""
        fate = ""
        if first:
            lost = sum(e.fate is WriteStatus.LOST for e in first)
            if len(first) == 1:
                fate = "; this poll was lost (see poll_lost)" if lost else "; this poll is there"
            else:
                fate = (
                    f"; {lost} of these {len(first)} polls were lost (see poll_lost)"
                    if lost
                    else f"; these {len(first)} polls are there"
                )
        log.warning(
            "database_unavailable database=%r error=%s: polls wait in the spool (%s) until "
            "it answers again, checked every %g s%s",
            self.spool.name,
            self.outage.error if self.outage else "",
            self.spool.directory,
            self.probe_every_s,
            fate,
        )

    @contextlib.contextmanager
    def _bounded(
        self,
        store: Store,
        until: float | None,
        doing: str,
        seconds: float | None = None,
        *,
        polls: int = 1,
    ) -> Iterator[None]:
        """A deadline on one database call: the smallest of ``seconds``, the timeout of a
        call storing ``polls`` polls, and what is left until ``until``."""
        bounds = [b for b in (seconds, self.call_timeout_s(polls)) if b is not None]
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


def unexpected(exc: BaseException) -> str:
    """An error no part of envoylog expected, in one line for a reason file."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__} while saving (a bug, please report it): {first}"


def _undecided(entries: list[_Entry]) -> list[tuple[_Entry, PollResult]]:
    """The handed-over polls nothing has become of yet."""
    return [(e, e.poll) for e in entries if e.path is None and e.fate is None and e.poll]


def _saving(poll: PollResult) -> str:
    return f"saving the poll of gateway {poll.gateway.serial} at {poll.started_at.isoformat()}"


def database_id(store: Store) -> str | None:
    """The id the database holds in ``envoylog_database`` (None: its row was deleted)."""
    with store.reading("reading the database's id") as conn:
        found = conn.execute(database_identity.select().limit(1)).first()
    return None if found is None else str(found.id)
