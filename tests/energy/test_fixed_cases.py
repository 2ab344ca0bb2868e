"""Fixed cases from issue 6: DST days, gaps, wraps, resets, empty days, Home Assistant's rule."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from support import DST_DAYS

from envoylog.energy import (
    WRAP_WH,
    CorrectionKind,
    CounterKind,
    Method,
    Resolution,
    Sample,
    day_range,
    intervals,
    local_midnight,
    split,
)

METER = CounterKind.METER
INVERTER = CounterKind.INVERTER_32BIT


def steady(start: datetime, end: datetime, watts: float, every: timedelta) -> list[Sample]:
    """A counter read every `every` while a constant load runs."""
    samples, at = [], start
    while at <= end:
        samples.append(Sample(at, 1_000_000 + watts * (at - start).total_seconds() / 3600))
        at += every
    return samples


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    DST_DAYS,
)
def test_dst_days_have_their_real_length(zone: str, day: date, hours: int) -> None:
    begin, end = day_range(day, day, zone)
    samples = steady(
        begin - timedelta(hours=1), end + timedelta(hours=1), 1000, timedelta(minutes=5)
    )
    result = intervals(samples, kind=METER)

    (daily,) = split(result.intervals, zone=zone, resolution=Resolution.DAY, start=begin, end=end)
    hourly = split(result.intervals, zone=zone, resolution=Resolution.HOUR, start=begin, end=end)

    assert daily.period.day == day
    assert daily.wh == pytest.approx(1000 * hours)
    assert daily.coverage == pytest.approx(1.0)
    assert len(hourly) == hours
    assert all(h.wh == pytest.approx(1000) for h in hourly)
    starts = [h.period.start_utc for h in hourly]
    assert len(set(starts)) == hours  # the repeated local hour is two periods, told by UTC


def test_fall_back_hour_appears_twice_with_fold() -> None:
    begin, end = day_range(date(2024, 10, 27), date(2024, 10, 27), "Europe/Berlin")
    hourly = split([], zone="Europe/Berlin", resolution=Resolution.HOUR, start=begin, end=end)
    twos = [h.period.start for h in hourly if h.period.start.hour == 2]
    assert [t.fold for t in twos] == [0, 1]
    assert [t.utcoffset() for t in twos] == [timedelta(hours=2), timedelta(hours=1)]


def test_a_gap_across_midnight_splits_its_energy_by_time() -> None:
    zone = "Europe/Berlin"
    midnight = local_midnight(date(2024, 6, 2), zone)
    before = steady(
        midnight - timedelta(hours=6), midnight - timedelta(hours=2), 1000, timedelta(minutes=5)
    )
    last = before[-1].value_wh
    after = [
        Sample(midnight + timedelta(hours=2), last + 4000),
        Sample(midnight + timedelta(hours=2, minutes=5), last + 4000 + 1000 / 12),
    ]
    result = intervals([*before, *after], kind=METER)
    gap = [i for i in result.intervals if i.method is Method.GAP]
    assert len(gap) == 1 and gap[0].wh == pytest.approx(4000)

    begin, end = day_range(date(2024, 6, 1), date(2024, 6, 2), zone)
    first, second = split(
        result.intervals, zone=zone, resolution=Resolution.DAY, start=begin, end=end
    )
    assert first.wh == pytest.approx(4000 + 2000)  # 4 h read, 2 h of the gap
    assert second.wh == pytest.approx(2000 + 1000 / 12)
    assert first.wh_estimated == pytest.approx(2000) and second.wh_estimated == pytest.approx(2000)
    assert first.coverage == pytest.approx(4 / 24)
    assert second.coverage == pytest.approx(5 / 60 / 24)


@pytest.mark.parametrize("level", [5_000_000.0, 19_000_000.0])
def test_the_1193_mwh_step_down_is_a_wrap(level: float) -> None:
    start = datetime(2024, 7, 1, 10, tzinfo=UTC)
    values = [level, level + 300, level + 600 - WRAP_WH, level + 900 - WRAP_WH]
    samples = [Sample(start + timedelta(minutes=5 * n), v) for n, v in enumerate(values)]
    result = intervals(samples, kind=INVERTER, max_power_w=5000)
    assert result.wh == pytest.approx(900)
    assert [c.kind for c in result.corrections] == [CorrectionKind.WRAP]
    assert "1 wrap(s) of a 32-bit joule counter" in result.corrections[0].detail
    assert "300.0 Wh counted" in result.corrections[0].detail


def test_a_counter_reset_by_the_vendor_counts_from_zero() -> None:
    start = datetime(2024, 7, 1, 10, tzinfo=UTC)
    values = [8_400_000, 8_400_250, 120, 370, 620]
    samples = [Sample(start + timedelta(minutes=5 * n), v) for n, v in enumerate(values)]
    result = intervals(samples, kind=METER, max_power_w=5000)
    assert [i.wh for i in result.intervals] == [250, 120, 250, 250]
    assert result.intervals[1].method is Method.RESET
    assert result.corrections[0].kind is CorrectionKind.RESET
    assert "counted from zero" in result.corrections[0].detail


def test_a_day_without_data_gets_coverage_zero_and_no_energy() -> None:
    zone = "America/Los_Angeles"
    day1 = local_midnight(date(2024, 6, 1), zone)
    samples = steady(
        day1 + timedelta(hours=8), day1 + timedelta(hours=10), 2000, timedelta(minutes=5)
    )
    result = intervals(samples, kind=METER)
    begin, end = day_range(date(2024, 6, 1), date(2024, 6, 2), zone)
    first, empty = split(
        result.intervals, zone=zone, resolution=Resolution.DAY, start=begin, end=end
    )
    assert first.wh == pytest.approx(4000)
    assert (empty.wh, empty.wh_estimated, empty.coverage) == (0.0, 0.0, 0.0)


def test_a_day_inside_a_long_gap_gets_only_estimated_energy() -> None:
    zone = "Europe/Berlin"
    samples = [
        Sample(local_midnight(date(2024, 6, 1), zone) + timedelta(hours=12), 1000.0),
        Sample(local_midnight(date(2024, 6, 3), zone) + timedelta(hours=12), 49_000.0),
    ]
    result = intervals(samples, kind=METER)
    begin, end = day_range(date(2024, 6, 1), date(2024, 6, 3), zone)
    days = split(result.intervals, zone=zone, resolution=Resolution.DAY, start=begin, end=end)
    assert [d.coverage for d in days] == [0.0, 0.0, 0.0]
    assert [d.wh for d in days] == pytest.approx([12_000, 24_000, 12_000])
    assert all(d.wh_estimated == d.wh for d in days)
    assert sum(d.wh for d in days) == pytest.approx(48_000)  # nothing invented


# Home Assistant's statistics read a total_increasing sensor that falls by more
# than 10% as a new meter cycle (counted from the new value) and a smaller fall
# as a negative step. Here neither is assumed; each case is explained.


def test_ha_style_wrap_on_5_mwh_is_not_a_new_cycle() -> None:
    start = datetime(2024, 7, 1, tzinfo=UTC)
    samples = [Sample(start, 5_000_000), Sample(start + timedelta(minutes=5), 5_000_200 - WRAP_WH)]
    result = intervals(samples, kind=INVERTER)
    assert result.wh == pytest.approx(200)  # HA: a 3.8 MWh "new cycle"
    assert result.corrections[0].kind is CorrectionKind.WRAP


def test_ha_style_wrap_on_19_mwh_is_not_negative() -> None:
    start = datetime(2024, 7, 1, tzinfo=UTC)
    samples = [
        Sample(start, 19_000_000),
        Sample(start + timedelta(minutes=5), 19_000_200 - WRAP_WH),
    ]
    result = intervals(samples, kind=INVERTER)
    assert result.wh == pytest.approx(200)  # HA: -1.19 MWh
    assert all(i.wh >= 0 for i in result.intervals)


def test_ha_style_drop_over_10_percent_is_an_anomaly_not_a_reset() -> None:
    start = datetime(2024, 7, 1, tzinfo=UTC)
    values = [5_000_000, 4_250_000, 4_250_100]
    samples = [Sample(start + timedelta(minutes=5 * n), v) for n, v in enumerate(values)]
    result = intervals(samples, kind=METER)
    assert [i.wh for i in result.intervals] == [0, 100]  # HA: 4.25 MWh counted as new
    (correction,) = result.corrections
    assert correction.kind is CorrectionKind.ANOMALY
    assert "fell by 750,000.0 Wh (15.0% of the counter)" in correction.detail
    assert "a meter does not wrap, and it did not land near zero" in correction.detail
    assert "no energy booked" in correction.detail


def test_ha_style_small_drop_that_recovers_is_a_glitch_not_negative_energy() -> None:
    start = datetime(2024, 7, 1, tzinfo=UTC)
    values = [5_000_000, 4_800_000, 5_000_300]
    samples = [Sample(start + timedelta(minutes=5 * n), v) for n, v in enumerate(values)]
    result = intervals(samples, kind=METER)
    assert [i.wh for i in result.intervals] == [300]  # HA: -200 kWh then +200.3 kWh
    assert "4.0% of the counter" in result.corrections[0].detail
    assert "a transient dip; ignored" in result.corrections[0].detail
