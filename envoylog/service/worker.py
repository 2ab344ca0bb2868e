"""The store worker: the only thread that touches the database while the service runs.

Polls are handed over through a queue and written in arrival order (or spooled while
the database is down); between polls the worker keeps the energy tables current, a
gateway at a time, and prunes raw bodies past their keeping time.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from envoylog.config import table
from envoylog.db import Store, Writer, WriteResult, WriteStatus, open_store, prune_raw_bodies
from envoylog.db.deadline import deadline, hurry
from envoylog.db.energy import GatewayRow, last_poll_starts
from envoylog.db.partitions import ensure_months
from envoylog.db.writer import BATCH_POLLS
from envoylog.energy.rollup import rollup_recent, store_gateways
from envoylog.errors import EnvoylogError
from envoylog.files import write_atomic
from envoylog.history.compact import Outcome, Target, compact_day, pending
from envoylog.history.settings import STEP_DEFAULT
from envoylog.records import UNTRUSTED_FLAGS, InverterReading, PollResult

log = logging.getLogger(__name__)

# The queue of polls waiting for the worker holds at most this many (at least): one
# tick's worth of a fleet. Past it, polls go to the spool from the job that made them.
QUEUE_MIN = 64
# Gateways' first polls since the start wait while this many polls wait to be stored (a
# store worker keeping up holds at most a batch gathered): a first poll costs several
# later ones, and a fleet's start on a busy machine filled the queue and the spool and
# dropped polls (docs/performance.md, section 3e). A home's queue never holds this many.
HOLD_FIRST_POLLS_AT = 2 * BATCH_POLLS
# While idle, the worker wakes this often to probe a database that was down and replay.
IDLE_WAKE_S = 5.0
# A fleet's polls arrive a few milliseconds apart, so each found the queue empty and was
# stored in a transaction of its own (3.4-3.6 ms of CPU per poll, against 1.8-1.9 ms by
# 100: the comment on BATCH_POLLS). When polls arrive at least GATHER_RATE a second,
# the first waits up to GATHER_S for others to share its transaction (the rollups and
# compaction go on meanwhile: they gave way to any waiting poll, and starved); a home's
# gateway (a poll a minute) is stored at once.
GATHER_S = 1.0
GATHER_RATE = 5.0
# After each batch stored, a rollup round goes on at least this long (and at least one
# gateway) even while polls wait: they wait their gathering time anyway, and at 5,000
# gateways, where a stored batch is followed by another due at once, a round that only
# used the gaps had not finished after 5.5 minutes, at 49.6 % of a core (section 3d of
# docs/performance.md). Not while the store falls behind (falling_behind): then storing
# the polls comes first, and the round waits until the queue is down again.
ROLL_AT_LEAST_S = 0.25
# A rollup or prune call on the database is cut off past this (a frozen server): a
# day of a 36-inverter site takes 0.2-0.4 s, a fleet's gateway rarely more than seconds.
ROLLUP_TIMEOUT_S = 120.0
# Beyond the longest step, a worker silent this much longer is stuck (health check).
STUCK_GRACE_S = 60.0
# The rollup_interval_s setting's default (the reason for it stands beside it in the table).
ROLLUP_INTERVAL_S = float(table.ROLLUP_INTERVAL_S.default_value)
# Between them, only the days new readings reach are recomputed; every so often the last
# two local days are, whatever arrived (inverter reports that close a day come late).
FULL_ROLLUP_EVERY_S = 6 * 3600.0
# Raw bodies past their keeping time (raw_body_days) are deleted this often, and at start.
PRUNE_INTERVAL_S = 3600.0
# PostgreSQL's month partitions of the next months (envoylog.db.partitions) are made this
# often, and at start, before the first polls are written; after a failure, an hour later.
PARTITION_INTERVAL_S = 24 * 3600.0
PARTITION_RETRY_S = 3600.0
# Days past full_resolution_days are compacted this often, and at start, a gateway-day at
# a time while no poll waits and no rollup is under way.
COMPACT_INTERVAL_S = 24 * 3600.0
# Slack before the earliest reading a poll's readings reach back to (_reach).
READING_REACH = timedelta(hours=1)
# A stop given no end of its own (the service gives the rest of its 30 s) ends this long
# after it is asked: a fleet's last hour of rollups can take minutes. What is left is
# written to PENDING_FILE in the database's spool folder, rolled up after the next start.
STOP_ROLLUP_S = 30.0
PENDING_FILE = "rollups-pending.json"


class StoreWorker(threading.Thread):
    """Write handed-over polls in arrival order; the only thread that touches the database."""

    def __init__(
        self,
        writer: Writer,
        *,
        rollup_interval_s: float | None = ROLLUP_INTERVAL_S,
        timezones: Mapping[str, str] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        queue_size: int = QUEUE_MIN,
        own_gateways_only: bool = False,
        full_resolution_days: int | None = None,
        compaction_step: timedelta = STEP_DEFAULT,
        gather_s: float = GATHER_S,
    ) -> None:
        super().__init__(name="envoylog-store", daemon=True)
        self.writer = writer
        # (arrival, poll); None only wakes the worker up (at stop).
        self.queue: queue.Queue[tuple[int, PollResult] | None] = queue.Queue(max(queue_size, 1))
        self.written = 0
        self.spooled = 0
        self.spilled = 0  # polls the full queue sent straight to the spool
        self._arrivals: collections.deque[float] = collections.deque(maxlen=64)
        # The longest a poll waits for others (0: never, as for a caller that waits for
        # each poll to be stored before it makes the next).
        self.gather_s = gather_s
        self._spill_lock = threading.Lock()
        self.failed = 0
        self.errors = 0  # unexpected errors survived
        self.beat_at = time.monotonic()  # the loop's last turn
        self._stopping = threading.Event()
        self._stop_by: float | None = None  # time.monotonic() by which the stop must be done
        # Energy rollups: None turns them off; timezones maps gateway name/serial to a zone.
        self.rollup_interval_s = rollup_interval_s
        self.timezones = dict(timezones or {})
        self._monotonic = monotonic
        self.last_rollup = self.last_full_rollup = monotonic()
        self.rollups = 0  # rounds completed
        self.last_prune = monotonic() - PRUNE_INTERVAL_S
        self.pruned = 0  # raw bodies deleted
        self.partitions_due = monotonic()  # at start, before the first write
        # Compaction: None turns it off.
        self.full_resolution_days = full_resolution_days
        self.compaction_step = compaction_step
        self.last_compaction = monotonic() - COMPACT_INTERVAL_S
        self._compacting: list[Target] = []  # gateway-days still to compact, newest first
        self.compacted = 0  # gateway-days compacted
        # Other processes store other gateways in this database: prune only ours (else a
        # gateway no longer configured anywhere is pruned too).
        self.own_gateways_only = own_gateways_only
        self._serials: set[str] = set()  # of the gateways whose polls this worker stored
        self._dirty: dict[str, datetime] = {}  # serial -> earliest instant to recompute from
        self._round: _Round | None = None  # the rollup round under way, a gateway at a time
        self._previous: dict[str, datetime] = {}  # serial -> start of the last poll written
        self._reports: dict[str, dict[str, datetime]] = {}  # serial -> inverter -> last report
        self._latest: datetime | None = None
        self._store: Store | None = None

    def submit(self, poll: PollResult) -> None:
        """Hand a poll over; when the queue is full (the database is slow), it goes to the
        spool from here, in its arrival order."""
        arrival = self.writer.spool.arrival()
        self._arrivals.append(time.monotonic())
        try:
            self.queue.put_nowait((arrival, poll))
            return
        except queue.Full:
            pass
        with self._spill_lock:  # jobs hand polls over from many threads
            self.spilled += 1
            first = self.spilled == 1
        if first:
            log.warning(
                "store_queue_full polls=%d: polls go to the spool until the store catches up",
                self.queue.maxsize,
            )
        self.writer.keep(poll, arrival)

    def falling_behind(self) -> bool:
        """Whether polls queue up faster than they are stored (HOLD_FIRST_POLLS_AT)."""
        return self.queue.qsize() >= HOLD_FIRST_POLLS_AT

    def stop(self, by: float | None = None) -> None:
        """Store what is queued, roll up while time is left, and end, all before ``by``
        (time.monotonic(); default: STOP_ROLLUP_S from now)."""
        self._stop_by = time.monotonic() + STOP_ROLLUP_S if by is None else by
        self._stopping.set()
        hurry(self._stop_by)  # a database call under way ends by then too
        with contextlib.suppress(queue.Full):  # a full queue wakes it up anyway
            self.queue.put_nowait(None)

    def run(self) -> None:
        while True:
            self.beat_at = time.monotonic()
            self.writer.spool.report_drops()  # drops not yet said, once their minute is up
            stopping = self._stopping.is_set()
            try:
                items = [self.queue.get(timeout=0.05 if stopping else IDLE_WAKE_S)]
            except queue.Empty:
                if stopping:
                    self._survive(self._finish)
                    return
                self._survive(self._idle)
                continue
            try:
                self._gather(items, 0.0 if stopping else self._gather_left(items[0]))
                polls = [item for item in items if item is not None]
                if polls:
                    self._survive(self._handle, polls)
            finally:
                for _ in items:
                    self.queue.task_done()

    def _gather(self, items: list[tuple[int, PollResult] | None], wait_s: float) -> None:
        """Add what else is queued, or arrives within ``wait_s``, to ``items``: a batch at
        most, one transaction for them."""
        by = time.monotonic() + wait_s
        with contextlib.suppress(queue.Empty):
            while len(items) < self.writer.batch and items[-1] is not None:
                left = by - time.monotonic()
                items.append(self.queue.get(timeout=left) if left > 0 else self.queue.get_nowait())

    def _gather_left(self, head: tuple[int, PollResult] | None) -> float:
        """How much longer the oldest waiting poll (``head``) waits for others: it may have
        waited already while a rollup or a compaction went on."""
        if head is None:
            return 0.0
        waited = time.time() - head[0] / 1e9  # its arrival key: nanoseconds since the epoch
        return max(0.0, self._gather_s() - waited)

    def _polls_due(self) -> bool:
        """Whether polls wait to be stored now: a batch of them, or one that has waited its
        time (_gather_s) for others; the rollups and compaction give way to them."""
        with self.queue.mutex:  # a look at the head without taking it
            if not self.queue.queue:
                return False
            head, size = self.queue.queue[0], len(self.queue.queue)
        return size >= self.writer.batch or self._gather_left(head) <= 0.0

    def _gather_s(self) -> float:
        """How long a poll waits for others (gather_s, GATHER_S by default): time to fill a
        batch at the rate polls arrive, when they arrive at least GATHER_RATE a second; else 0."""
        arrivals = self._arrivals
        if len(arrivals) < 8 or self.gather_s <= 0:
            return 0.0
        span = arrivals[-1] - arrivals[0]
        rate = (len(arrivals) - 1) / span if span > 0 else float("inf")
        if rate < GATHER_RATE or time.monotonic() - arrivals[-1] > self.gather_s:
            return 0.0
        return min(self.gather_s, self.writer.batch / rate)

    def _survive(self, step: Callable[..., None], *args: Any) -> None:
        """Run one step of the loop; an error nobody expected is logged, and the worker
        goes on (the poll it concerned is kept aside by the Writer)."""
        try:
            step(*args)
        except Exception:
            self.errors += 1
            log.error("store_worker_error step=%s", step.__name__, exc_info=True)

    def _handle(self, polls: list[tuple[int, PollResult]]) -> None:
        if self._monotonic() >= self.partitions_due:
            self._partition()
        self._write(polls)
        if self._stopping.is_set():
            return
        if (
            self._round is None
            and self.rollup_interval_s is not None
            and self._monotonic() - self.last_rollup >= self.rollup_interval_s
        ):
            self._begin_round()
        self._roll(until_done=False)
        if self._monotonic() - self.last_prune >= PRUNE_INTERVAL_S:
            self._prune()
        if (
            self.full_resolution_days is not None
            and not self._compacting
            and self._monotonic() - self.last_compaction >= COMPACT_INTERVAL_S
        ):
            self._begin_compaction()
        self._compact()

    @property
    def stuck_after_s(self) -> float:
        """No sign of life for this long: a call outlived its deadline, the worker is stuck.
        The longest legitimate step is a rollup call (cut off at ROLLUP_TIMEOUT_S)."""
        longest = max(ROLLUP_TIMEOUT_S, self.writer.longest_call_s or 0.0)
        return longest + STUCK_GRACE_S

    def stuck(self, now: float | None = None) -> bool:
        """Whether the worker has given no sign of life for longer than any step may take."""
        now = time.monotonic() if now is None else now
        return now - max(self.beat_at, self.writer.progressed_at) > self.stuck_after_s

    def spool_queued(self) -> None:
        """Put every queued poll in the spool, in arrival order: at stop, from the stopping
        thread, when the worker is dead or stuck."""
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return
            if item is None:
                self.queue.task_done()
                continue
            arrival, poll = item
            try:
                if self.writer.keep(poll, arrival) is not None:
                    self.spooled += 1
            finally:
                self.queue.task_done()

    def _idle(self) -> None:
        """Nothing queued: probe a database that was down, replay what waits in the spool."""
        if not self.writer.behind():
            return
        result = self.writer.replay()
        self._mark_replayed(result)

    def _finish(self) -> None:
        """At stop, with the queue empty: store what a full queue spooled after the last
        polls queued, roll up while time is left, keep the rest."""
        by = self._stop_by
        if self.writer.behind() and not self.writer.outage:
            self._mark_replayed(self.writer.replay(until=by))
        self._roll(until_done=True, by=by)
        if self._round is None:  # else out of time: a new round would drop it
            self._begin_round()
            self._roll(until_done=True, by=by)
        self._save_pending()
        self.writer.spool.report_drops(now=True)
        if self._store is not None:
            self._store.close()

    def _write(self, polls: list[tuple[int, PollResult]]) -> None:
        until = None
        if self._stopping.is_set() and self._stop_by is not None:
            until = self._stop_by
        try:
            result = self.writer.write_many(polls, until=until)
        except EnvoylogError as exc:
            # A schema the code cannot write: the polls are already spooled by the Writer.
            self.failed += len(polls)
            log.error("store_failed polls=%d error=%s", len(polls), exc)
            return
        # Where an earlier run's polls of these gateways end, read once for the batch.
        firsts: dict[str, datetime] = {}
        for (_, poll), (status, _) in zip(polls, result.fates, strict=True):
            serial = poll.gateway.serial
            if status is WriteStatus.STORED and serial not in self._previous:
                firsts[serial] = min(firsts.get(serial, poll.started_at), poll.started_at)
        last = self._last_stored(firsts)
        for (_, poll), (status, _) in zip(polls, result.fates, strict=True):
            if status is WriteStatus.STORED:
                self.written += 1
            elif status is WriteStatus.SPOOLED:
                self.spooled += 1
            else:
                self.failed += 1
                continue
            # Spooled polls are stored by a later write's replay: roll up from them then.
            self._serials.add(poll.gateway.serial)
            self._mark_dirty(poll.gateway.serial, self._reach(poll, last))
            self._latest = max(self._latest or poll.finished_at, poll.finished_at)
        self._mark_replayed(result)

    def _reach(self, poll: PollResult, last: Mapping[str, datetime]) -> datetime:
        """The earliest instant whose energy the poll's readings can change: the reading
        before each of them, across any gap (an inverter's first report of the morning
        reaches back to its last of the evening). Unknown after a restart: a day before
        the last poll stored (``last``, by serial, from _last_stored), so a crash that
        lost the last hour's rollup is made good however long the service was down.

        Only a new report reaches anywhere: a repeated one is not stored again, and a
        retired inverter stays listed with a years-old report (QUIRKS 23), which must
        not make every rollup start years back. Reports older than a day when first seen
        are left to `envoylog rollup`."""
        serial, started = poll.gateway.serial, poll.started_at
        horizon = started - timedelta(days=1)
        if serial not in self._previous and serial in last:
            horizon = min(horizon, last[serial] - timedelta(days=1))
        previous = self._previous.get(serial, horizon)
        reach = min(previous, started)
        self._previous[serial] = max(previous, started)
        reports = self._reports.setdefault(serial, {})
        for result in poll.endpoints:
            for record in result.records:
                # A report flagged untrusted (a clock days ahead) reaches nowhere: it is
                # kept out of energy, and remembered it would hide the true reports after it.
                if not isinstance(record, InverterReading) or UNTRUSTED_FLAGS.intersection(
                    record.flags
                ):
                    continue
                at, known = record.reported_at, reports.get(record.serial)
                if known is None:  # first seen since the start: its previous report a day back
                    reports[record.serial] = at
                    if at >= horizon:
                        reach = min(reach, at - timedelta(days=1))
                elif at > known:
                    reach = min(reach, known)
                    reports[record.serial] = at
        return reach

    def _last_stored(self, firsts: Mapping[str, datetime]) -> dict[str, datetime]:
        """The start of each gateway's last poll stored before the earliest of ``firsts``
        (serial -> its first poll just stored), in one query; none known: absent."""
        if not firsts:
            return {}
        try:
            with self._bounded(f"reading the last poll of {len(firsts)} gateways"):
                return last_poll_starts(self._own_store(), firsts, min(firsts.values()))
        except Exception as exc:  # a rollup problem must never stop the logging
            log.error("rollup_failed gateways=%d error=%s", len(firsts), exc, exc_info=False)
            return {}

    def replay_spool(self) -> WriteResult:
        """Store what an earlier run left in the spool; its periods are rolled up next time,
        with the rollups an earlier stop left."""
        self._load_pending()
        result = self.writer.replay()
        self._mark_replayed(result)
        if result.replayed:
            log.info("spool_replayed polls=%d pending=%d", result.replayed, result.pending)
        return result

    def _pending_path(self) -> Path:
        return self.writer.spool.directory / PENDING_FILE

    def _load_pending(self) -> None:
        path = self._pending_path()
        try:
            pending = json.loads(path.read_text())
            latest = datetime.fromisoformat(pending["latest"])
            dirty = {str(k): datetime.fromisoformat(v) for k, v in pending["gateways"].items()}
            if any(t.tzinfo is None for t in (latest, *dirty.values())):
                raise ValueError("an instant without its UTC offset")
        except FileNotFoundError:
            return
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning("rollups_pending_unreadable path=%s error=%s", path, exc)
            return
        for serial, since in dirty.items():
            self._mark_dirty(serial, since)
        self._latest = max(self._latest or latest, latest)
        log.info("rollups_pending gateways=%d", len(dirty))
        path.unlink(missing_ok=True)

    def _save_pending(self) -> None:
        """Keep what is left to roll up for the next start (stopped in time, or the
        database was down)."""
        if self.rollup_interval_s is None:
            return
        left = dict(self._dirty)
        for row, since in self._round.todo if self._round is not None else []:
            left[row.serial] = min(since, left.get(row.serial, since))
        if not left or self._latest is None:
            return
        path = self._pending_path()
        pending = {
            "latest": self._latest.isoformat(),
            "gateways": {k: v.isoformat() for k, v in left.items()},
        }
        try:
            write_atomic(path, json.dumps(pending))
        except OSError as exc:
            log.error("rollups_pending_unsaved path=%s gateways=%d error=%s", path, len(left), exc)
            return
        log.warning(
            "rollups_deferred gateways=%d: rolled up after the next start (%s)", len(left), path
        )

    def _mark_replayed(self, result: WriteResult) -> None:
        for serial, since in result.replayed_since.items():
            self._serials.add(serial)
            self._mark_dirty(serial, since)
        if result.replayed_until is not None:
            self._latest = max(self._latest or result.replayed_until, result.replayed_until)

    def _mark_dirty(self, serial: str, since: datetime) -> None:
        earliest = self._dirty.get(serial)
        self._dirty[serial] = since if earliest is None else min(earliest, since)

    def _begin_round(self) -> None:
        """Start recomputing the energy periods new readings reach, of the gateways written to."""
        now = self._monotonic()
        self.last_rollup = now
        if self.rollup_interval_s is None or not self._dirty or self._latest is None:
            return
        if len(self.writer.spool) or self.writer.outage:
            return  # the database is behind: wait until the spool is replayed
        try:
            with self._bounded("listing the gateways"):
                rows = {row.serial: row for row in store_gateways(self._own_store())}
        except Exception as exc:  # a rollup problem must never stop the logging
            log.error("rollup_failed error=%s", exc, exc_info=not isinstance(exc, EnvoylogError))
            return
        full = now - self.last_full_rollup >= FULL_ROLLUP_EVERY_S
        if full:
            self.last_full_rollup = now
        todo = [(rows[serial], at) for serial, at in self._dirty.items() if serial in rows]
        self._dirty.clear()
        if todo:
            self._round = _Round(todo, self._latest, days=2 if full else 1)

    def _bounded(self, doing: str) -> AbstractContextManager[None]:
        """A deadline on one call of the worker's own connection (rollups, pruning): a
        frozen database never holds the worker longer, nor a stop past its end."""
        seconds = ROLLUP_TIMEOUT_S
        if self._stopping.is_set() and self._stop_by is not None:
            seconds = min(seconds, max(self._stop_by - time.monotonic(), 0.001))
        return deadline(self._own_store().engine, seconds, doing)

    def _own_store(self) -> Store:
        """The worker's own connection for rollups and pruning (the Writer keeps its own)."""
        if self._store is None:
            self._store = open_store(self.writer.url, self.writer.options, migrate=False)
        return self._store

    def _prune(self) -> None:
        """Delete the raw bodies kept past raw_body_days, as of the newest poll written."""
        self.last_prune = self._monotonic()
        if self._latest is None or len(self.writer.spool) or self.writer.outage:
            return  # nothing written yet, or the database is behind
        try:
            with self._bounded("deleting old raw bodies"):
                serials = self._serials if self.own_gateways_only else None
                pruned = prune_raw_bodies(self._own_store(), self._latest, serials=serials)
        except Exception as exc:  # pruning must never stop the logging
            log.error("prune_failed error=%s", exc, exc_info=not isinstance(exc, EnvoylogError))
            return
        self.pruned += pruned
        if pruned:
            log.info("raw_bodies_pruned count=%d", pruned)

    def _partition(self) -> None:
        """Make the partitions of this UTC month and the next ones (PostgreSQL)."""
        now = self._monotonic()
        self.partitions_due = now + PARTITION_RETRY_S  # unless it succeeds
        if self.writer.outage:
            return
        try:
            store = self._own_store()
            if store.engine.dialect.name != "postgresql":
                self.partitions_due = now + PARTITION_INTERVAL_S
                return  # SQLite: plain tables
            with self._bounded("making partitions"), store.transaction("making partitions") as txn:
                ensure_months(txn.conn, datetime.now(UTC))
        except Exception as exc:  # readings of a month without one go to the default partition
            log.error(
                "partitions_failed error=%s", exc, exc_info=not isinstance(exc, EnvoylogError)
            )
            return
        self.partitions_due = now + PARTITION_INTERVAL_S

    def _begin_compaction(self) -> None:
        """List the gateway-days past full_resolution_days, as of the newest poll written."""
        self.last_compaction = self._monotonic()
        if self._latest is None or len(self.writer.spool) or self.writer.outage:
            return  # nothing written yet, or the database is behind
        try:
            with self._bounded("finding days to compact"):
                self._compacting = pending(
                    self._own_store(),
                    now=self._latest,
                    window_days=self.full_resolution_days or 0,
                    serials=self._serials if self.own_gateways_only else None,
                    timezone_override=self.timezones,
                )[::-1]
        except Exception as exc:  # compaction must never stop the logging
            log.error(
                "compaction_failed error=%s", exc, exc_info=not isinstance(exc, EnvoylogError)
            )

    def _compact(self) -> None:
        """Compact gateway-days, one transaction each, while no poll waits and no rollup
        round is under way (they go first)."""
        while self._compacting and self._round is None and not self._polls_due():
            if self._stopping.is_set():
                return
            target = self._compacting.pop()
            self.beat_at = time.monotonic()
            try:
                with self._bounded(f"compacting gateway {target.gateway.serial}"):
                    done = compact_day(
                        self._own_store(),
                        target,
                        step=self.compaction_step,
                        now=datetime.now(UTC),
                    )
            except Exception as exc:  # compaction must never stop the logging
                log.error(
                    "compaction_failed gateway=%s day=%s error=%s",
                    target.gateway.serial,
                    target.day,
                    exc,
                    exc_info=not isinstance(exc, EnvoylogError),
                )
                self._compacting = []  # the next round tries again
                return
            self.compacted += done.outcome is Outcome.COMPACTED

    def _roll(self, *, until_done: bool, by: float | None = None) -> None:
        """Roll up the round's gateways one at a time; polls waiting to be stored go first
        (unless stopping) once the round has had its share (ROLL_AT_LEAST_S), so a fleet's
        rollup never holds its polls back for minutes, nor they the rollup; while the store
        falls behind, the round waits whole."""
        share_until = time.monotonic() + ROLL_AT_LEAST_S
        rolled = 0
        while (
            self._round is not None
            and (until_done or self._round_goes_on(rolled, share_until))
            and (by is None or time.monotonic() < by)
        ):
            rolled += 1
            if self._round.waiting_since is not None:
                waited = time.monotonic() - self._round.waiting_since
                log.info("rollup_round_goes_on waited_s=%.0f", waited)
                self._round.waiting_since = None
            row, dirty_at = self._round.todo.pop()
            self.beat_at = time.monotonic()
            try:
                with self._bounded(f"rolling up gateway {row.serial}"):
                    rollup_recent(
                        self._own_store(),
                        self._round.now,
                        days=self._round.days,
                        since={row.serial: dirty_at - READING_REACH},
                        timezone_override=self.timezones,
                        gateways=[row],
                    )
            except Exception as exc:  # a rollup problem must never stop the logging
                if by is not None and time.monotonic() >= by:
                    # The stop's time ran out under the call, which was cut: nothing
                    # failed, and the rollups_deferred line says where the rest waits.
                    log.info("rollup_cut_by_stop gateway=%s", row.serial)
                else:
                    log.error(
                        "rollup_failed gateway=%s error=%s",
                        row.serial,
                        exc,
                        exc_info=not isinstance(exc, EnvoylogError),
                    )
                for left, at in [(row, dirty_at), *self._round.todo]:  # next round, then
                    self._mark_dirty(left.serial, at)
                self._round = None
                return
            if not self._round.todo:
                self._round = None
                self.rollups += 1

    def _round_goes_on(self, rolled: int, share_until: float) -> bool:
        """Between batches of polls: never while the store falls behind; else for the
        round's share (a gateway at least), then while no poll is due."""
        if self.falling_behind():
            if self._round is not None and self._round.waiting_since is None:
                self._round.waiting_since = time.monotonic()
                log.info(
                    "rollup_round_waits gateways_left=%d polls_waiting=%d: the store is "
                    "behind; the energy tables wait until it catches up",
                    len(self._round.todo),
                    self.queue.qsize(),
                )
            return False
        return not rolled or time.monotonic() < share_until or not self._polls_due()


@dataclass
class _Round:
    """One rollup round: the gateways still to recompute, as of ``now``, over ``days``."""

    todo: list[tuple[GatewayRow, datetime]]
    now: datetime
    days: int
    waiting_since: float | None = None  # time.monotonic() since the store fell behind
