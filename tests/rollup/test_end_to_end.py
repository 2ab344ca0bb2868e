"""A simulated day logged by the service's job and store worker, rolled up, against the truth."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from builders import table

from envoylog.db import open_store
from envoylog.demo import FLOWS, run_demo

DAY = date(2026, 3, 29)  # Europe/London springs forward: a 23-hour day


def test_a_logged_day_rolls_up_to_the_simulators_truth(db_url: str, tmp_path: Path) -> None:
    result = run_demo(tmp_path / "e2e", profile="eu-single-phase-storage", day=DAY, db_url=db_url)

    logged, truth = result.energy[DAY], result.truth_days[DAY]
    assert logged["coverage"] == pytest.approx(1.0)
    for column, flow in FLOWS.items():
        assert truth[flow] > 100, flow
        assert logged[column] == pytest.approx(truth[flow], rel=1e-3), flow
    with open_store(db_url, migrate=False) as store:
        hours = [
            h
            for h in table(store, "energy_hourly", "start_at")
            if h["local_start"][:10] == str(DAY)
        ]
        inverters = [
            r
            for r in table(store, "inverter_daily", "inverter_id, day")
            if r["day"] in (DAY, str(DAY))
        ]
    assert len(hours) == 23
    assert sum(h["production_wh"] for h in hours) == pytest.approx(truth["production"], rel=1e-3)
    # Inverters count at their own terminals and their reports straddle dawn and
    # dusk; the production CT counts at the panel. 1% allows for both.
    assert len(inverters) == 8
    assert sum(r["wh"] for r in inverters) == pytest.approx(truth["production"], rel=1e-2)
    assert {r["source"] for r in inverters} == {"lifetime"}
