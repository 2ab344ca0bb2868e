"""Hourly exports add up to daily ones on DST days; exports roll up what polls left behind."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pandas as pd
import pytest
from builders import log_ct

from envoylog.db import Store
from envoylog.energy import day_range
from envoylog.energy.rollup import rollup
from envoylog.export import ExportKind, export, frame


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        ("Europe/Berlin", date(2024, 10, 27), 25),
        ("America/Los_Angeles", date(2024, 3, 10), 23),
        ("Australia/Sydney", date(2024, 4, 7), 25),
    ],
)
def test_hourly_export_sums_to_the_daily_export_on_dst_days(
    store: Store, zone: str, day: date, hours: int
) -> None:
    begin, end = day_range(day, day, zone)
    log_ct(store, zone, begin, end, step_min=5, production_w=1234.4, import_w=321.2)
    rollup(store)

    hourly, daily = frame(store, ExportKind.HOURLY), frame(store, ExportKind.DAILY)

    today = hourly[hourly["date"] == day]
    assert len(today) == hours
    assert today["utc_offset"].nunique() == 2  # the offset changes during the day
    row = daily[daily["date"] == day].iloc[0]
    for column in ("production_kwh", "import_kwh", "export_kwh", "consumption_kwh"):
        # Each hour is rounded to 1 Wh: the sum may differ by half a Wh an hour.
        assert today[column].sum() == pytest.approx(row[column], abs=0.0005 * hours)
    assert row["production_kwh"] == pytest.approx(1.2344 * hours, abs=0.001)


def test_an_export_after_polls_alone_rolls_them_up_first(store: Store) -> None:
    zone = "Europe/Berlin"
    begin, end = day_range(date(2024, 6, 1), date(2024, 6, 1), zone)
    log_ct(store, zone, begin, end)  # `envoylog poll` from cron: no rollup ran

    out = io.StringIO()
    export(store, ExportKind.DAILY, fmt="csv", output=out)

    df = pd.read_csv(io.StringIO(out.getvalue()))
    assert df["date"].tolist() == ["2024-06-01"]
    assert df["production_kwh"].tolist() == [pytest.approx(24.0)]


def test_an_export_rolls_up_polls_newer_than_the_last_rollup(store: Store) -> None:
    zone = "Europe/Berlin"
    begin, end = day_range(date(2024, 6, 1), date(2024, 6, 2), zone)
    noon = begin + timedelta(hours=12)
    log_ct(store, zone, begin, end, skip=lambda at: at > noon)
    rollup(store, now=noon)
    log_ct(store, zone, begin, end, skip=lambda at: at <= noon)  # the same counters, later

    df = frame(store, ExportKind.DAILY)
    assert df["production_kwh"].tolist() == [pytest.approx(12.0)]  # as rolled up at noon

    export(store, ExportKind.DAILY, fmt="csv", output=io.StringIO())

    df = frame(store, ExportKind.DAILY)
    assert [str(d) for d in df["date"]] == ["2024-06-01", "2024-06-02"]
    assert df["production_kwh"].tolist() == [pytest.approx(24.0), pytest.approx(24.0)]
