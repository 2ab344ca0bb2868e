"""Values a column stores but no site can have: readings flagged, or refused where no flag fits."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from support import refusal

from envoylog import parse
from envoylog.endpoints import Parser
from envoylog.parse.context import ParseContext
from envoylog.records import UNTRUSTED_FLAGS, ReadingFlag, SystemReading

AT = 1_700_000_000
CTX = ParseContext(fetched_at=datetime.fromtimestamp(AT, UTC))
COUNTER, POWER = ReadingFlag.IMPLAUSIBLE_COUNTER, ReadingFlag.IMPLAUSIBLE_POWER


def entry(measurement: str = "production", **changes: object) -> dict[str, object]:
    found = {"type": "eim", "measurementType": measurement, "readingTime": AT, "activeCount": 1}
    return found | {"wNow": 500.0, "whLifetime": 1e6} | changes


def flags_of(*entries: dict[str, object]) -> list[tuple[ReadingFlag, ...]]:
    body = {"production": [e for e in entries if e["measurementType"] == "production"]}
    body["consumption"] = [e for e in entries if e["measurementType"] != "production"]
    readings = parse.parse_production_json(json.dumps(body).encode(), CTX)
    return [r.flags for r in readings if isinstance(r, SystemReading)]


@pytest.mark.parametrize(
    ("changes", "flags"),
    [
        ({"whLifetime": -20185720}, (COUNTER,)),
        ({"whLifetime": 1e40}, (COUNTER,)),
        ({"whLifetime": 2.0**53 + 2}, (COUNTER,)),
        ({"wNow": -5_000_000}, (POWER,)),
        ({"apprntPwr": 1_000_001}, (POWER,)),
        ({"lines": [{"wNow": 2e6, "whLifetime": 1.0}]}, (POWER,)),
        ({"lines": [{"wNow": 1.0, "whLifetime": -1.0}]}, (COUNTER,)),
        ({"whLifetime": -1, "wNow": 2e6}, (COUNTER, POWER)),
    ],
    ids=str,
)
def test_an_impossible_production_reading_is_flagged(
    changes: dict[str, object], flags: tuple[ReadingFlag, ...]
) -> None:
    assert flags_of(entry(**changes)) == [flags]


@pytest.mark.parametrize(
    "changes",
    [{"whLifetime": 2.0**53}, {"wNow": 1_000_000}, {"wNow": -1_000_000}, {"whLifetime": 1}],
    ids=str,
)
def test_values_at_the_bounds_are_not_flagged(changes: dict[str, object]) -> None:
    assert flags_of(entry(**changes)) == [()]


def test_a_negative_net_consumption_lifetime_is_a_balance_not_a_fault() -> None:
    # QUIRKS 12: import minus export, negative for net exporters [8.3.5167_3rd-pv].
    assert flags_of(entry("net-consumption", whLifetime=-315944.246)) == [()]


def test_a_negative_total_consumption_lifetime_is_flagged() -> None:
    assert flags_of(entry("total-consumption", whLifetime=-1.0)) == [(COUNTER,)]


def test_a_negative_battery_store_is_flagged() -> None:
    battery = {"type": "acb", "activeCount": 1, "readingTime": AT, "wNow": 0, "whNow": -5}
    body = json.dumps({"production": [], "storage": [battery]}).encode()
    (reading,) = parse.parse_production_json(body, CTX)
    assert isinstance(reading, SystemReading)
    assert reading.flags == (COUNTER,)


def test_a_negative_api_v1_lifetime_is_flagged() -> None:
    body = b'{"wattHoursLifetime": -20185720, "wattsNow": 100}'
    (reading,) = parse.parse_api_v1_production(body, CTX)
    assert isinstance(reading, SystemReading)
    assert (reading.wh_lifetime, reading.flags) == (-20185720.0, (COUNTER,))


def test_implausible_readings_are_kept_out_of_energy() -> None:
    assert {COUNTER, POWER} <= UNTRUSTED_FLAGS


def meter_readings(**changes: object) -> bytes:
    values = {"activePower": 5.0, "actEnergyDlvd": 10.0, "actEnergyRcvd": 2.0}
    return json.dumps([{"eid": 704643328, "timestamp": AT, **values, **changes}]).encode()


def device_data(lifetime: float = 3.6e9, **changes: object) -> bytes:
    last = {"endDate": AT, "duration": 300, "joulesProduced": 9000, **changes}
    channel = {"lastReading": last, "lifetime": {"joulesProduced": lifetime}}
    return json.dumps({"1": {"devName": "pcu", "sn": "482", "channels": [channel]}}).encode()


# Meter and inverter readings have no flags column: such a body is refused, with the reason.
REFUSED = {
    "meter power": (
        parse.parse_meter_readings,
        meter_readings(activePower=-5e6),
        "/ivp/meters/readings: body[0]: watts -5,000,000 is beyond what any site makes or draws",
    ),
    "negative meter counter": (
        parse.parse_meter_readings,
        meter_readings(actEnergyRcvd=-1),
        "body[0]: wh_received -1 is no counter a site can have (0 to 2^53 Wh)",
    ),
    "meter counter beyond 2^53": (
        parse.parse_meter_readings,
        meter_readings(actEnergyDlvd=1e40),
        "body[0]: wh_delivered 1e+40 is no counter",
    ),
    "inverter power": (
        parse.parse_api_v1_inverters,
        json.dumps([{"serialNumber": "1", "lastReportDate": AT, "lastReportWatts": 2e6}]).encode(),
        "/api/v1/production/inverters: body[0]: watts 2,000,000 is beyond",
    ),
    "negative inverter lifetime": (
        parse.parse_device_data,
        device_data(lifetime=-3600),
        "/ivp/pdm/device_data: body['1']: wh_lifetime -1 is no counter",
    ),
    "negative inverter interval energy": (
        parse.parse_device_data,
        device_data(joulesProduced=-3600),
        "body['1']: wh_interval -1 is no counter",
    ),
}


@pytest.mark.parametrize(("parser", "body", "message"), REFUSED.values(), ids=list(REFUSED))
def test_an_impossible_meter_or_inverter_reading_refuses_its_body(
    parser: Parser, body: bytes, message: str
) -> None:
    assert message in refusal(parser, body, CTX)
