"""The store worker's hourly rollups recompute only the days new readings reach back to;
its 6-hourly pass over the last two days leaves the tables as a full recompute would."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from envoylog.client import Credentials, GatewayClient
from envoylog.db import Spool, Writer, open_store
from envoylog.energy.rollup import rollup
from envoylog.jobs import GatewayJob
from envoylog.scheduler import FULL_ROLLUP_EVERY_S, ROLLUP_INTERVAL_S, StoreWorker
from envoylog.simulator import ManualClock, SimulatedGateway

TABLES = ("energy_hourly", "energy_daily", "energy_monthly", "inverter_daily")
TICK_S = 600


def energy_rows(db_url: str) -> dict[str, list[tuple[object, ...]]]:
    engine = sa.create_engine(db_url)
    found = {}
    with engine.connect() as conn:
        for table in TABLES:
            result = conn.execute(sa.text(f"SELECT * FROM {table}"))
            keep = [i for i, name in enumerate(result.keys()) if name != "computed_at"]
            found[table] = sorted(tuple(row[i] for i in keep) for row in result)
    engine.dispose()
    return found


def recomputed(db_file: Path) -> dict[str, list[tuple[object, ...]]]:
    """The energy tables after a full recompute of every day, done on a copy."""
    copy = db_file.with_name("recomputed.sqlite")
    copy.unlink(missing_ok=True)
    with closing(sqlite3.connect(db_file)) as source, closing(sqlite3.connect(copy)) as target:
        source.backup(target)  # what the WAL holds too
    with open_store(f"sqlite:///{copy}") as store:
        rollup(store)
    return energy_rows(f"sqlite:///{copy}")


def test_rolling_rollups_across_a_night_gap_match_a_full_recompute(tmp_path: Path) -> None:
    # metered-split-phase is in New York: polls 20:00-22:00 on 10 June, none until
    # 04:00 on 11 June, then until 06:00. The 04:00 poll's energy reaches back into
    # 10 June, which the hourly rollup after it must recompute.
    sim_clock = ManualClock(datetime(2026, 6, 11, 0, 0, tzinfo=UTC))
    monotonic = [0.0]
    db_file = tmp_path / "rolling.sqlite"
    db_url = f"sqlite:///{db_file}"
    worker = StoreWorker(Writer(db_url, Spool(tmp_path / "spool")), monotonic=lambda: monotonic[0])
    with SimulatedGateway("metered-split-phase", clock=sim_clock) as gateway:
        client = GatewayClient(gateway.url, credentials=Credentials(token=gateway.token))
        job = GatewayJob(
            name="roof",
            client=client,
            submit=worker.submit,
            cadences={},
            tick_s=TICK_S,
            quiet=None,
            clock=lambda: datetime.fromtimestamp(sim_clock.now(), tz=UTC),
        )

        def poll(then_wait_s: float) -> None:
            job.run()
            worker.queue.join()  # written, and rolled up when due
            sim_clock.advance(TICK_S)
            monotonic[0] += then_wait_s

        worker.start()
        try:
            for _ in range(2):
                for _ in range(13):
                    poll(TICK_S)  # a rolling rollup every 6 polls
                sim_clock.advance(6 * 3600 - TICK_S)
            poll(ROLLUP_INTERVAL_S)
            poll(0)
            assert worker.rollups == 26 * TICK_S // ROLLUP_INTERVAL_S + 1
            rolling = energy_rows(db_url)
            after_rolling = recomputed(db_file)
            poll(FULL_ROLLUP_EVERY_S)
            poll(0)
            after_full_pass = energy_rows(db_url)
        finally:
            worker.stop()
            worker.join(60)
            client.close()

    assert {row[1] for row in rolling["energy_daily"]} >= {"2026-06-10", "2026-06-11"}
    # The gateway's counters (CT meters) reach back only: the rolling rollups are exact.
    for table in ("energy_hourly", "energy_daily", "energy_monthly"):
        assert rolling[table] == after_rolling[table]
    # An inverter's last day can still move with the reports after it: the pass settles it.
    assert after_full_pass == recomputed(db_file)
