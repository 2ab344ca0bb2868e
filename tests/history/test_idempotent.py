"""Compacting twice changes nothing, and a compacted day compacted again keeps its rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from demos import DEMOS
from exactness import compact_all, load, snapshot
from sqlalchemy import delete, select

from envoylog.db import Store
from envoylog.db.models import (
    compacted_days,
    inverter_readings,
    meter_readings,
    poll_endpoints,
    polls,
    system_readings,
)
from envoylog.energy.rollup import rollup
from envoylog.history.compact import compact

FAULTED = next(d for d in DEMOS if d.faults)  # a wrap, an hour's outage


def every_reading(store: Store) -> list[Any]:
    with store.reading("dumping") as conn:
        return [
            sorted(tuple(r) for r in conn.execute(select(t)))
            for t in (meter_readings, system_readings, inverter_readings, polls, poll_endpoints)
        ]


@pytest.fixture
def compacted(store: Store, demo_databases: dict[str, Path]) -> Store:
    load(store, demo_databases[FAULTED.name])
    snapshot(store)  # rolled up
    assert compact_all(store).days >= 1
    return store


def test_compacting_twice_changes_nothing(compacted: Store) -> None:
    rows = every_reading(compacted)
    assert compact_all(compacted).days == 0
    assert every_reading(compacted) == rows


def test_a_compacted_day_compacted_again_keeps_every_row(compacted: Store) -> None:
    rows = every_reading(compacted)
    with compacted.transaction("forgetting") as txn:
        txn.conn.execute(delete(compacted_days))
    again = compact_all(compacted)
    assert again.days >= 1 and again.readings_after == again.readings_before
    assert every_reading(compacted) == rows


def test_a_day_not_rolled_up_is_not_compacted(
    store: Store, demo_databases: dict[str, Path]
) -> None:
    load(store, demo_databases[FAULTED.name])
    rows = every_reading(store)
    assert compact_all(store).days == 0
    assert every_reading(store) == rows


def test_a_day_rolled_up_before_its_last_poll_is_left_as_polled(
    store: Store, demo_databases: dict[str, Path]
) -> None:
    load(store, demo_databases[FAULTED.name])
    rollup(store, now=datetime(2024, 6, 21, 12, tzinfo=UTC))  # while the day was logged
    rows = every_reading(store)
    summary = compact(
        store,
        now=datetime(2030, 1, 1, tzinfo=UTC),
        window_days=0,
        step=timedelta(minutes=30),
        before=date(2030, 1, 1),
    )
    assert summary.days == 0 and summary.skipped >= 1
    assert every_reading(store) == rows
