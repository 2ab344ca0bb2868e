"""QUIRKS facts 19, 22 and 24 for /ivp/pdm/device_data."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from envoylog.errors import ParseError
from envoylog.parse import parse_device_data
from envoylog.parse.context import ParseContext
from envoylog.records import DeviceType, Inverter, InverterReading, Record

END = 1748576887
CTX = ParseContext(fetched_at=datetime.fromtimestamp(END + 60, tz=UTC))


def last_reading(**values: Any) -> dict[str, Any]:
    return {
        "eid": 1627390225,
        "endDate": END,
        "duration": 900,
        "joulesProduced": 230400,
        "acVoltageINmV": 248156,
        "acFrequencyINmHz": 50013,
        "dcVoltageINmV": 32363,
        "dcCurrentINmA": 8078,
        "channelTemp": 38,
        **values,
    }


def device(
    serial: str,
    name: str = "pcu",
    reading: dict[str, Any] | None = None,
    **flags: Any,
) -> dict[str, Any]:
    channel = {
        "watts": {"now": 255, "max": 371},
        "lastReading": last_reading() if reading is None else reading,
        "lifetime": {"joulesProduced": 354281850},
    }
    return {
        "devName": name,
        "sn": serial,
        "active": True,
        "modGone": False,
        "channels": [channel],
        **flags,
    }


def parse(*devices: dict[str, Any]) -> tuple[Record, ...]:
    body: dict[str, Any] = {str(553648384 + 256 * i): d for i, d in enumerate(devices)}
    body.update(deviceCount=len(devices), deviceDataLimit=50)
    return parse_device_data(json.dumps(body).encode(), CTX)


def only_reading(records: tuple[Record, ...]) -> InverterReading:
    (reading,) = [r for r in records if isinstance(r, InverterReading)]
    return reading


def test_joules_become_watt_hours_and_average_watts() -> None:
    reading = only_reading(parse(device("122344043197")))
    assert reading.wh_interval == 64.0
    assert reading.watts == 256.0
    assert reading.interval_s == 900
    assert reading.reported_at == datetime.fromtimestamp(END, tz=UTC)


def test_lifetime_joules_become_watt_hours() -> None:
    assert only_reading(parse(device("a"))).wh_lifetime == 98411.625


def test_lifetime_beyond_the_32_bit_wrap_is_kept_raw() -> None:
    joules = 2**32 + 36_000
    raw = device("a")
    raw["channels"][0]["lifetime"]["joulesProduced"] = joules
    assert only_reading(parse(raw)).wh_lifetime == joules / 3600


def test_milli_units_are_converted() -> None:
    reading = only_reading(parse(device("a")))
    assert (reading.ac_voltage_v, reading.ac_frequency_hz) == (248.156, 50.013)
    assert (reading.dc_voltage_v, reading.dc_current_a) == (32.363, 8.078)
    assert (reading.temperature_c, reading.max_watts) == (38, 371)


def test_zero_duration_gives_no_average_watts() -> None:
    assert only_reading(parse(device("a", reading=last_reading(duration=0)))).watts is None


def test_active_inverter_is_listed_active() -> None:
    assert parse(device("a"))[0] == Inverter("a", DeviceType.PCU, active=True)


def test_mod_gone_inverter_is_inactive_without_reading() -> None:
    gone = device("gone", reading={}, active=False, modGone=True)
    assert parse(gone) == (Inverter("gone", DeviceType.PCU, active=False),)


def test_mod_gone_overrides_active_true() -> None:
    records = parse(device("gone", active=True, modGone=True))
    assert records[0] == Inverter("gone", DeviceType.PCU, active=False)


def test_count_and_limit_keys_are_not_devices() -> None:
    assert parse() == ()


def test_eim_devices_are_left_out() -> None:
    assert parse(device("122446001637EIM1", name="eim", reading={})) == ()


def test_acb_devices_are_batteries_without_reading() -> None:
    assert parse(device("121917000000", name="acb")) == (
        Inverter("121917000000", DeviceType.ACB, active=True),
    )


def test_unknown_device_kinds_are_other() -> None:
    assert parse(device("x", name="nsrb")) == (Inverter("x", DeviceType.OTHER, active=True),)


def test_empty_object_is_an_error() -> None:
    with pytest.raises(ParseError, match="deviceCount"):
        parse_device_data(b"{}", CTX)


def test_device_key_holding_a_number_is_an_error() -> None:
    with pytest.raises(ParseError, match="device object"):
        parse_device_data(b'{"553648384": 5, "deviceCount": 1}', CTX)


def test_device_without_serial_is_an_error() -> None:
    with pytest.raises(ParseError, match="sn"):
        parse_device_data(b'{"553648384": {"devName": "pcu"}, "deviceCount": 1}', CTX)


def test_reading_with_string_joules_is_an_error() -> None:
    bad = device("a", reading=last_reading(joulesProduced="230400"))
    with pytest.raises(ParseError, match="joulesProduced"):
        parse(bad)
