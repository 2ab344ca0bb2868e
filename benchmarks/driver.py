"""Drive the service's own job and store worker through simulated time (as `envoylog demo`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from envoylog.client import Credentials, GatewayClient
from envoylog.db import Writer
from envoylog.endpoints import ALL
from envoylog.service.jobs import GatewayJob, Outcome, QuietWindow
from envoylog.service.worker import StoreWorker

TICK_S = 60


@dataclass
class Driven:
    """Jobs for some gateways, a store worker, and the manual clock they share."""

    jobs: list[GatewayJob]
    worker: StoreWorker
    clients: list[GatewayClient]
    now: Callable[[], datetime]

    def tick(self) -> int:
        """Run every job once, wait until the worker stored what they made; polls made."""
        polled = sum(job.run() is Outcome.POLLED for job in self.jobs)
        self.worker.queue.join()
        return polled

    def close(self) -> None:
        self.worker.stop()
        self.worker.join()
        self.worker.writer.close()
        for client in self.clients:
            client.close()


def drive(
    urls: Sequence[tuple[str, str | None]],
    db_url: str,
    spool: Path,
    clock_now: Callable[[], float],
    *,
    quiet: bool = True,
) -> Driven:
    """Jobs with the default cadences for (url, token) gateways, on a clock in epoch seconds."""

    def now() -> datetime:
        return datetime.fromtimestamp(clock_now(), tz=UTC)

    # The worker's hourly rollups run on the same clock, as they would in a running service.
    # Each tick waits until its polls are stored, so none waits for others to come (with
    # the default, 120 minutes of one site took 24.7 s to log instead of 1.2 s).
    worker = StoreWorker(Writer(db_url, spool), monotonic=clock_now, gather_s=0.0)
    # The database is made before the first poll, as the service does at start (else the
    # first batch's monthly partitions were asked of a PostgreSQL database with no tables).
    worker.replay_spool()
    worker.start()
    clients = [GatewayClient(url, credentials=Credentials(token=token)) for url, token in urls]
    jobs = [
        GatewayJob(
            name=f"gw{i}",
            client=client,
            submit=worker.submit,
            cadences={e.name: e.cadence_s for e in ALL},
            tick_s=TICK_S,
            quiet=QuietWindow() if quiet else None,
            clock=now,
        )
        for i, client in enumerate(clients)
    ]
    return Driven(jobs, worker, clients, now)
