"""A gateway instant more than a day from the fetch is the gateway's clock (QUIRKS 28)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from support import refusal

from envoylog import parse
from envoylog.endpoints import Parser
from envoylog.parse.context import ParseContext
from envoylog.records import (
    UNTRUSTED_FLAGS,
    InverterReading,
    MeterConfig,
    ReadingFlag,
    SystemReading,
)

FETCHED = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
CTX = ParseContext(fetched_at=FETCHED)
DAY = 86400
METER = MeterConfig(704643328, "production", "enabled", "single", 1)


def epoch(off_s: float) -> float:
    return FETCHED.timestamp() + off_s


def production(kind: str, off_s: float) -> SystemReading:
    values = {"activeCount": 1, "readingTime": epoch(off_s), "wNow": 100.0}
    entry = {"type": kind, **values, "whLifetime": 5000.0, "whNow": 10.0}
    if kind == "eim":
        entry["measurementType"] = "production"
    section = "storage" if kind == "acb" else "production"
    body = {"production": [], section: [entry]}
    (reading,) = parse.parse_production_json(json.dumps(body).encode(), CTX)
    assert isinstance(reading, SystemReading)
    return reading


@pytest.mark.parametrize(
    ("kind", "off_s"),
    [
        ("eim", DAY + 1),  # request time: either way
        ("eim", -DAY - 1),
        ("inverters", DAY + 1),  # a last report: only ahead
        ("acb", 3 * DAY),
    ],
    ids=str,
)
def test_a_skewed_instant_is_flagged_and_the_fetch_time_used(kind: str, off_s: float) -> None:
    reading = production(kind, off_s)
    assert (reading.measured_at, reading.flags) == (FETCHED, (ReadingFlag.CLOCK_SKEW,))


@pytest.mark.parametrize(
    ("kind", "off_s"),
    [
        ("eim", DAY - 60),
        ("eim", -DAY + 60),
        ("inverters", -3 * DAY),  # no inverter has reported for days (snow)
        ("acb", -5 * DAY),  # QUIRKS 21: an AC battery's readingTime can be days old
    ],
    ids=str,
)
def test_an_instant_its_kind_allows_is_kept(kind: str, off_s: float) -> None:
    reading = production(kind, off_s)
    assert (reading.measured_at, reading.flags) == (datetime.fromtimestamp(epoch(off_s), UTC), ())


def test_clock_skewed_readings_are_kept_out_of_energy() -> None:
    assert ReadingFlag.CLOCK_SKEW in UNTRUSTED_FLAGS


def meter_readings(off_s: float, channel_off_s: float | None = None) -> bytes:
    values = {"activePower": 5.0, "actEnergyDlvd": 10.0, "actEnergyRcvd": 2.0}
    channel = {**values, "timestamp": epoch(channel_off_s if channel_off_s is not None else off_s)}
    meter = {"eid": 704643328, "timestamp": epoch(off_s), **values, "channels": [channel]}
    return json.dumps([meter]).encode()


def inverters(off_s: float) -> bytes:
    device = {"serialNumber": "1", "lastReportDate": epoch(off_s), "lastReportWatts": 5}
    return json.dumps([device]).encode()


def device_data(off_s: float) -> bytes:
    last = {"endDate": epoch(off_s), "duration": 300, "joulesProduced": 9000}
    device = {"devName": "pcu", "sn": "1", "channels": [{"lastReading": last}]}
    return json.dumps({"1": device}).encode()


# Meter and inverter readings have no flags column: a skewed instant refuses the body.
REFUSED = {
    "meter ahead": (
        parse.parse_meter_readings,
        meter_readings(2 * DAY),
        "/ivp/meters/readings: body[0].timestamp: 2026-06-12 12:00:00Z is 2.0 days after "
        "the fetch at 2026-06-10 12:00:00Z: the gateway's clock is off",
    ),
    "meter behind": (
        parse.parse_meter_readings,
        meter_readings(-400 * DAY),
        "body[0].timestamp: 2025-05-06 12:00:00Z is 400.0 days before the fetch",
    ),
    "meter channel ahead": (
        parse.parse_meter_readings,
        meter_readings(0, channel_off_s=DAY + 60),
        "body[0].channels[0].timestamp: 2026-06-11 12:01:00Z is 1.0 days after",
    ),
    "inverter report ahead": (
        parse.parse_api_v1_inverters,
        inverters(DAY + 60),
        "/api/v1/production/inverters: body[0].lastReportDate: 2026-06-11 12:01:00Z",
    ),
    "device_data report ahead": (
        parse.parse_device_data,
        device_data(3 * DAY),
        "/ivp/pdm/device_data: body['1'].channels[0].lastReading.endDate: 2026-06-13 12:00",
    ),
}


@pytest.mark.parametrize(("parser", "body", "message"), REFUSED.values(), ids=list(REFUSED))
def test_a_skewed_meter_or_inverter_instant_refuses_its_body(
    parser: Parser, body: bytes, message: str
) -> None:
    assert message in refusal(parser, body, ParseContext(fetched_at=FETCHED, meters=(METER,)))


@pytest.mark.parametrize(
    ("parser", "body"),
    [
        (parse.parse_api_v1_inverters, inverters(-3 * 365 * DAY)),
        (parse.parse_device_data, device_data(-3 * 365 * DAY)),
    ],
    ids=["api_v1_inverters", "device_data"],
)
def test_a_years_old_inverter_report_is_kept(parser: Parser, body: bytes) -> None:
    # QUIRKS 23: retired inverters stay listed with years-old report dates.
    reports = [r for r in parser(body, CTX) if isinstance(r, InverterReading)]
    assert [r.reported_at for r in reports] == [FETCHED - timedelta(days=3 * 365)]
