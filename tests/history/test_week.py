"""A week with a wrap, restart zeros, a counter reset, a gap across midnight and a DST day
rolls up to the same energy, coverage and counter events once compacted."""

from __future__ import annotations

from exactness import compact_all, differences, readings, snapshot
from week import fill, local_days

from envoylog.db import Store


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
