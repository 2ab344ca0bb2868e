"""Local periods: boundaries in real zones, proportional splitting, coverage."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from envoylog.energy import Interval, Method, Resolution, day_range, local_midnight, periods, split

T0 = datetime(2024, 6, 1, 22, 0, tzinfo=UTC)  # midnight in Berlin (CEST)


def interval(start: datetime, minutes: float, wh: float, covered: bool = True) -> Interval:
    method = Method.MEASURED if covered else Method.GAP
    return Interval(start, start + timedelta(minutes=minutes), wh, method, covered)


def test_an_interval_across_midnight_is_split_by_time() -> None:
    day1, day2 = split(
        [interval(T0 - timedelta(minutes=15), 20, 100)],
        zone="Europe/Berlin",
        resolution=Resolution.DAY,
    )
    assert (day1.period.day, day2.period.day) == (date(2024, 6, 1), date(2024, 6, 2))
    assert day1.wh == pytest.approx(75)
    assert day2.wh == pytest.approx(25)


def test_coverage_is_the_covered_share_of_the_period() -> None:
    hours = split(
        [interval(T0, 30, 50), interval(T0 + timedelta(minutes=30), 60, 60, covered=False)],
        zone="Europe/Berlin",
        resolution=Resolution.HOUR,
    )
    assert [h.coverage for h in hours] == [0.5, 0.0]
    assert [h.wh_estimated for h in hours] == pytest.approx([30, 30])
    assert [h.wh for h in hours] == pytest.approx([80, 30])


def test_default_range_is_the_periods_the_data_touches() -> None:
    assert split([], zone="UTC", resolution=Resolution.DAY) == []
    (only,) = split([interval(T0, 5, 1)], zone="UTC", resolution=Resolution.MONTH)
    assert only.period.start == datetime(2024, 6, 1, tzinfo=only.period.start.tzinfo)
    assert only.period.seconds == 30 * 86400


def test_months_follow_local_midnight_and_dst() -> None:
    begin, end = day_range(date(2024, 3, 1), date(2024, 4, 30), "Europe/Berlin")
    march, april = periods(begin, end, "Europe/Berlin", Resolution.MONTH)
    assert march.seconds == 31 * 86400 - 3600
    assert april.start_utc == datetime(2024, 3, 31, 22, tzinfo=UTC)


def test_half_hour_zones_start_hours_on_the_half_hour_utc() -> None:
    begin, end = day_range(date(2024, 6, 1), date(2024, 6, 1), "Asia/Kolkata")
    hours = periods(begin, end, "Asia/Kolkata", Resolution.HOUR)
    assert len(hours) == 24
    assert hours[0].start_utc == datetime(2024, 5, 31, 18, 30, tzinfo=UTC)


def test_a_skipped_midnight_starts_the_day_at_the_change() -> None:
    # Chile moves its clocks at midnight: 2022-09-11 began at 01:00 local.
    start = local_midnight(date(2022, 9, 11), "America/Santiago")
    assert start == datetime(2022, 9, 11, 4, tzinfo=UTC)
    (day,) = periods(start, start + timedelta(hours=1), "America/Santiago", Resolution.DAY)
    assert day.seconds == 23 * 3600
    assert day.day == date(2022, 9, 11)


def test_partial_range_keeps_only_the_requested_periods() -> None:
    begin, end = day_range(date(2024, 6, 2), date(2024, 6, 2), "Europe/Berlin")
    (day,) = split(
        [interval(T0 - timedelta(minutes=15), 20, 100)],
        zone="Europe/Berlin",
        resolution=Resolution.DAY,
        start=begin,
        end=end,
    )
    assert day.wh == pytest.approx(25)
