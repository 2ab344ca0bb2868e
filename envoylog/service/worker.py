"""The store worker: the only thread that touches the database while the service runs.

Polls are handed over through a queue and written in arrival order (or spooled while
the database is down); between polls the worker keeps the energy tables current, a
gateway at a time, and prunes raw bodies past their keeping time.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from envoylog.config import table
from envoylog.db import Store, Writer, WriteResult, WriteStatus, open_store, prune_raw_bodies
from envoylog.db.energy import GatewayRow, last_poll_start
from envoylog.energy.rollup import rollup_recent, store_gateways
from envoylog.errors import EnvoylogError
from envoylog.files import write_atomic
from envoylog.records import UNTRUSTED_FLAGS, InverterReading, PollResult

log = logging.getLogger(__name__)

_STOP = object()
# The rollup_interval_s setting's default (the reason for it stands beside it in the table).
ROLLUP_INTERVAL_S = float(table.ROLLUP_INTERVAL_S.default_value)
# Between them, only the days new readings reach are recomputed; every so often the last
# two local days are, whatever arrived (inverter reports that close a day come late).
FULL_ROLLUP_EVERY_S = 6 * 3600.0
# Raw bodies past their keeping time (raw_body_days) are deleted this often, and at start.
PRUNE_INTERVAL_S = 3600.0
# Slack before the earliest reading a poll's readings reach back to (_reach).
READING_REACH = timedelta(hours=1)
# At stop, rollups run this long at most (systemd's TimeoutStopSec is 90 s): a fleet's
# last hour can take minutes. What is left is written to PENDING_FILE in the spool
# folder and rolled up after the next start.
STOP_ROLLUP_S = 30.0
PENDING_FILE = "rollups-pending.json"


class StoreWorker(threading.Thread):
    """Write handed-over polls in arrival order; the only thread that touches the database."""

    def __init__(
        self,
        writer: Writer,
        *,
        on_write: Callable[[PollResult, Any], None] | None = None,
        rollup_interval_s: float | None = ROLLUP_INTERVAL_S,
        timezones: Mapping[str, str] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name="envoylog-store", daemon=True)
        self.writer = writer
        self.queue: queue.Queue[object] = queue.Queue()
        self.on_write = on_write
        self.last_progress = time.monotonic()
        self.written = 0
        self.spooled = 0
        self.failed = 0
        # Energy rollups: None turns them off; timezones maps gateway name/serial to a zone.
        self.rollup_interval_s = rollup_interval_s
        self.timezones = dict(timezones or {})
        self._monotonic = monotonic
        self.last_rollup = self.last_full_rollup = monotonic()
        self.rollups = 0  # rounds completed
        self.last_prune = monotonic() - PRUNE_INTERVAL_S
        self.pruned = 0  # raw bodies deleted
        self._dirty: dict[str, datetime] = {}  # serial -> earliest instant to recompute from
        self._round: _Round | None = None  # the rollup round under way, a gateway at a time
        self._previous: dict[str, datetime] = {}  # serial -> start of the last poll written
        self._reports: dict[str, dict[str, datetime]] = {}  # serial -> inverter -> last report
        self._latest: datetime | None = None
        self._store: Store | None = None

    def submit(self, poll: PollResult) -> None:
        self.queue.put(poll)

    def stop(self) -> None:
        self.queue.put(_STOP)

    def run(self) -> None:
        while True:
            item = self.queue.get()
            try:
                if item is _STOP:
                    deadline = time.monotonic() + STOP_ROLLUP_S
                    self._roll(until_done=True, deadline=deadline)
                    if self._round is None:  # else out of time: a new round would drop it
                        self._begin_round()
                        self._roll(until_done=True, deadline=deadline)
                    self._save_pending()
                    if self._store is not None:
                        self._store.close()
                    return
                assert isinstance(item, PollResult)
                self._write(item)
                if (
                    self._round is None
                    and self.rollup_interval_s is not None
                    and self._monotonic() - self.last_rollup >= self.rollup_interval_s
                ):
                    self._begin_round()
                self._roll(until_done=False)
                if self._monotonic() - self.last_prune >= PRUNE_INTERVAL_S:
                    self._prune()
            finally:
                self.queue.task_done()

    def _write(self, item: PollResult) -> None:
        try:
            result = self.writer.write(item)
        except EnvoylogError as exc:
            # A schema the code cannot write: the poll is already spooled by the Writer.
            self.failed += 1
            log.error("store_failed gateway=%s error=%s", item.gateway.serial, exc)
            return
        if result.status is WriteStatus.STORED:
            self.written += 1
            self.last_progress = time.monotonic()
        elif result.status is WriteStatus.SPOOLED:
            self.spooled += 1
            self.last_progress = time.monotonic()
        else:
            self.failed += 1
        if result.status is not WriteStatus.SET_ASIDE:
            # Spooled polls are stored by a later write's replay: roll up from them then.
            stored = result.status is WriteStatus.STORED
            self._mark_dirty(item.gateway.serial, self._reach(item, stored=stored))
            self._latest = max(self._latest or item.finished_at, item.finished_at)
        self._mark_replayed(result)
        if self.on_write is not None:
            self.on_write(item, result)

    def _reach(self, poll: PollResult, *, stored: bool = False) -> datetime:
        """The earliest instant whose energy the poll's readings can change: the reading
        before each of them, across any gap (an inverter's first report of the morning
        reaches back to its last of the evening). Unknown after a restart: a day before
        the last poll stored (``stored``: the database is up), so a crash that lost the
        last hour's rollup is made good however long the service was down.

        Only a new report reaches anywhere: a repeated one is not stored again, and a
        retired inverter stays listed with a years-old report (QUIRKS 23), which must
        not make every rollup start years back. Reports older than a day when first seen
        are left to `envoylog rollup`."""
        serial, started = poll.gateway.serial, poll.started_at
        horizon = started - timedelta(days=1)
        if stored and serial not in self._previous:
            last = self._last_stored(serial, started)
            if last is not None:
                horizon = min(horizon, last - timedelta(days=1))
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

    def _last_stored(self, serial: str, before: datetime) -> datetime | None:
        try:
            return last_poll_start(self._own_store(), serial, before)
        except Exception as exc:  # a rollup problem must never stop the logging
            log.error("rollup_failed gateway=%s error=%s", serial, exc, exc_info=False)
            return None

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
        if len(self.writer.spool):
            return  # the database is behind: wait until the spool is replayed
        try:
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

    def _own_store(self) -> Store:
        """The worker's own connection for rollups and pruning (the Writer keeps its own)."""
        if self._store is None:
            self._store = open_store(self.writer.url, self.writer.options, migrate=False)
        return self._store

    def _prune(self) -> None:
        """Delete the raw bodies kept past raw_body_days, as of the newest poll written."""
        self.last_prune = self._monotonic()
        if self._latest is None or len(self.writer.spool):
            return  # nothing written yet, or the database is behind
        try:
            pruned = prune_raw_bodies(self._own_store(), self._latest)
        except Exception as exc:  # pruning must never stop the logging
            log.error("prune_failed error=%s", exc, exc_info=not isinstance(exc, EnvoylogError))
            return
        self.pruned += pruned
        if pruned:
            log.info("raw_bodies_pruned count=%d", pruned)

    def _roll(self, *, until_done: bool, deadline: float | None = None) -> None:
        """Roll up the round's gateways one at a time; polls waiting to be stored go first
        (unless stopping), so a fleet's rollup never holds its polls back for minutes."""
        while (
            self._round is not None
            and (until_done or self.queue.empty())
            and (deadline is None or time.monotonic() < deadline)
        ):
            row, dirty_at = self._round.todo.pop()
            assert self._store is not None
            try:
                rollup_recent(
                    self._store,
                    self._round.now,
                    days=self._round.days,
                    since={row.serial: dirty_at - READING_REACH},
                    timezone_override=self.timezones,
                    gateways=[row],
                )
            except Exception as exc:  # a rollup problem must never stop the logging
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


@dataclass
class _Round:
    """One rollup round: the gateways still to recompute, as of ``now``, over ``days``."""

    todo: list[tuple[GatewayRow, datetime]]
    now: datetime
    days: int
