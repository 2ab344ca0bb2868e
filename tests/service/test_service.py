"""The service loop: shutdown mid-poll, a database outage, order and completeness of polls."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
import sqlalchemy as sa
from fakes import INFO, PRODUCTION, Answer, FakeGateway
from pg_server import PostgresServer
from support import SAMPLE_DATA, make_jwt

from envoylog import endpoints as ep
from envoylog.client import Credentials, GatewayClient
from envoylog.db import Spool, Writer
from envoylog.poller import STOPPING
from envoylog.service import scheduler as scheduler_module
from envoylog.service.jobs import GatewayJob, Outcome
from envoylog.service.scheduler import Service, first_spread_s
from envoylog.service.status import collect_status, render
from envoylog.service.worker import HOLD_FIRST_POLLS_AT, StoreWorker
from envoylog.simulator.replay import ReplayServer

START = datetime(2024, 6, 1, 10, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


# Jobs on the real clock are made with quiet=None: the default quiet window (22:55-23:10
# local, UTC here) would otherwise skip their polls when the suite runs in those minutes.


class BlockingGateway(FakeGateway):
    """Holds /production.json until released, to stop the service mid-poll."""

    def __init__(self) -> None:
        super().__init__({"/info": Answer(200, INFO, "text/xml")})
        self.entered = threading.Event()
        self.release = threading.Event()

    def get(self, path: str) -> Answer:
        if path.startswith("/production.json"):
            self.asked.append(path)
            self.entered.set()
            assert self.release.wait(10)
            return Answer(200, PRODUCTION)
        return super().get(path)


def poll_rows(db_url: str) -> list[tuple[datetime, int]]:
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "select p.started_at, count(e.endpoint) from polls p "
                "join poll_endpoints e on e.poll_id = p.id group by p.id, p.started_at "
                "order by p.id"
            )
        ).all()
    engine.dispose()
    return [
        (r[0] if isinstance(r[0], datetime) else datetime.fromisoformat(r[0]), r[1]) for r in rows
    ]


def test_stop_mid_poll_finishes_and_stores_the_poll(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'stop.sqlite'}"
    gateway = BlockingGateway()
    worker = StoreWorker(Writer(db_url, tmp_path / "spool"))
    job = GatewayJob(name="roof", client=gateway, submit=worker.submit, cadences={}, quiet=None)
    service = Service([job], worker)
    service.start()
    assert gateway.entered.wait(10), "the first poll never reached /production.json"
    stopper = threading.Thread(target=service.stop)
    stopper.start()
    gateway.release.set()
    stopper.join(20)
    assert not stopper.is_alive()
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        stored = dict(conn.execute(sa.text("select endpoint, error from poll_endpoints")).all())
    engine.dispose()
    # The whole poll: what it asked, answered; what came after the stop, not asked.
    assert len(gateway.asked) < len(stored)
    assert stored["production_json"] is None
    not_asked = {e for e, error in stored.items() if error == STOPPING}
    assert not_asked and all(ep.BY_NAME[e].path not in gateway.asked for e in not_asked)


def drain(worker: StoreWorker) -> None:
    """Wait (bounded) until the store worker has handled everything handed to it."""
    for _ in range(600):
        if worker.queue.unfinished_tasks == 0:
            return
        threading.Event().wait(0.05)
    raise AssertionError("the store worker did not catch up within 30 s")


@pytest.mark.postgres
def test_ten_minute_database_outage_loses_nothing(
    private_pg: PostgresServer, tmp_path: Path
) -> None:
    db_url = private_pg.create_database("outage")
    clock = Clock()
    writer = Writer(db_url, tmp_path / "spool", probe_every_s=0)  # probe at every poll
    spool = writer.spool
    worker = StoreWorker(writer)
    worker.start()
    folder = SAMPLE_DATA / "metered-split-phase"
    with ReplayServer(folder, tls=True) as server:
        client = GatewayClient(server.url, credentials=Credentials(token=make_jwt()), retries=0)
        cadences = {"production_json": 5, "meter_readings": 5}
        job = GatewayJob(
            name="roof",
            client=client,
            submit=worker.submit,
            cadences=cadences,
            tick_s=5,
            clock=clock,
        )

        def tick(count: int) -> None:
            for _ in range(count):
                assert job.run() is Outcome.POLLED
                clock.now += timedelta(seconds=5)

        tick(12)  # one minute with the database up
        drain(worker)
        private_pg.stop("immediate")
        tick(120)  # ten minutes down: every poll goes to the spool
        drain(worker)
        assert len(spool) == 120
        private_pg.start_again()
        tick(12)  # back: the spool is replayed first, then new polls
        worker.stop()
        worker.join(60)
        client.close()
    rows = poll_rows(db_url)
    expected = [START + timedelta(seconds=5 * i) for i in range(144)]
    assert [started for started, _ in rows] == expected  # none lost, none doubled, in order
    assert len(spool) == 0 and worker.spooled > 0


def test_a_hung_gateway_never_delays_a_healthy_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db_url = f"sqlite:///{tmp_path / 'two.sqlite'}"
    hung = BlockingGateway()
    healthy = FakeGateway(
        {
            "/info": Answer(200, INFO.replace(b"122000000001", b"122000000002"), "text/xml"),
            "/production.json?details=1": Answer(200, PRODUCTION),
        }
    )
    worker = StoreWorker(Writer(db_url, tmp_path / "spool"))
    jobs = [
        GatewayJob(
            name=name,
            client=client,
            submit=worker.submit,
            cadences={"production_json": 1},
            tick_s=1,
            quiet=None,  # the real clock: this test must not depend on the hour
        )
        for name, client in (("hung", hung), ("healthy", healthy))
    ]
    service = Service(jobs, worker)
    caplog.set_level(logging.WARNING)
    service.start()
    try:
        assert hung.entered.wait(10)
        # While the first gateway hangs, the second keeps being polled every second.
        deadline = threading.Event()
        for _ in range(100):
            if healthy.asked.count("/production.json?details=1") >= 4:
                break
            deadline.wait(0.1)
        assert healthy.asked.count("/production.json?details=1") >= 4
    finally:
        hung.release.set()
        service.stop()
    assert hung.asked.count("/production.json?details=1") >= 1
    # One line for the stuck gateway, instead of a scheduler warning at every tick.
    stuck = [r.getMessage() for r in caplog.records if "gateway_stuck" in r.getMessage()]
    assert len(stuck) == 1 and "gateway=hung waiting_for=/production.json" in stuck[0]
    assert "maximum number of running instances" not in caplog.text


def test_polls_left_in_the_spool_by_an_earlier_run_are_rolled_up(tmp_path: Path) -> None:
    from envoylog.simulator import ManualClock, SimulatedGateway

    day_start = datetime(2026, 6, 10, 14, 0, tzinfo=UTC)  # 10:00 in New York, long ago
    sim_clock = ManualClock(day_start)
    db_url = f"sqlite:///{tmp_path / 'later.sqlite'}"
    spool = Spool(tmp_path / "spool", db_url)
    with SimulatedGateway("metered-split-phase", clock=sim_clock) as gateway:
        client = GatewayClient(gateway.url, credentials=Credentials(token=gateway.token))
        job = GatewayJob(
            name="roof",
            client=client,
            submit=spool.put,  # an earlier run that spooled every poll
            cadences={},
            tick_s=600,
            quiet=None,
            clock=lambda: datetime.fromtimestamp(sim_clock.now(), tz=UTC),
        )
        for _ in range(12):  # two hours of polls, all spooled
            job.run()
            sim_clock.advance(600)
        client.close()
    assert len(spool) == 12

    worker = StoreWorker(Writer(db_url, tmp_path / "spool"))
    assert worker.replay_spool().replayed == 12
    worker.start()
    worker.stop()
    worker.join(60)
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        produced = conn.execute(
            sa.text("select production_wh from energy_daily where day = '2026-06-10'")
        ).scalar_one()
    engine.dispose()
    assert produced is not None and produced > 0
    # What `envoylog status` and the benchmarks read; its folder made when missing.
    status = tmp_path / "state" / "envoylog" / "status.json"
    Service([], worker, status_file=status).write_status()
    assert json.loads(status.read_text())["rollup_rounds"] == 1


def test_a_fleet_starts_spread_over_one_tick(tmp_path: Path) -> None:
    worker = StoreWorker(Writer(f"sqlite:///{tmp_path / 'f.sqlite'}", tmp_path / "s"))
    jobs = [
        GatewayJob(name=f"g{i}", client=FakeGateway({}), submit=worker.submit, cadences={})
        for i in range(4)
    ]
    service = Service(jobs, worker)
    service.start()
    # The first job may already have run; the others wait for their slot in the minute.
    firsts = sorted(
        j.next_run_time
        for j in service.scheduler.get_jobs()
        if j.id.startswith("gateway-") and not j.id.startswith("gateway-0-")
    )
    service.stop()
    gaps = [(b - a).total_seconds() for a, b in pairwise(firsts)]
    assert gaps == pytest.approx([15.0, 15.0], abs=0.5)


def test_a_large_fleet_spreads_its_first_polls_over_whole_ticks(tmp_path: Path) -> None:
    worker = StoreWorker(Writer(f"sqlite:///{tmp_path / 'f.sqlite'}", tmp_path / "s"))
    jobs = [
        GatewayJob(name=f"g{i}", client=FakeGateway({}), submit=worker.submit, cadences={})
        for i in range(4)
    ]
    # Four gateways "large" at a first-poll rate of one every 25 s: over two ticks.
    service = Service(jobs, worker, first_polls_per_s=0.04)
    service.start()
    firsts = [job.first_tick_at for job in jobs]
    service.stop()
    gaps = [(b - a).total_seconds() for a, b in pairwise(firsts)]  # type: ignore[operator]
    assert gaps == pytest.approx([30.0, 30.0, 30.0], abs=0.5)
    # Each gateway's later ticks stay spread over the minute, half a minute apart.
    phases = sorted((t - firsts[0]).total_seconds() % 60 for t in firsts)  # type: ignore[operator]
    assert phases == pytest.approx([0.0, 0.0, 30.0, 30.0], abs=0.5)


def test_first_polls_wait_while_the_store_falls_behind_and_nothing_is_spooled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A fleet starting faster than its store keeps up holds its gateways' first polls
    (a tick each, counted and said) instead of filling the queue, then the spool."""
    url = f"sqlite:///{tmp_path / 'f.sqlite'}"
    worker = StoreWorker(Writer(url, tmp_path / "s"), queue_size=1000)
    gateway = FakeGateway(
        {
            "/info": Answer(200, INFO, "text/xml"),
            "/production.json?details=1": Answer(200, PRODUCTION),
        }
    )
    now = [datetime.now(tz=UTC)]
    jobs = [
        GatewayJob(
            name=f"g{i}",
            client=gateway,
            submit=worker.submit,
            cadences={},
            quiet=None,
            clock=lambda: now[0],
        )
        for i in range(3)
    ]
    status = tmp_path / "status.json"
    service = Service(jobs, worker, status_file=status)  # not started: no thread runs a job
    started = jobs[0].run()  # the store keeps up: the first gateway starts
    for _ in range(HOLD_FIRST_POLLS_AT - 2):
        worker.submit(worker.queue.queue[0][1])  # the store falls behind: its queue grows
    now[0] += timedelta(minutes=1)
    with caplog.at_level(logging.WARNING, logger="envoylog.service.scheduler"):
        held = [job.run() for job in jobs]
        service.heartbeat()
    assert started is Outcome.POLLED
    assert held == [Outcome.POLLED, Outcome.HELD, Outcome.HELD]  # a started gateway polls on
    assert worker.queue.qsize() == HOLD_FIRST_POLLS_AT
    assert worker.spilled == 0 and len(worker.writer.spool) == 0
    document = json.loads(status.read_text())
    assert document["first_polls_held"] == 2 and document["gateways_not_started"] == 2
    said = [r.getMessage() for r in caplog.records if "first_polls_held" in r.getMessage()]
    assert len(said) == 1 and "count=2 waiting=2" in said[0]
    assert "2 first polls held a tick" in render(collect_status(url, status, tmp_path / "s"))
    while worker.queue.qsize():  # the store catches up
        worker.queue.get_nowait()
    assert [job.run() for job in jobs[1:]] == [Outcome.POLLED, Outcome.POLLED]
    assert all(job.started for job in jobs) and service.held == 2


