"""The rollup of a compacted history equals the rollup before compaction."""

from __future__ import annotations

from pathlib import Path

import pytest
from demos import DEMOS, Demo
from exactness import compact_all, differences, load, readings, snapshot

from envoylog.db import Store


@pytest.mark.parametrize("demo", DEMOS, ids=lambda d: d.name)
def test_a_compacted_day_rolls_up_to_the_same_energy(
    demo: Demo, demo_databases: dict[str, Path], store: Store
) -> None:
    load(store, demo_databases[demo.name])
    before = snapshot(store)
    rows = readings(store)
    summary = compact_all(store)
    assert summary.days >= 1
    after = readings(store)
    assert all(after[table] <= rows[table] for table in rows)
    # Compacted, really: readings polled each minute keep far fewer than half. (Inverters
    # without a lifetime counter keep every report, and a counter that dips every few
    # minutes keeps every reading within 3 hours of each dip.)
    minute = ("meter_readings", "system_readings")
    assert sum(after[table] for table in minute) < sum(rows[table] for table in minute) / 2
    assert differences(before, snapshot(store)) == []
