"""CT and inverter readings that cannot be true are stored flagged and change no energy."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path

from builders import daily, table
from support import simulated_day

from envoylog.db import open_store, save_polls
from envoylog.db.models import FLAG_BITS
from envoylog.endpoints import BY_NAME
from envoylog.energy.rollup import rollup
from envoylog.parse.context import ParseContext
from envoylog.records import MeterConfig, PollResult, ReadingFlag

SITE = "metered-three-phase-device-data"  # CTs on /ivp/meters/readings, device_data reports
DAY = date(2026, 6, 10)
TICK_S = 600
COUNTER = FLAG_BITS[ReadingFlag.IMPLAUSIBLE_COUNTER]
POWER = FLAG_BITS[ReadingFlag.IMPLAUSIBLE_POWER]
SKEW = FLAG_BITS[ReadingFlag.CLOCK_SKEW]


@cache
def day_of_polls() -> tuple[PollResult, ...]:
    return simulated_day(SITE, DAY, tick_s=TICK_S)


def meter_configs(polls: tuple[PollResult, ...]) -> tuple[MeterConfig, ...]:
    """The CT meters as the first poll read them from /ivp/meters."""
    return tuple(r for e in polls[0].endpoints for r in e.records if isinstance(r, MeterConfig))


def rewritten(
    poll: PollResult, meters: tuple[MeterConfig, ...], endpoint: str, change: dict[str, object]
) -> PollResult:
    """The poll as if `endpoint` had sent `change` in its first object: its body, re-parsed."""
    endpoints = []
    for result in poll.endpoints:
        if result.endpoint == endpoint:
            assert result.body is not None
            data = json.loads(result.body)
            first = data[0] if isinstance(data, list) else next(iter(data.values()))
            if endpoint == "device_data":
                first = first["channels"][0]["lastReading"]
            first.update(change)
            body = json.dumps(data).encode()
            context = ParseContext(result.fetched_at, meters=meters)
            result = replace(result, body=body, records=BY_NAME[endpoint].parser(body, context))
        endpoints.append(result)
    return replace(poll, endpoints=tuple(endpoints))


def lies(polls: tuple[PollResult, ...]) -> dict[int, tuple[str, dict[str, object]]]:
    noon = polls[72].started_at.timestamp()
    return {  # poll index (10-minute ticks after local midnight) -> what the gateway said
        72: ("meter_readings", {"actEnergyDlvd": -20185720}),  # noon: a negative CT counter
        78: ("meter_readings", {"activePower": -5e6}),  # 13:00: 5 MW from a CT
        84: ("meter_readings", {"actEnergyRcvd": 1e40}),  # 14:00: a 40-digit counter
        90: ("meter_readings", {"timestamp": int(noon + 3 * 86400)}),  # 15:00: clock 3 days on
        96: ("device_data", {"joulesProduced": -3600}),  # 16:00: negative interval energy
    }


def logged(tmp_path: Path, name: str, polls: list[PollResult]) -> tuple[dict[str, object], str]:
    url = f"sqlite:///{tmp_path / name}"
    with open_store(url) as store:
        save_polls(store, polls)
        rollup(store)
        return daily(store)[str(DAY)], url


def test_impossible_ct_and_inverter_readings_are_stored_flagged_and_change_no_energy(
    tmp_path: Path,
) -> None:
    polls = day_of_polls()
    told = lies(polls)
    meters = meter_configs(polls)
    assert meters
    lied = [rewritten(p, meters, *told[i]) if i in told else p for i, p in enumerate(polls)]

    honest_day, _ = logged(tmp_path, "honest.sqlite", list(polls))
    lied_day, url = logged(tmp_path, "lied.sqlite", lied)

    assert honest_day["production_wh"] > 10_000
    assert honest_day["production_source"] == "production-ct-delivered"
    # A flagged reading is left out whole: its (true) power may have been the day's peak.
    assert {**lied_day, "peak_production_w": None} == {**honest_day, "peak_production_w": None}
    assert 0 < lied_day["peak_production_w"] <= honest_day["peak_production_w"]
    with open_store(url) as store:
        meter_flags = sorted(
            {r["flags"] for r in table(store, "meter_readings", "measured_at") if r["flags"]}
        )
        skewed = [
            datetime.fromisoformat(str(r["measured_at"])).replace(tzinfo=UTC)
            for r in table(store, "meter_readings", "measured_at")
            if r["flags"] == SKEW
        ]
        inverter_flags = {
            r["flags"] for r in table(store, "inverter_readings", "reported_at") if r["flags"]
        }
    assert meter_flags == sorted({COUNTER, POWER, SKEW})
    # Skewed request times are stored at the fetch, on our clock, not three days on.
    fetched = polls[90].started_at
    assert skewed and all(abs(at - fetched) < timedelta(minutes=1) for at in skewed)
    assert inverter_flags == {COUNTER}
