"""The long-running service: APScheduler jobs per gateway, one store worker, signals, systemd.

Polls are made by the jobs (one at a time per gateway, many gateways at once) and
handed to the store worker (envoylog.service.worker) through a queue. Shutdown stops
the jobs, lets the polls in flight finish, drains the queue into the database, rolls
up for at most STOP_ROLLUP_S, keeps what is left for the next start, and returns.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from envoylog.files import SHARED, write_atomic
from envoylog.service.jobs import GatewayJob
from envoylog.service.worker import StoreWorker

log = logging.getLogger(__name__)

HEARTBEAT_S = 15.0  # watchdog ping and status file; sooner when systemd's watchdog wants it


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
    ) -> None:
        self.jobs = list(jobs)
        self.heartbeat_s = heartbeat_s
        self.worker = worker
        self.status_file = status_file
        self.notifier = notifier
        self.started_at = datetime.now(tz=UTC)
        self.stop_requested = threading.Event()
        self._unhealthy: str | None = None
        workers = max_workers or min(64, max(4, len(self.jobs)))
        self.scheduler = BackgroundScheduler(
            # The heartbeat has its own thread, so a burst of polls never delays the watchdog.
            executors={"default": ThreadPoolExecutor(workers), "heartbeat": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=UTC,
        )

    def start(self) -> None:
        """Replay the spool, start the store worker and one job per gateway."""
        self.worker.replay_spool()
        self.worker.start()
        now = datetime.now(tz=UTC)
        for index, job in enumerate(self.jobs):
            # Spread the first runs over one tick: a fleet polls evenly, not in one burst.
            first_run = now + timedelta(seconds=job.tick_s * index / len(self.jobs))
            self.scheduler.add_job(
                job.run,
                "interval",
                seconds=job.tick_s,
                id=f"gateway-{index}-{job.name}",
                name=job.name,
                # After a stall: one catch-up poll, not a burst (coalesce), at most a tick late.
                misfire_grace_time=job.tick_s,
                next_run_time=first_run,
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

    def heartbeat(self) -> None:
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
            "healthy": self._unhealthy is None,
            "unhealthy_reason": self._unhealthy,
            "polls_written": self.worker.written,
            "polls_spooled": self.worker.spooled,
            "polls_set_aside": self.worker.writer.spool.kept_aside,
            "store_errors": self.worker.errors,
            "spool_pending": len(self.worker.writer.spool),
            "rollup_rounds": self.worker.rollups,
            "gateways": {
                job.name: {
                    "serial": job.state.info.serial if job.state.info else None,
                    **{k: _jsonable(v) for k, v in asdict(job.health).items()},
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
        self.stop_requested.set()

    def wait(self) -> None:
        while not self.stop_requested.wait(1.0):
            pass

    def stop(self) -> None:
        """Stop the jobs, let polls in flight finish, store every queued poll."""
        log.info("service_stopping")
        self.scheduler.shutdown(wait=True)
        self.worker.stop()
        self.worker.join()
        self.write_status()
        self.worker.writer.close()
        log.info("service_stopped written=%d spooled=%d", self.worker.written, self.worker.spooled)


def _jsonable(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value
