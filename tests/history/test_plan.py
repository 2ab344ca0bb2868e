"""The plan of one series of power alone (a meter's phase channel): which readings a
compacted day keeps at its end, and that reading it over the day and the gap limit after
it plans the day as reading it with the counters' guard on each side does."""

from __future__ import annotations

from collections import namedtuple
from datetime import UTC, datetime, timedelta
from typing import Any

from envoylog.history.compact import METER, _power_only, guard
from envoylog.history.plan import Limits, Plan, plan_series
from envoylog.history.settings import STEP_DEFAULT

LO = datetime(2024, 6, 14, 22, tzinfo=UTC)  # a local day in Berlin (summer time)
HI = LO + timedelta(days=1)
POWER = _power_only(METER)  # as compaction folds a meter's phase channels
GUARD = guard(STEP_DEFAULT)
LIMITS = Limits(
    lo=LO,
    hi=HI,
    step=STEP_DEFAULT,
    hours=tuple(LO + timedelta(hours=h) for h in range(25)),
    guard=GUARD,
)


# A meter reading as compaction reads it: a named tuple of its columns.
Reading = namedtuple(
    "Reading",
    "id measured_at watts watts_min watts_max samples flags va var power_factor voltage_v "
    "current_a frequency_hz wh_delivered wh_received",
)


def reading(at: datetime, watts: float, flags: int = 0) -> Any:
    return Reading(
        id=int(at.timestamp()),
        measured_at=at,
        watts=watts,
        watts_min=None,
        watts_max=None,
        samples=None,
        flags=flags,
        va=watts,
        var=0.0,
        power_factor=1.0,
        voltage_v=230.0,
        current_a=watts / 230,
        frequency_hz=50.0,
        wh_delivered=None,
        wh_received=None,
    )


def minutes(since: datetime, until: datetime) -> list[Any]:
    """A reading a minute, with some changes of flags and two gaps near the day's ends."""
    found = []
    at = since
    while at < until:
        quiet = LO - timedelta(minutes=50) < at < LO + timedelta(minutes=5)
        quiet |= HI - timedelta(minutes=20) < at < HI + timedelta(minutes=20)
        if not quiet:
            flags = 4 if LO + timedelta(hours=3) <= at < LO + timedelta(hours=3, minutes=7) else 0
            found.append(reading(at, 100 + at.minute, flags))
        at += timedelta(minutes=1)
    return found


def plan(rows: list[Any]) -> Plan:
    return plan_series(rows, POWER, LIMITS, instant="measured_at", trusted=[True] * len(rows))


def test_power_alone_plans_the_same_read_over_the_day_and_the_gap_limit_after() -> None:
    wide = minutes(LO - GUARD, HI + GUARD)
    narrow = [r for r in wide if LO <= r.measured_at < HI + LIMITS.max_gap]
    assert len(narrow) < len(wide) * 0.85
    assert plan(narrow).kept == plan(wide).kept
    assert plan(narrow).before == plan(wide).before == 1440 - 5 - 19  # the quiet minutes


def every_minute(since: datetime, until: datetime) -> list[Any]:
    count = int((until - since) / timedelta(minutes=1))
    return [reading(since + timedelta(minutes=n), 100.0) for n in range(count)]


def test_the_days_last_reading_is_kept_when_nothing_follows_it_within_the_rows_read() -> None:
    stops = HI - timedelta(minutes=30)  # then nothing for hours: the logger was off
    kept = [r["measured_at"] for r in plan(every_minute(LO, stops)).kept]
    assert kept[-1] == stops - timedelta(minutes=1)
    # The hour's first reading stands for the readings up to the last, not past it.
    assert kept[-2] == HI - timedelta(hours=1)
    # Readings go on past the day: its last one folds like any other.
    kept = [r["measured_at"] for r in plan(every_minute(LO, HI + timedelta(minutes=10))).kept]
    assert kept[-1] == HI - timedelta(hours=1)