def test_first_polls_are_spread_over_one_tick_until_the_rate_needs_more() -> None:
    assert first_spread_s(1, 60) == first_spread_s(1200, 60) == 60
    assert first_spread_s(1201, 60) == 120
    assert first_spread_s(5000, 60) == 300
    assert first_spread_s(5000, 300) == 300


def test_the_heartbeat_runs_while_every_poll_worker_is_busy(tmp_path: Path) -> None:
    """The watchdog and the status file must not wait behind a fleet's queued polls."""
    db_url = f"sqlite:///{tmp_path / 'busy.sqlite'}"
    gateway = BlockingGateway()
    worker = StoreWorker(Writer(db_url, tmp_path / "spool"))
    job = GatewayJob(name="roof", client=gateway, submit=worker.submit, cadences={}, quiet=None)
    status = tmp_path / "status.json"
    service = Service([job], worker, max_workers=1, status_file=status, heartbeat_s=0.2)
    service.start()
    try:
        assert gateway.entered.wait(10), "the first poll never reached /production.json"
        seen: set[str] = set()
        deadline = datetime.now(tz=UTC) + timedelta(seconds=5)
        while len(seen) < 3 and datetime.now(tz=UTC) < deadline:
            with contextlib.suppress(FileNotFoundError, ValueError):  # not written yet
                seen.add(json.loads(status.read_text())["updated_at"])
            time.sleep(0.05)
        assert len(seen) >= 3, "the heartbeat stalled behind the blocked poll"
    finally:
        gateway.release.set()
        service.stop()


