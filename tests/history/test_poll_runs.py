"""A compacted day's poll log as runs: fewer rows, and readers see what they saw."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from demos import DEMOS
from exactness import compact_all, load, poll_log, poll_log_differences, snapshot
from sqlalchemy import delete, func, select, update

from envoylog.db import Store
from envoylog.db.energy import last_poll_start
from envoylog.db.models import gateways, poll_endpoints, polls
from envoylog.db.poll_log import Fetch, LoggedPoll
from envoylog.db.report import gaps
from envoylog.history.poll_runs import RUN_BOUND, plan_runs

FAULTED = next(d for d in DEMOS if d.faults)  # three-phase, 36 inverters, a wrap, an outage
T0 = datetime(2024, 6, 1, tzinfo=UTC)
METERS = {"production_json": Fetch(200, 40), "meter_readings": Fetch(200, 60)}
INVERTERS = {**METERS, "device_data": Fetch(200, 900)}


def poll(
    seconds: float, *, foldable: bool = True, fetches: dict[str, Fetch] | None = None
) -> LoggedPoll:
    at = T0 + timedelta(seconds=seconds)
    return LoggedPoll(int(seconds), at, at + timedelta(seconds=2), foldable, fetches or METERS)


def runs(*logged: LoggedPoll) -> list[list[int]]:
    """Each run's polls, by their second."""
    return [list(run.ids) for run in plan_runs(list(logged))]


def test_minute_polls_fold_into_one_run() -> None:
    assert runs(*(poll(60 * m) for m in range(5))) == [[0, 60, 120, 180, 240]]


def test_a_run_breaks_where_polls_are_just_over_the_bound_apart() -> None:
    bound = RUN_BOUND.total_seconds()
    found = runs(poll(0), poll(60), poll(60 + bound), poll(60 + 2 * bound + 1), poll(1e4))
    assert found == [[0, 60, 60 + int(bound)]]


def test_a_poll_that_must_stay_as_polled_breaks_the_run() -> None:
    found = runs(poll(0), poll(60), poll(120, foldable=False), poll(180), poll(240))
    assert found == [[0, 60], [180, 240]]


def test_a_lone_poll_is_no_run() -> None:
    assert runs(poll(0), poll(60, foldable=False), poll(120), poll(180, foldable=False)) == []


def test_a_run_breaks_where_an_endpoint_answers_with_another_status() -> None:
    other = {**METERS, "meter_readings": Fetch(203, 60)}
    assert runs(poll(0), poll(60), poll(120, fetches=other), poll(180, fetches=other)) == [
        [0, 60],
        [120, 180],
    ]


def test_a_run_breaks_where_its_inverter_polls_would_be_over_half_an_hour_apart() -> None:
    minutes = [poll(60 * m, fetches=INVERTERS if m in (0, 30, 61) else None) for m in range(70)]
    found = runs(*minutes)
    assert [(r[0] // 60, r[-1] // 60) for r in found] == [(0, 60), (61, 69)]


def test_a_run_endpoint_says_how_many_of_its_polls_fetched_it_and_when() -> None:
    minutes = [poll(60 * m, fetches=INVERTERS if m % 5 == 2 else None) for m in range(10)]
    (run,) = plan_runs(minutes)
    by_name = {e.endpoint: e for e in run.endpoints}
    inverters, meters = by_name["device_data"], by_name["meter_readings"]
    assert (inverters.samples, inverters.duration_ms) == (2, 900)
    assert (inverters.first_started_at, inverters.last_started_at) == (
        T0 + timedelta(minutes=2),
        T0 + timedelta(minutes=7),
    )
    assert (meters.samples, meters.first_started_at) == (10, T0)


def _loaded(store: Store, demo_databases: dict[str, Path]) -> None:
    load(store, demo_databases[FAULTED.name])


def _count(store: Store) -> tuple[int, int, int]:
    with store.reading("counting") as conn:
        return (
            conn.execute(select(func.count()).select_from(polls)).scalar_one(),
            conn.execute(select(func.sum(func.coalesce(polls.c.samples, 1)))).scalar_one(),
            conn.execute(select(func.count()).select_from(poll_endpoints)).scalar_one(),
        )


def test_a_compacted_poll_log_keeps_every_poll_counted_in_far_fewer_rows(
    store: Store, demo_databases: dict[str, Path]
) -> None:
    _loaded(store, demo_databases)
    snapshot(store)
    rows, counted, endpoints = _count(store)
    with store.reading("reading") as conn:
        before = poll_log(conn)
    assert compact_all(store).days >= 1
    after_rows, after_counted, after_endpoints = _count(store)
    assert after_counted == counted == rows
    assert after_rows < rows / 20 and after_endpoints < endpoints / 20
    with store.reading("reading") as conn:
        assert poll_log_differences(before, poll_log(conn)) == []


def _three_ok_polls(store: Store) -> tuple[tuple[int, datetime], ...]:
    """Three successive successful polls at most two minutes from first to last, a third
    of the way into the log."""
    with store.reading("reading") as conn:
        query = select(polls.c.id, polls.c.started_at, polls.c.status)
        found = conn.execute(query.order_by(polls.c.started_at)).all()
    for at in range(len(found) // 3, len(found) - 2):
        three = found[at : at + 3]
        if all(s == "ok" for _, _, s in three) and three[2][1] - three[0][1] <= RUN_BOUND:
            return tuple((i, t) for i, t, _ in three)
    raise AssertionError("no three successive successful polls")


def test_a_gap_just_over_the_bound_survives_compaction(
    store: Store, demo_databases: dict[str, Path]
) -> None:
    _loaded(store, demo_databases)
    (_, at), (b, _), (c, _) = _three_ok_polls(store)
    with store.transaction("a gap of the bound and a second") as txn:
        txn.conn.execute(delete(poll_endpoints).where(poll_endpoints.c.poll_id == b))
        txn.conn.execute(delete(polls).where(polls.c.id == b))
        moved = at + RUN_BOUND + timedelta(seconds=1)
        txn.conn.execute(update(polls).where(polls.c.id == c).values(started_at=moved))
    snapshot(store)  # rolled up after the change
    lo, hi = at - timedelta(days=30), at + timedelta(days=30)
    with store.reading("gaps") as conn:
        before = gaps(conn, 1, lo, hi, RUN_BOUND.total_seconds())
    assert any(g.end == moved for g in before)
    assert compact_all(store).days >= 1
    with store.reading("gaps") as conn:
        assert gaps(conn, 1, lo, hi, RUN_BOUND.total_seconds()) == before


def test_the_last_poll_before_an_instant_is_a_runs_last(
    store: Store, demo_databases: dict[str, Path]
) -> None:
    _loaded(store, demo_databases)
    snapshot(store)
    p = polls.c
    with store.reading("reading") as conn:
        serial = conn.execute(select(gateways.c.serial)).scalar_one()
        final = conn.execute(select(func.max(p.started_at))).scalar_one()  # next day's first
        last = conn.execute(select(func.max(p.started_at)).where(p.started_at < final)).scalar()
    assert compact_all(store).days >= 1
    with store.reading("reading") as conn:  # folded: no row starts at it any more
        assert conn.execute(select(func.count()).where(p.started_at == last)).scalar_one() == 0
    assert last_poll_start(store, serial, final) == last
