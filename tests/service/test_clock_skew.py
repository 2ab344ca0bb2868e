"""A gateway clock far from ours (QUIRKS 28; the issue's `envoylog simulate --speed 60`, whose
clock runs away from ours): its readings are kept out of energy, no local day counted twice."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from support import simulated_job

from envoylog.db import Writer, open_store
from envoylog.energy.rollup import rollup
from envoylog.service.worker import StoreWorker
from envoylog.simulator import PROFILES, ManualClock, SimulatedGateway

SITE = "metered-split-phase"  # CT meters, eim, /api/v1/production; New York
FIRST = date(2026, 6, 10)
DAYS = 3
TICK_S = 1800


def production_by_day(db_url: str) -> dict[str, float]:
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT day, production_wh FROM energy_daily"))
        found = {str(day): wh or 0.0 for day, wh in rows}
    engine.dispose()
    return found


def log_days(db_url: str, spool: Path, off: timedelta) -> dict[str, float]:
    """Our DAYS local days of the site, whose clock reads `off` from ours, logged by the
    service's job and store worker (rolled up hourly); what flowed in each of our days."""
    zone = ZoneInfo(PROFILES[SITE].timezone)
    start = datetime.combine(FIRST, time(0), zone)
    ours, theirs = ManualClock(start), ManualClock(start + off)
    monotonic = [0.0]
    worker = StoreWorker(Writer(db_url, spool), monotonic=lambda: monotonic[0])
    with SimulatedGateway(SITE, clock=theirs) as gateway:
        client, job = simulated_job(gateway, ours, worker.submit, tick_s=TICK_S)
        worker.start()
        try:
            for _ in range(DAYS * 86400 // TICK_S + 1):
                job.run()
                worker.queue.join()
                for clock in (ours, theirs):
                    clock.advance(TICK_S)
                monotonic[0] += TICK_S
        finally:
            worker.stop()
            worker.join(60)
            client.close()
        truth = {}
        for k in range(DAYS):
            day = FIRST + timedelta(days=k)
            lo = datetime.combine(day, time(0), zone) + off
            truth[str(day)] = gateway.truth(lo, lo + timedelta(days=1))["production"]
    return truth


def assert_each_day_counted_once(logged: dict[str, float], truth: dict[str, float]) -> None:
    for day, produced in truth.items():
        assert produced > 10_000
        assert logged[day] == pytest.approx(produced, rel=0.02), day
    # Days on the gateway's clock but not on ours: nothing flowed in them.
    assert {day: wh for day, wh in logged.items() if day not in truth and wh} == {}


@pytest.mark.parametrize("off_days", [2.5, -2.5], ids=["ahead", "behind"])
def test_a_gateway_clock_days_off_counts_each_day_once(tmp_path: Path, off_days: float) -> None:
    # Before (2.5 days ahead): our first day came from /api/v1/production (our clock), 61.6
    # kWh as it should; two days later the rollups found CT readings stamped on the third
    # day, took the days from the CT meters: the second day 0, the third 37.3 kWh of the
    # first day's energy counted again, and a fourth day not yet begun here 60.3 kWh.
    db_url = f"sqlite:///{tmp_path / 'skew.sqlite'}"
    truth = log_days(db_url, tmp_path / "spool", timedelta(days=off_days))

    assert_each_day_counted_once(production_by_day(db_url), truth)
    # And a full recompute of every day on either clock (`envoylog rollup --from --to`).
    with open_store(db_url) as store:
        rollup(store, start=FIRST - timedelta(days=3), end=FIRST + timedelta(days=DAYS + 3))
    assert_each_day_counted_once(production_by_day(db_url), truth)
