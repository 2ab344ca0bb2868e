"""Inverters reporting every 15 minutes and a second: two reports are longer apart than the
gap limit, yet no gap. Compaction folds them in pairs all the same, and the rollup takes a
folded report as covering the span to the next (counters.Sample.covers_next)."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from demos import PLAIN_DAY, Demo
from exactness import compact_all, differences, load, snapshot
from sqlalchemy import String, func, select

sys.path.insert(0, str(Path(__file__).parents[2]))  # benchmarks/
from benchmarks.yeardata import YearGenerator, _solar
from envoylog.db import Store, save_polls
from envoylog.db.models import inverter_readings
from envoylog.energy.counters import DEFAULT_THRESHOLDS
from envoylog.records import InverterReading, PollResult

START = datetime(2024, 6, 14, tzinfo=UTC)
DAYS = 2
REPORT_S = 901  # a second over 15 minutes, as the simulator's inverters (and real ones) drift


def polls() -> Iterator[PollResult]:
    """Minute polls of a site without CTs, its inverters reporting every REPORT_S while
    producing (device_data fetched every 5 minutes), so production comes from their
    lifetime counters."""
    generator = YearGenerator(START, DAYS)
    lifetime = [4.0e5 + 1000.0 * k for k in range(len(generator.inv_tpl))]
    share = generator.inv_share
    last: list[InverterReading | None] = [None] * len(lifetime)
    report_at = START
    for poll in generator:
        at = poll.started_at
        while report_at + timedelta(seconds=REPORT_S) <= at:
            report_at += timedelta(seconds=REPORT_S)
            watts = _solar(report_at, 1.0)
            if watts <= 0:
                continue
            for k, template in enumerate(generator.inv_tpl):
                wh = watts * share[k] * REPORT_S / 3600
                lifetime[k] += wh
                last[k] = replace(
                    template, reported_at=report_at, watts=round(watts * share[k]),
                    interval_s=float(REPORT_S), wh_interval=wh, wh_lifetime=lifetime[k],
                )  # fmt: skip
        endpoints = []
        for endpoint in poll.endpoints:
            if endpoint.endpoint in ("meters", "meter_readings", "production_json"):
                continue  # no CT, no production.json counter: the inverters' lifetimes count
            if endpoint.endpoint == "device_data":
                others = tuple(r for r in endpoint.records if not isinstance(r, InverterReading))
                reports = tuple(r for r in last if r is not None)
                endpoint = replace(endpoint, records=others + reports)
            endpoints.append(endpoint)
        yield replace(poll, endpoints=tuple(endpoints))


def test_reports_a_second_over_the_quarter_hour_fold_in_pairs_and_roll_up_the_same(
    store: Store,
) -> None:
    for batch in _batches(polls(), 500):
        save_polls(store, batch)
    before = snapshot(store)
    sources = {row["production_source"] for row in before["hourly"].values()}
    assert sources == {"inverter-lifetimes"}  # the counters whose intervals are folded
    compact_all(store)
    r = inverter_readings.c
    with store.reading("kept reports") as conn:
        kept = conn.execute(
            select(r.inverter_id, r.reported_at, r.samples).order_by(r.inverter_id, r.reported_at)
        ).all()
    spans = [
        b.reported_at - a.reported_at
        for a, b in itertools.pairwise(kept)
        if a.inverter_id == b.inverter_id and (a.samples or 1) > 1
    ]
    # Pairs whose span passes the gap limit were folded: before, their middle was kept.
    assert sum(span > DEFAULT_THRESHOLDS.max_gap for span in spans) > len(spans) // 4
    assert differences(before, snapshot(store)) == []  # estimated_wh too: no gap was made


def test_the_simulators_quarter_hour_inverters_keep_about_one_report_in_two(
    demo_databases: dict[str, Path], store: Store
) -> None:
    """On the 36-inverter site their reports drift between 897 and 901 s apart: those just
    over 15 minutes apart kept every report before pairs could fold."""
    load(store, demo_databases[Demo("metered-three-phase-device-data", PLAIN_DAY).name])
    r = inverter_readings.c
    day = func.substr(func.cast(r.reported_at, String), 1, 10)
    per_day = (
        select(func.count())
        .select_from(inverter_readings)
        .group_by(r.inverter_id, day)
        .having(func.count() > 4)  # the day logged, not the last report of the day before
    )

    def counts() -> list[int]:
        with store.reading("counting") as conn:
            return sorted(conn.execute(per_day).scalars())

    polled = counts()
    before = snapshot(store)
    compact_all(store, before=date(2030, 1, 1))
    kept = counts()
    assert sum(kept) <= sum(polled) * 0.55  # 740 of 1,428; 1,035 before pairs could fold
    assert differences(before, snapshot(store)) == []


def _batches(items: Iterator[PollResult], size: int) -> Iterator[list[PollResult]]:
    batch: list[PollResult] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