def test_a_full_store_queue_sends_polls_to_the_spool_and_loses_none(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'full.sqlite'}"
    worker = StoreWorker(Writer(db_url, tmp_path / "spool"), queue_size=2, rollup_interval_s=None)
    gateway = FakeGateway(
        {
            "/info": Answer(200, INFO, "text/xml"),
            "/production.json?details=1": Answer(200, PRODUCTION),
        }
    )
    clock = Clock()
    job = GatewayJob(
        name="roof",
        client=gateway,
        submit=worker.submit,
        cadences={"production_json": 60},
        clock=clock,
        quiet=None,
    )
    for _ in range(5):  # the worker is not running: the queue fills, then the spool
        assert job.run() is Outcome.POLLED
        clock.now += timedelta(minutes=1)
    assert worker.queue.qsize() == 2 and len(worker.writer.spool) == 3
    assert worker.spilled == 3
    worker.start()
    worker.stop()
    worker.join(30)
    naive = START.replace(tzinfo=None)  # as SQLite gives it back
    assert [started for started, _ in poll_rows(db_url)] == [
        naive + timedelta(minutes=m) for m in range(5)
    ]
    assert len(worker.writer.spool) == 0


def test_a_tick_that_cannot_start_in_time_is_skipped_counted_and_said_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A service that fell behind sheds the late polls instead of staying behind: with the
    one poll thread held by a hung gateway, the other gateway's tick passes unpolled (it
    could not start within the limit, though within its 4 s tick), and the next is polled."""
    monkeypatch.setattr(scheduler_module, "LATE_LIMIT_S", 1)
    db_url = f"sqlite:///{tmp_path / 'late.sqlite'}"
    worker = StoreWorker(Writer(db_url, tmp_path / "spool"), rollup_interval_s=None)
    hung = BlockingGateway()
    other = FakeGateway({"/info": Answer(200, INFO, "text/xml")})
    jobs = [
        GatewayJob(
            name=name, client=client, submit=worker.submit, cadences={}, tick_s=4, quiet=None
        )
        for name, client in (("roof", hung), ("barn", other))
    ]
    status = tmp_path / "status.json"
    service = Service(jobs, worker, max_workers=1, status_file=status)
    with caplog.at_level(logging.WARNING):
        service.start()
        try:
            assert hung.entered.wait(10)
            time.sleep(4.5)  # barn's first tick (at 2 s) waits behind roof's poll
            hung.release.set()
            time.sleep(0.5)
            assert other.asked == [] and service.skipped >= 1
            deadline = time.monotonic() + 6
            while not other.asked and time.monotonic() < deadline:
                time.sleep(0.05)
            assert other.asked, "the tick after the skipped one was not polled"
        finally:
            hung.release.set()
            service.stop()
    said = [r.getMessage() for r in caplog.records if "polls_skipped" in r.getMessage()]
    assert len(said) == 1 and f"total={service.skipped}" in said[0]
    assert not [r for r in caplog.records if r.getMessage().startswith("Run time of job")]
    assert json.loads(status.read_text())["ticks_skipped"] == service.skipped
