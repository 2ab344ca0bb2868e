"""A GatewayJob whose gateway another process has claimed (a real advisory lock on
PostgreSQL) asks it nothing but /info, hands nothing over, says so in its health and
the status, and polls everything due once the claim is granted."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pg_server import PostgresServer

from envoylog.client import Credentials, GatewayClient
from envoylog.db import Writer
from envoylog.db.claims import GatewayClaims
from envoylog.records import PollResult
from envoylog.service.jobs import GatewayJob, Outcome
from envoylog.service.scheduler import Service
from envoylog.service.status import as_json, collect_status, render
from envoylog.service.worker import StoreWorker
from envoylog.simulator import ManualClock, SimulatedGateway

pytestmark = pytest.mark.postgres

START = datetime(2026, 6, 10, 16, 0, tzinfo=UTC)
OWNER = "envoylog/owner/1"


@pytest.fixture
def sim_clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def gateway(sim_clock: ManualClock) -> Iterator[SimulatedGateway]:
    with SimulatedGateway("metered-split-phase", clock=sim_clock) as simulated:
        yield simulated


@pytest.fixture
def claims(pg_url: str) -> Iterator[Callable[[str], GatewayClaims]]:
    made: list[GatewayClaims] = []

    def make(name: str) -> GatewayClaims:
        made.append(GatewayClaims(pg_url, name=name))
        return made[-1]

    yield make
    for each in made:
        each.close()


@pytest.fixture
def job_for(gateway: SimulatedGateway) -> Iterator[Callable[..., GatewayJob]]:
    clients: list[GatewayClient] = []

    def make(claims: GatewayClaims | None, submit: Callable[[PollResult], object]) -> GatewayJob:
        clients.append(GatewayClient(gateway.url, credentials=Credentials(token=gateway.token)))
        return GatewayJob(
            name="roof",
            client=clients[-1],
            submit=submit,  # type: ignore[arg-type]
            cadences={},
            quiet=None,
            clock=lambda: datetime.fromtimestamp(gateway.clock.now(), tz=UTC),
            claim=None if claims is None else lambda s: claims.claim(s, gateway="roof"),
        )

    yield make
    for client in clients:
        client.close()


def test_a_job_whose_gateway_is_polled_elsewhere_asks_only_info_and_hands_nothing_over(
    sim_clock: ManualClock,
    gateway: SimulatedGateway,
    claims: Callable[[str], GatewayClaims],
    job_for: Callable[..., GatewayJob],
) -> None:
    claims(OWNER).claim(gateway.serial, gateway="roof")  # another process polls it
    stored: list[PollResult] = []
    job = job_for(claims("envoylog/mine/2"), stored.append)
    outcomes = []
    for _ in range(3):
        outcomes.append(job.run())
        sim_clock.advance(60)
    assert outcomes == [Outcome.ELSEWHERE] * 3
    assert [r.path for r in gateway.requests] == ["/info"]  # to learn its serial, once
    assert stored == []
    assert job.health.polled_elsewhere == OWNER


def test_a_job_polls_everything_due_once_its_claim_is_granted(
    pg_server: PostgresServer,
    sim_clock: ManualClock,
    gateway: SimulatedGateway,
    claims: Callable[[str], GatewayClaims],
    job_for: Callable[..., GatewayJob],
) -> None:
    owner = claims(OWNER)
    owner.claim(gateway.serial, gateway="roof")
    stored: list[PollResult] = []
    job = job_for(claims("envoylog/mine/2"), stored.append)
    for _ in range(2):
        assert job.run() is Outcome.ELSEWHERE
        sim_clock.advance(60)
    owner.close()  # the owner is gone: its lock is released
    pg_server.wait_closed(OWNER)
    assert job.run() is Outcome.POLLED
    first_poll: list[PollResult] = []
    job_for(None, first_poll.append).run()  # what a first poll of this gateway asks
    [poll] = stored
    assert [e.endpoint for e in poll.endpoints if e.ok] == [
        e.endpoint for e in first_poll[0].endpoints if e.ok
    ]
    assert job.health.polled_elsewhere is None


def test_the_status_says_which_process_polls_a_gateway_polled_elsewhere(
    tmp_path: Path,
    pg_url: str,
    gateway: SimulatedGateway,
    claims: Callable[[str], GatewayClaims],
    job_for: Callable[..., GatewayJob],
) -> None:
    owner_writer = Writer(pg_url, tmp_path / "owner-spool")
    assert job_for(claims(OWNER), owner_writer.write).run() is Outcome.POLLED
    worker = StoreWorker(Writer(pg_url, tmp_path / "spool"))
    job = job_for(claims("envoylog/mine/2"), worker.submit)
    assert job.run() is Outcome.ELSEWHERE
    status = tmp_path / "state" / "status.json"
    Service([job], worker, status_file=status).write_status()
    report = collect_status(pg_url, status, tmp_path / "spool")
    owner_writer.close()
    worker.writer.close()
    assert f"polled by another envoylog process ({OWNER})" in render(report)
    [listed] = as_json(report)["gateways"]
    assert listed["polled_elsewhere"] == OWNER
