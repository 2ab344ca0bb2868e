"""A compacted day's poll log: readers see the same gaps and coverage from fewer polls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from demos import DEMOS
from exactness import compact_all, load, poll_log, poll_log_differences, snapshot
from sqlalchemy import func, select
from week import fill

from envoylog.db import Store
from envoylog.db.models import poll_endpoints, polls
from envoylog.history.plan import thin_poll_log

FAULTED = next(d for d in DEMOS if d.faults)  # three-phase, 36 inverters, a wrap, an outage
T0 = datetime(2024, 6, 1, tzinfo=UTC)
GAP = timedelta(minutes=30)


def minutes(*at: int) -> list[datetime]:
    return [T0 + timedelta(minutes=m) for m in at]


def kept(at: list[datetime], chain: list[bool], forced: list[bool] | None = None) -> list[int]:
    keep = thin_poll_log(at, [chain], forced or [False] * len(at), GAP)
    return [int((t - T0).total_seconds() // 60) for t, k in zip(at, keep, strict=True) if k]


def test_a_chain_of_minute_polls_keeps_one_within_every_half_hour_and_its_ends() -> None:
    at = minutes(*range(0, 100))
    assert kept(at, [True] * 100) == [0, 29, 58, 87, 99]


def test_polls_exactly_half_an_hour_apart_are_kept_as_they_were() -> None:
    at = minutes(0, 30, 60, 61, 62, 90)
    assert kept(at, [True] * 6) == [0, 30, 60, 62, 90]


def test_both_ends_of_a_gap_are_kept() -> None:
    at = minutes(*range(0, 20), *range(60, 80))
    assert kept(at, [True] * 40) == [0, 19, 60, 79]


def test_forced_polls_are_kept_and_the_chain_counts_from_them() -> None:
    at = minutes(*range(0, 70))
    forced = [m == 10 for m in range(70)]
    assert kept(at, [True] * 70, forced) == [0, 10, 39, 68, 69]


def test_polls_outside_the_chain_do_not_bridge_it() -> None:
    at = minutes(*range(0, 70))
    chain = [m % 5 == 0 for m in range(70)]  # inverter endpoints every 5 minutes
    assert kept(at, chain) == [0, 25, 50, 65]


def test_a_compacted_week_of_minute_polls_keeps_about_one_poll_in_thirty(store: Store) -> None:
    fill(store)
    snapshot(store)
    with store.reading("counting") as conn:
        count = conn.execute(select(func.count()).select_from(polls)).scalar_one()
    compact_all(store)
    with store.reading("counting") as conn:
        assert conn.execute(select(func.count()).select_from(polls)).scalar_one() < count / 20


def test_a_compacted_poll_log_keeps_fewer_polls_and_what_readers_see(
    store: Store, demo_databases: dict[str, Path]
) -> None:
    load(store, demo_databases[FAULTED.name])
    snapshot(store)
    with store.reading("counting") as conn:
        before = poll_log(conn)
        count = conn.execute(select(func.count()).select_from(polls)).scalar_one()
        endpoints = conn.execute(select(func.count()).select_from(poll_endpoints)).scalar_one()
    assert compact_all(store).days >= 1
    with store.reading("counting") as conn:
        assert poll_log_differences(before, poll_log(conn)) == []
        assert conn.execute(select(func.count()).select_from(polls)).scalar_one() < count / 5
        fewer = conn.execute(select(func.count()).select_from(poll_endpoints)).scalar_one()
    assert fewer < endpoints / 5
