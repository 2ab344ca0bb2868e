"""The long-running service: APScheduler jobs per gateway, one store worker, signals, systemd.

Polls are made by the jobs (one at a time per gateway, many gateways at once) and
handed to the store worker (envoylog.service.worker) through a queue.

A stop fits STOP_S from the signal, whatever the gateways and the database do: no
endpoint is asked any more; polls in flight get POLL_GRACE_S to end, then those still
waiting for a gateway are taken as they stand and handed over; the worker stores what
is queued (or spools it: its database calls are bounded by what is left), rolls up
while time is left, keeps the rest for the next start, and ends EXIT_MARGIN_S before
the budget is spent. A request that still hangs is abandoned with its thread.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from envoylog.db.claims import GatewayClaims
from envoylog.files import SHARED, write_atomic
from envoylog.service.jobs import GatewayJob, JobHealth
from envoylog.service.worker import StoreWorker
from envoylog.tally import Tally

log = logging.getLogger(__name__)

HEARTBEAT_S = 15.0  # watchdog ping and status file; sooner when systemd's watchdog wants it
STOP_S = 30.0  # from SIGTERM to the end of the service (systemd's TimeoutStopSec is 90 s)
POLL_GRACE_S = 10.0  # polls in flight end by themselves within this, or are cut
EXIT_MARGIN_S = 3.0  # kept for the status file, closing, and the interpreter's exit
# A tick whose poll cannot start within this of its time is skipped: a service that fell
# behind (a burst at start-up, a slow database) sheds the late polls and is on time again
# at the next tick, instead of running each gateway's polls up to a whole tick late (the
# grace before; docs/performance.md section 3a).
LATE_LIMIT_S = 10
SKIPPED_SAID_EVERY_S = 60.0
# How long a busy thread keeps the interpreter before another may take it (Python's
# default: 5 ms). The service's threads mostly wait for sockets and locks, and each wakes
# to wait that long for the interpreter again: the store worker after every database
# round trip, the scheduler and the poll threads for the executor's lock. Measured: a
# batch of 100 polls beside four busy threads took 38 s at 5 ms and 6.5 s at 1 ms.
SWITCH_INTERVAL_S = 0.001
# A gateway's first poll costs several of its later ones (the TLS handshake and pinning,
# the claim, every endpoint, the device rows). A fleet's first polls are spread over
# whole ticks, as many as keep them at about this rate: a 5,000-gateway service's store
# queue filled 2 minutes into first polls made 83 a second (docs/performance.md, 3e),
# and a second service starting beside it overloaded both. Up to 1,200 gateways at 60 s
# start within one tick, as before.
FIRST_POLLS_PER_S = 20.0


class Service:
    """Run gateway jobs on APScheduler until asked to stop."""

    def __init__(
        self,
        jobs: Sequence[GatewayJob],
        worker: StoreWorker,
        *,
        max_workers: int | None = None,
        status_file: Path | None = None,
        notifier: Any = None,
        heartbeat_s: float = HEARTBEAT_S,
        claims: GatewayClaims | None = None,
        first_polls_per_s: float = FIRST_POLLS_PER_S,
    ) -> None:
        self.jobs = list(jobs)
        self.first_polls_per_s = first_polls_per_s
        self.claims = claims  # released at stop: another process may take the gateways over
        self.heartbeat_s = heartbeat_s
        self.worker = worker
        self.status_file = status_file
        self.notifier = notifier
        self.started_at = datetime.now(tz=UTC)
        self.stop_requested = threading.Event()
        self.stopping = threading.Event()  # the jobs ask no further endpoint once set
        self.abandoned: list[str] = []  # gateways whose request still hung when the stop ended
        self._stop_began: float | None = None
        self._unhealthy: str | None = None
        self._skipped = Tally(SKIPPED_SAID_EVERY_S)  # ticks that could not start in time
        self._held = Tally(SKIPPED_SAID_EVERY_S)  # first polls held a tick (_hold_first)
        for job in self.jobs:
            job.hold_first = self._hold_first
        workers = max_workers or min(64, max(4, len(self.jobs)))
        self.scheduler = BackgroundScheduler(
            # The heartbeat has its own thread, so a burst of polls never delays the watchdog.
            executors={"default": ThreadPoolExecutor(workers), "heartbeat": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=UTC,
        )
        self.scheduler.add_listener(self._skipped_tick, EVENT_JOB_MISSED)
        # One line a minute says how many were skipped (below), not one per gateway.
        logging.getLogger("apscheduler.executors.default").addFilter(_no_missed_run_lines)

    def start(self) -> None:
        """Replay the spool, start the store worker and one job per gateway."""
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        self.worker.replay_spool()
        self.worker.start()
        now = datetime.now(tz=UTC)
        for job in self.jobs:
            job.stop = self.stopping
        for index, job in enumerate(self.jobs):
            # Spread the first runs over whole ticks: a fleet polls evenly, not in a burst.
            spread_s = first_spread_s(len(self.jobs), job.tick_s, self.first_polls_per_s)
            first_run = now + timedelta(seconds=spread_s * index / len(self.jobs))
            job.first_tick_at = first_run
            self.scheduler.add_job(
                job.run,
                "interval",
                seconds=job.tick_s,
                id=f"gateway-{index}-{job.name}",
                name=job.name,
                # After a stall: one catch-up poll, not a burst (coalesce), and none that
                # cannot start within LATE_LIMIT_S of its tick.
                misfire_grace_time=min(job.tick_s, LATE_LIMIT_S),
                next_run_time=first_run,
                # A tick while the last poll still waits for its gateway runs, finds it
                # busy and returns: the job says so once, instead of APScheduler's
                # "maximum number of running instances" warning every tick.
                max_instances=2,
            )
        self.scheduler.add_job(
            self.heartbeat,
            "interval",
            seconds=self.heartbeat_s,
            id="heartbeat",
            executor="heartbeat",
        )
        self.scheduler.start()
        log.info("service_started gateways=%d", len(self.jobs))

    def healthy(self, now: float | None = None) -> bool:
        """True while the store worker lives and is not stuck; else systemd's watchdog
        (not pinged) restarts the service, and the spool keeps what the jobs made meanwhile."""
        return self.unhealthy_reason(now) is None

    def unhealthy_reason(self, now: float | None = None) -> str | None:
        if not self.worker.is_alive():
            return "the store worker has died"
        if self.worker.stuck(now):
            return f"the store worker has given no sign of life for {self.worker.stuck_after_s:g} s"
        return None

    @property
    def skipped(self) -> int:
        """Ticks whose poll could not start within LATE_LIMIT_S, since start."""
        return self._skipped.total

    def _skipped_tick(self, event: JobExecutionEvent) -> None:
        self._skipped.add()

    def _hold_first(self) -> bool:
        """Whether a gateway's first poll waits a tick: while the store falls behind, a
        fleet's start goes on no faster than the store keeps up."""
        if not self.worker.falling_behind():
            return False
        self._held.add()
        return True

    @property
    def held(self) -> int:
        """Ticks at which a gateway's first poll was held, since start."""
        return self._held.total

    def report_skipped(self, *, now: bool = False) -> None:
        """Say how many ticks were skipped since last said, at most once a minute (``now``:
        at once, at stop)."""
        count = self._skipped.due(now=now)
        if count:
            log.warning(
                "polls_skipped count=%d total=%d: these ticks' polls could not start within "
                "%d s (the service was behind: a burst of polls, a slow database, or more "
                "gateways than this machine can poll); the next ticks poll as usual",
                count,
                self.skipped,
                LATE_LIMIT_S,
            )

    def report_held(self, *, now: bool = False) -> None:
        """Say how many first polls were held since last said, at most once a minute."""
        count = self._held.due(now=now)
        if count:
            waiting = sum(1 for job in self.jobs if not job.started)
            log.warning(
                "first_polls_held count=%d waiting=%d: polls queue up faster than they are "
                "stored, so these gateways' first polls wait for a later tick (a fleet "
                "starting on a busy machine, or a slow database)",
                count,
                waiting,
            )

    def heartbeat(self) -> None:
        self.report_skipped()
        self.report_held()
        reason = self.unhealthy_reason()
        if reason is None:
            if self.notifier is not None:
                self.notifier.watchdog()
        elif reason != self._unhealthy:
            log.error("service_unhealthy reason=%s: the watchdog restarts the service", reason)
        self._unhealthy = reason
        self.write_status()

    def write_status(self) -> None:
        """Write what `envoylog status` shows, atomically, beside the database."""
        if self.status_file is None:
            return
        document = {
            "pid": os.getpid(),
            "running": not self.stop_requested.is_set(),
            "started_at": self.started_at.isoformat(),
            "updated_at": datetime.now(tz=UTC).isoformat(),
            "database": self.worker.writer.spool.name,
            "database_key": self.worker.writer.spool.database,  # `status` compares its --db
            "healthy": self._unhealthy is None,
            "unhealthy_reason": self._unhealthy,
            "polls_written": self.worker.written,
            "polls_spooled": self.worker.spooled,
            "polls_set_aside": self.worker.writer.spool.kept_aside,
            "polls_lost": self.worker.writer.lost,
            "polls_dropped": self.worker.writer.spool.dropped,  # the spool was full
            "ticks_skipped": self.skipped,  # polls that could not start within LATE_LIMIT_S
            "first_polls_held": self.held,  # a tick each; the store was behind
            "gateways_not_started": sum(1 for job in self.jobs if not job.started),
            "last_loss": self.worker.writer.last_loss,
            "store_errors": self.worker.errors,
            "spool_pending": len(self.worker.writer.spool),
            "rollup_rounds": self.worker.rollups,
            "gateways": {
                job.name: {
                    "serial": job.state.info.serial if job.state.info else None,
                    "first_tick_at": _jsonable(job.first_tick_at),
                    # Shallow (its fields are plain values): asdict's deep copy took 64 ms
                    # for 5,000 gateways, every heartbeat.
                    **{f.name: _jsonable(getattr(job.health, f.name)) for f in _HEALTH_FIELDS},
                }
                for job in self.jobs
            },
        }
        try:
            # Its folder is made when missing: with spool_dir set elsewhere, nothing else makes it.
            write_atomic(self.status_file, json.dumps(document, indent=1), mode=SHARED)
        except OSError as exc:
            log.warning("status_file_failed path=%s error=%s", self.status_file, exc)

    def request_stop(self, *_: object) -> None:
        """The signal handler: the stop's budget counts from here."""
        if self._stop_began is None:
            self._stop_began = time.monotonic()
        self.stop_requested.set()

    def wait(self) -> None:
        while not self.stop_requested.wait(1.0):
            pass

    def stop(self) -> bool:
        """Stop within STOP_S of the request: no new endpoint asked, polls in flight ended
        or cut and stored with what they got, every queued poll stored or spooled.

        Returns False when the store worker had died before the stop (the service failed).
        """
        began = self._stop_began or time.monotonic()
        died = self.worker.ident is not None and not self.worker.is_alive()
        log.info("service_stopping")
        self.stop_requested.set()
        self.stopping.set()
        self.scheduler.shutdown(wait=False)
        grace_end = began + POLL_GRACE_S
        while any(job.busy for job in self.jobs) and time.monotonic() < grace_end:
            self.stopping.wait(0.05)
        for job in self.jobs:
            if job.busy:
                job.cut()  # its request still hangs: store what the poll has got
                self.abandoned.append(job.name)
        by = began + STOP_S - EXIT_MARGIN_S
        if died:
            log.error("store_worker_dead: the polls still queued go to the spool")
        else:
            self.worker.stop(by=by)
            self.worker.join(max(by - time.monotonic(), 0.0) + 1.0)
        self.report_skipped(now=True)
        self.report_held(now=True)
        if self.worker.is_alive() or died:
            if self.worker.is_alive():
                log.error("store_worker_stuck_at_stop: the polls still queued go to the spool")
            self.worker.spool_queued()
        self.write_status()
        if not self.worker.is_alive():
            self.worker.writer.close()
        if self.claims is not None:
            self.claims.close()
        log.info(
            "service_stopped written=%d spooled=%d stop_s=%.1f abandoned=%s",
            self.worker.written,
            self.worker.spooled,
            time.monotonic() - began,
            ",".join(self.abandoned) or "none",
        )
        return not died


def _no_missed_run_lines(record: logging.LogRecord) -> bool:
    """APScheduler's line for each skipped run: the service sums them up instead."""
    return not str(record.msg).startswith("Run time of job")


_HEALTH_FIELDS = fields(JobHealth)


def first_spread_s(gateways: int, tick_s: float, per_s: float = FIRST_POLLS_PER_S) -> float:
    """Seconds a fleet's first polls are spread over: whole ticks, enough of them to keep
    the first polls at about ``per_s`` (so the later ticks stay evenly spaced too)."""
    return tick_s * max(1, math.ceil(gateways / (per_s * tick_s)))


def _jsonable(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value
