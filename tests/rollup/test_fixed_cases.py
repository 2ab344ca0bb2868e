"""Fixed cases through the database: DST days, wraps, resets, empty days, gaps, source choice."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from builders import daily, events, inverters_poll, log_ct, table
from support import DST_DAYS

from envoylog.db import Store, save_polls
from envoylog.energy import WRAP_WH, day_range
from envoylog.energy.rollup import rollup
from envoylog.records import ReadingFlag


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    DST_DAYS,
)
def test_dst_days_have_their_hours_and_energy(
    store: Store, zone: str, day: date, hours: int
) -> None:
    begin, end = day_range(day, day, zone)
    log_ct(store, zone, begin - timedelta(hours=1), end + timedelta(hours=1), step_min=15)

    rollup(store, start=day, end=day + timedelta(days=1))

    hourly = table(store, "energy_hourly", "start_at")
    (row,) = daily(store).values()
    assert len(hourly) == hours
    assert all(h["production_wh"] == pytest.approx(1000) for h in hourly)
    assert row["production_wh"] == pytest.approx(1000 * hours)
    assert row["import_wh"] == pytest.approx(500 * hours)
    assert row["export_wh"] == pytest.approx(200 * hours)
    assert row["consumption_wh"] == pytest.approx(1300 * hours)
    assert row["coverage"] == pytest.approx(1.0)
    assert row["self_sufficiency"] == pytest.approx(800 / 1300)
    assert row["production_source"] == "production-ct-delivered"
    assert row["consumption_source"] == "derived"
    assert row["grid_source"] == "net-ct"


def test_an_inverter_counter_wrap_is_no_spike_and_an_event(store: Store) -> None:
    zone, start = "UTC", datetime(2024, 6, 1, tzinfo=UTC)
    polls = []
    for k in range(24 * 6 + 1):  # every 10 minutes, 1 kW
        wh = (WRAP_WH - 4_950 + 1000 * k / 6) % WRAP_WH  # lands at 50 Wh, not 0
        polls.append(inverters_poll(start + timedelta(minutes=10 * k), zone, round(wh), 1000))
    save_polls(store, polls)

    rollup(store, start=date(2024, 6, 1), end=date(2024, 6, 2))

    row = daily(store)["2024-06-01"]
    assert row["production_source"] == "inverters-production"
    assert row["production_wh"] == pytest.approx(24_000, abs=2)
    assert max(h["production_wh"] for h in table(store, "energy_hourly", "start_at")) < 1002
    assert row["corrections"] == 1
    assert [e[1] for e in events(store)] == ["counter-wrap"]


def test_a_vendor_reset_counts_from_zero_and_is_recorded(store: Store) -> None:
    zone, start = "UTC", datetime(2024, 6, 1, tzinfo=UTC)
    polls = []
    for k in range(24 * 6 + 1):
        wh = 3e6 + 1000 * k / 6 if k < 60 else 1000 * (k - 60) / 6 + 50
        polls.append(inverters_poll(start + timedelta(minutes=10 * k), zone, wh, 1000))
    save_polls(store, polls)

    rollup(store, start=date(2024, 6, 1), end=date(2024, 6, 2))

    row = daily(store)["2024-06-01"]
    # The interval holding the reset loses what came before it: 10 minutes minus 50 Wh.
    assert row["production_wh"] == pytest.approx(24_000 - 1000 / 6 + 50, abs=1)
    assert [e[1] for e in events(store)] == ["counter-reset"]


def test_days_no_reading_touches_have_no_rows(store: Store) -> None:
    zone = "Europe/Berlin"
    begin, end = day_range(date(2024, 6, 1), date(2024, 6, 1), zone)
    log_ct(store, zone, begin, end)  # its last reading is the next midnight

    rollup(store, start=date(2024, 5, 30), end=date(2024, 6, 4))

    assert list(daily(store)) == ["2024-06-01"]
    assert daily(store)["2024-06-01"]["coverage"] == pytest.approx(1.0)
    assert len(table(store, "energy_hourly", "start_at")) == 24
    assert [str(m["month"]) for m in table(store, "energy_monthly", "month")] == ["2024-06-01"]


def test_a_rollup_of_a_range_without_readings_writes_nothing(store: Store) -> None:
    zone = "Europe/Berlin"
    begin, end = day_range(date(2024, 6, 1), date(2024, 6, 1), zone)
    log_ct(store, zone, begin, end)

    rollup(store, start=date(2023, 1, 1), end=date(2023, 3, 1))
    rollup(store, start=date(2030, 1, 1), end=date(2030, 1, 8))

    for name, order in (("energy_hourly", "start_at"), ("energy_daily", "day")):
        assert table(store, name, order) == []
    assert table(store, "energy_monthly", "month") == []
    assert table(store, "inverter_daily", "day") == []


def test_a_gap_across_midnight_is_split_by_time(store: Store) -> None:
    zone = "Europe/Berlin"
    begin, end = day_range(date(2024, 6, 1), date(2024, 6, 2), zone)
    midnight = begin + timedelta(days=1)
    gap = (midnight - timedelta(hours=2), midnight + timedelta(hours=6))  # 2 h before, 6 h after
    log_ct(store, zone, begin, end, skip=lambda at: gap[0] < at < gap[1])

    rollup(store, start=date(2024, 6, 1), end=date(2024, 6, 3))

    first, second = daily(store)["2024-06-01"], daily(store)["2024-06-02"]
    assert first["production_wh"] == pytest.approx(24_000)
    assert first["estimated_wh"] == pytest.approx((1000 + 500 + 200) * 2)
    assert first["coverage"] == pytest.approx(22 / 24)
    assert second["production_wh"] == pytest.approx(24_000)
    assert second["coverage"] == pytest.approx(18 / 24)


def test_an_inactive_ct_for_one_poll_keeps_the_ct_source(store: Store) -> None:
    zone, start = "UTC", datetime(2024, 6, 1, tzinfo=UTC)
    polls = []
    for k in range(24 * 6 + 1):
        at, wh = start + timedelta(minutes=10 * k), 1000 * k / 6
        if k == 70:  # activeCount 0: junk
            polls.append(inverters_poll(at, zone, 7e5 + wh, 1000, (ReadingFlag.CT_INACTIVE,), 0))
        else:
            polls.append(inverters_poll(at, zone, 7e5 + wh * 0.97, 1000, eim=2e6 + wh))
    save_polls(store, polls)

    rollup(store, start=date(2024, 6, 1), end=date(2024, 6, 2))

    row = daily(store)["2024-06-01"]
    hourly = table(store, "energy_hourly", "start_at")
    assert {h["production_source"] for h in hourly} == {"eim-production"}
    assert row["production_wh"] == pytest.approx(24_000)  # eim's count, not the inverters' 97%
    assert events(store) == []
