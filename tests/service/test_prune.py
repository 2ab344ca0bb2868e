"""The store worker deletes raw bodies past their keeping time (raw_body_days): at start,
then hourly, as of the newest poll written; readings stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from envoylog.client import Credentials, GatewayClient
from envoylog.db import StoreOptions, Writer
from envoylog.service.jobs import GatewayJob
from envoylog.service.worker import PRUNE_INTERVAL_S, StoreWorker
from envoylog.simulator import ManualClock, SimulatedGateway

START = datetime(2026, 6, 10, 16, 0, tzinfo=UTC)


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
