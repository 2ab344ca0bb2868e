"""A week with a wrap, restart zeros, a counter reset, a gap across midnight and a DST day
rolls up to the same energy, coverage and counter events once compacted."""

from __future__ import annotations

from exactness import compact_all, differences, readings, snapshot
from sqlalchemy import String, func, select
from week import fill, local_days

from envoylog.db import Store
from envoylog.db.models import inverter_readings


def test_a_compacted_week_with_every_counter_fault_rolls_up_the_same(store: Store) -> None:
    fill(store)
    before = snapshot(store)
    kinds = {kind for _, _, kind, _ in before["events"]}
    assert {"counter-wrap", "counter-glitch", "counter-reset"} <= kinds  # the faults are there
    rows = readings(store)
    summary = compact_all(store)
    assert summary.days == len(local_days()) + 1  # and the partial day after
    assert sum(readings(store).values()) < sum(rows.values()) / 5
    assert differences(before, snapshot(store)) == []


def test_inverter_reports_of_a_day_produced_by_a_ct_keep_the_half_hours_alone(
    store: Store,
) -> None:
    fill(store)
    snapshot(store)  # production from the CT: inverter lifetimes only make inverter days
    compact_all(store)
    r = inverter_readings.c
    day = func.substr(func.cast(r.reported_at, String), 1, 10)
    per_day = select(func.count()).select_from(inverter_readings).group_by(r.inverter_id, day)
    with store.reading("counting") as conn:
        counts = sorted(conn.execute(per_day).scalars())
    # 5-minute reports: the first of each half hour and the last before midnight, not
    # also the last of each hour (73 a day)
    assert counts[len(counts) // 2] <= 50
