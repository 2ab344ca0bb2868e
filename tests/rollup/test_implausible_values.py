"""Implausible values (QUIRKS 5: bodies lie) are stored flagged and change no energy."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from functools import cache
from pathlib import Path

from builders import daily, table
from support import simulated_day

from envoylog.db import open_store, save_polls
from envoylog.db.models import FLAG_BITS
from envoylog.endpoints import BY_NAME
from envoylog.energy.rollup import rollup
from envoylog.parse.context import ParseContext
from envoylog.records import PollResult, ReadingFlag

SITE = "modern-7.6-nonmetered"  # production energy from /api/v1/production's counter
DAY = date(2026, 6, 10)
TICK_S = 600


@cache
def day_of_polls() -> tuple[PollResult, ...]:
    return simulated_day(SITE, DAY, tick_s=TICK_S)


def lying(poll: PollResult, key: str, value: str) -> PollResult:
    """The poll as if /api/v1/production had sent `value` for `key`: its body, re-parsed."""
    endpoints = []
    for result in poll.endpoints:
        if result.endpoint == "api_v1_production":
            assert result.body is not None
            body = re.sub(rf'"{key}": -?\d+'.encode(), f'"{key}": {value}'.encode(), result.body)
            assert body != result.body
            parser = BY_NAME[result.endpoint].parser
            result = replace(
                result, body=body, records=parser(body, ParseContext(result.fetched_at))
            )
        endpoints.append(result)
    return replace(poll, endpoints=tuple(endpoints))


LIES = {  # poll index (10-minute ticks after local midnight) -> (key, what the gateway said)
    72: ("wattHoursLifetime", "-20185720"),  # noon: a negative lifetime counter
    78: ("wattsNow", "5000000"),  # 13:00: 5 MW from a 13-inverter roof
    84: ("wattHoursLifetime", "1" + "0" * 39),  # 14:00: a 40-digit counter
}


def logged(tmp_path: Path, name: str, polls: list[PollResult]) -> tuple[dict[str, object], str]:
    url = f"sqlite:///{tmp_path / name}"
    with open_store(url) as store:
        save_polls(store, polls)
        rollup(store)
        return daily(store)[str(DAY)], url


def test_implausible_values_are_stored_flagged_and_leave_the_days_energy_unchanged(
    tmp_path: Path,
) -> None:
    polls = list(day_of_polls())
    lied = [lying(p, *LIES[i]) if i in LIES else p for i, p in enumerate(polls)]

    honest_day, _ = logged(tmp_path, "honest.sqlite", polls)
    lied_day, url = logged(tmp_path, "lied.sqlite", lied)

    assert honest_day["production_wh"] > 10_000
    assert lied_day == honest_day
    counter = FLAG_BITS[ReadingFlag.IMPLAUSIBLE_COUNTER]
    power = FLAG_BITS[ReadingFlag.IMPLAUSIBLE_POWER]
    with open_store(url) as store:
        flagged = [
            (row["flags"], row["wh_lifetime"] if row["flags"] == counter else row["watts"])
            for row in table(store, "system_readings", "measured_at")
            if row["source"] == "api_v1" and row["flags"]
        ]
    assert flagged == [(counter, -20185720.0), (power, 5e6), (counter, 1e39)]
