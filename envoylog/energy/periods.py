"""Interval energy cut into local hours, days and months, with coverage.

Periods follow the gateway's IANA timezone, so a spring-forward day has 23
local hours and a fall-back day 25. An interval that spans a boundary is split
in proportion to time. Coverage is the share of a period's real duration that
lies inside ``covered`` intervals (exact energy between readings at most
``max_gap`` apart); energy placed from uncovered intervals (gaps, resets) is
reported separately as ``wh_estimated``.
"""

from __future__ import annotations

import bisect
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from envoylog.energy.counters import Interval

_TICK = timedelta(minutes=15)  # every zone in use today is offset by a multiple of 15 minutes


class Resolution(enum.StrEnum):
    HOUR = "hour"
    DAY = "day"
    MONTH = "month"


@dataclass(frozen=True, slots=True)
class Period:
    """One local hour, day or month: ``start`` is local (fold set on a repeated hour)."""

    start: datetime
    start_utc: datetime
    end_utc: datetime

    @property
    def seconds(self) -> float:
        return (self.end_utc - self.start_utc).total_seconds()

    @property
    def day(self) -> date:
        """The local date the period starts on (the key of a daily figure)."""
        return self.start.date()


@dataclass(frozen=True, slots=True)
class PeriodEnergy:
    """Energy in one period, how much of it is placed by interpolation, and coverage."""

    period: Period
    wh: float
    wh_estimated: float  # part of wh from uncovered intervals (gaps, resets)
    coverage: float  # 0..1: share of the period inside covered intervals


def as_zone(zone: ZoneInfo | str) -> ZoneInfo:
    """Accept a zone or its IANA name."""
    return zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)


def local_midnight(day: date, zone: ZoneInfo | str) -> datetime:
    """The UTC instant a local day starts (the first instant of it where midnight is skipped)."""
    # fold=0 reads a skipped midnight with the offset before the change, which
    # is the transition instant; a repeated midnight is its first occurrence.
    return datetime.combine(day, time(0), tzinfo=as_zone(zone)).astimezone(UTC)


def day_range(first: date, last: date, zone: ZoneInfo | str) -> tuple[datetime, datetime]:
    """UTC bounds of the local days ``first`` to ``last`` inclusive."""
    return local_midnight(first, zone), local_midnight(last + timedelta(days=1), zone)


def period_start(instant: datetime, zone: ZoneInfo | str, resolution: Resolution) -> datetime:
    """The UTC start of the local period holding ``instant``."""
    zone = as_zone(zone)
    local = instant.astimezone(zone)
    if resolution is Resolution.DAY:
        return local_midnight(local.date(), zone)
    if resolution is Resolution.MONTH:
        return local_midnight(local.date().replace(day=1), zone)
    tick = _floor_tick(instant)
    while not _is_hour_start(tick, zone):
        tick -= _TICK
    return tick


def next_period_start(
    start_utc: datetime, zone: ZoneInfo | str, resolution: Resolution
) -> datetime:
    """The UTC start of the period after the one starting at ``start_utc``."""
    zone = as_zone(zone)
    day = start_utc.astimezone(zone).date()
    if resolution is Resolution.DAY:
        return local_midnight(day + timedelta(days=1), zone)
    if resolution is Resolution.MONTH:
        year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
        return local_midnight(date(year, month, 1), zone)
    tick = start_utc + _TICK
    while not _is_hour_start(tick, zone):
        tick += _TICK
    return tick


def periods(
    start: datetime, end: datetime, zone: ZoneInfo | str, resolution: Resolution
) -> list[Period]:
    """The local periods that overlap the instants ``[start, end)``."""
    zone = as_zone(zone)
    result: list[Period] = []
    cursor = period_start(start, zone, resolution)
    while cursor < end:
        following = next_period_start(cursor, zone, resolution)
        result.append(Period(cursor.astimezone(zone), cursor, following))
        cursor = following
    return result


def split(
    intervals: Sequence[Interval],
    *,
    zone: ZoneInfo | str,
    resolution: Resolution,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[PeriodEnergy]:
    """Spread interval energy over the local periods of ``[start, end)`` (default: all data)."""
    if start is None or end is None:
        if not intervals:
            return []
        start = min(i.start for i in intervals) if start is None else start
        end = max(i.end for i in intervals) if end is None else end
    spans = periods(start, end, zone, resolution)
    if not spans:
        return []
    bounds = [p.start_utc for p in spans] + [spans[-1].end_utc]
    wh = [0.0] * len(spans)
    estimated = [0.0] * len(spans)
    covered = [0.0] * len(spans)
    for interval in intervals:
        seconds = interval.seconds
        index = max(bisect.bisect_right(bounds, interval.start) - 1, 0)
        while index < len(spans) and bounds[index] < interval.end:
            lo, hi = max(bounds[index], interval.start), min(bounds[index + 1], interval.end)
            overlap = (hi - lo).total_seconds()
            if overlap > 0:
                share = interval.wh * overlap / seconds
                wh[index] += share
                if interval.covered:
                    covered[index] += overlap
                else:
                    estimated[index] += share
            index += 1
    return [
        PeriodEnergy(span, wh[k], estimated[k], min(covered[k] / span.seconds, 1.0))
        for k, span in enumerate(spans)
    ]


def _floor_tick(instant: datetime) -> datetime:
    utc = instant.astimezone(UTC)
    return utc.replace(minute=utc.minute - utc.minute % 15, second=0, microsecond=0)


def _is_hour_start(tick: datetime, zone: ZoneInfo) -> bool:
    return tick.astimezone(zone).minute == 0
