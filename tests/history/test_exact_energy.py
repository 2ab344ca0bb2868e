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
    assert sum(readings(store).values()) < sum(rows.values()) * 0.8  # compacted, really
    assert differences(before, snapshot(store)) == []
