"""The store worker deletes raw bodies past their keeping time (raw_body_days): at start,
then hourly, as of the newest poll written; readings stay."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parents[1] / "db"))  # factories.py
from factories import at, make_poll

from envoylog.client import Credentials, GatewayClient
from envoylog.db import StoreOptions, Writer
from envoylog.service.jobs import GatewayJob
from envoylog.service.worker import PRUNE_INTERVAL_S, StoreWorker
from envoylog.simulator import ManualClock, SimulatedGateway

START = datetime(2026, 6, 10, 16, 0, tzinfo=UTC)
MINE, THEIRS = "122000000001", "122000000002"


def counts(db_url: str) -> tuple[int, int, int]:
    """Raw bodies of the first day, raw bodies since, and meter readings."""
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        first_day, since = (
            conn.execute(
                sa.text(f"SELECT count(*) FROM raw_bodies WHERE fetched_at {op} :cut"),
                {"cut": START + timedelta(days=1)},
            ).scalar_one()
            for op in ("<", ">=")
        )
        readings = conn.execute(sa.text("SELECT count(*) FROM meter_readings")).scalar_one()
    engine.dispose()
    return first_day, since, readings


def test_raw_bodies_past_their_keeping_time_are_deleted_hourly(tmp_path: Path) -> None:
    sim_clock = ManualClock(START)
    monotonic = [0.0]
    db_url = f"sqlite:///{tmp_path / 'prune.sqlite'}"
    writer = Writer(db_url, tmp_path / "spool", options=StoreOptions(raw_body_days=1))
    worker = StoreWorker(writer, rollup_interval_s=None, monotonic=lambda: monotonic[0])
    with SimulatedGateway("metered-split-phase", clock=sim_clock) as gateway:
        client = GatewayClient(gateway.url, credentials=Credentials(token=gateway.token))
        job = GatewayJob(
            name="roof",
            client=client,
            submit=worker.submit,
            cadences={},
            tick_s=600,
            quiet=None,
            clock=lambda: datetime.fromtimestamp(sim_clock.now(), tz=UTC),
        )

        def poll() -> tuple[int, int, int]:
            job.run()
            worker.queue.join()
            sim_clock.advance(600)
            return counts(db_url)

        worker.start()
        try:
            first_day, _, _ = poll()  # pruned at start: nothing had expired
            sim_clock.advance(2 * 86400)
            kept = poll()  # two days on, but the next prune is not due for an hour
            monotonic[0] = PRUNE_INTERVAL_S
            after = poll()
        finally:
            worker.stop()
            worker.join(60)
            client.close()

    assert first_day > 0 and kept[0] == first_day  # expired, still there until due
    assert after[0] == 0  # the first day's bodies are gone
    assert after[1] > kept[1] > 0  # the fresh ones stay
    assert after[2] > kept[2] > 0  # readings are never pruned
    assert worker.pruned == first_day


def raw_bodies_of(db_url: str, serial: str) -> int:
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        count = conn.execute(
            sa.text(
                "SELECT count(*) FROM raw_bodies r JOIN polls p ON p.id = r.poll_id "
                "JOIN gateways g ON g.id = p.gateway_id WHERE g.serial = :serial"
            ),
            {"serial": serial},
        ).scalar_one()
    engine.dispose()
    return int(count)


def prune_beside_another_process(
    db_url: str, tmp_path: Path, *, own_gateways_only: bool
) -> dict[str, int]:
    """A worker stores two polls of its gateway two days apart, in a database where another
    process stored one poll of its own: what each had, and what was pruned."""
    options = StoreOptions(raw_body_days=1)
    other = Writer(db_url, tmp_path / "their-spool", options=options)
    other.write(make_poll(at(0), serial=THEIRS))
    other.close()
    monotonic = [0.0]
    worker = StoreWorker(
        Writer(db_url, tmp_path / "spool", options=options),
        rollup_interval_s=None,
        monotonic=lambda: monotonic[0],
        own_gateways_only=own_gateways_only,
    )
    worker.start()
    try:
        worker.submit(make_poll(at(0), serial=MINE))
        worker.queue.join()
        mine_first = raw_bodies_of(db_url, MINE)
        monotonic[0] = PRUNE_INTERVAL_S  # the next prune is due, two days on
        worker.submit(make_poll(at(2 * 24 * 60), serial=MINE))
        worker.queue.join()
    finally:
        worker.stop()
        worker.join(60)
    return {
        "mine_first": mine_first,
        "theirs_left": raw_bodies_of(db_url, THEIRS),
        "pruned": worker.pruned,
    }


def test_a_worker_sharing_its_database_prunes_only_the_gateways_it_stores(
    db_url: str, tmp_path: Path
) -> None:
    found = prune_beside_another_process(db_url, tmp_path, own_gateways_only=True)
    assert found["mine_first"] > 0 and found["pruned"] == found["mine_first"]
    assert found["theirs_left"] > 0  # expired too, but not this worker's gateway


def test_a_worker_alone_on_its_database_prunes_every_gateway(db_url: str, tmp_path: Path) -> None:
    found = prune_beside_another_process(db_url, tmp_path, own_gateways_only=False)
    assert found["theirs_left"] == 0
    assert found["pruned"] > found["mine_first"] > 0
