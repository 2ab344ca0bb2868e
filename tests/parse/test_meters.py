"""QUIRKS facts 11, 13, 14 and 17 for /ivp/meters and /ivp/meters/readings."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from envoylog.errors import ParseError
from envoylog.parse import parse_meter_readings, parse_meters
from envoylog.parse.context import ParseContext
from envoylog.records import MeterConfig, MeterReading

T = 1722967007
FETCHED = datetime.fromtimestamp(T + 2, tz=UTC)  # the timestamps are the request time
AT = datetime.fromtimestamp(T, tz=UTC)
PRODUCTION_EID = 704643328
NET_EID = 704643584


def test_meter_config_is_read() -> None:
    raw = b"""[{"eid": 704643328, "state": "disabled", "measurementType": "production",
    "phaseMode": "three", "phaseCount": 1, "meteringStatus": "check-wiring",
    "statusFlags": ["negative-production"]}]"""
    assert parse_meters(raw, ParseContext(fetched_at=FETCHED)) == (
        MeterConfig(
            eid=PRODUCTION_EID,
            measurement_type="production",
            state="disabled",
            phase_mode="three",
            phase_count=1,
            metering_status="check-wiring",
            status_flags=("negative-production",),
        ),
    )


def test_no_meters_is_no_records() -> None:
    assert parse_meters(b"[]", ParseContext(fetched_at=FETCHED)) == ()


def test_status_flags_must_be_strings() -> None:
    raw = b'[{"eid": 1, "state": "enabled", "measurementType": "production", "statusFlags": [1]}]'
    with pytest.raises(ParseError, match="statusFlags"):
        parse_meters(raw, ParseContext(fetched_at=FETCHED))


def config(eid: int, phase_count: int, state: str = "enabled") -> MeterConfig:
    return MeterConfig(eid, "production", state, phase_mode="split", phase_count=phase_count)


def values(n: float, timestamp: float = T) -> dict[str, Any]:
    return {
        "timestamp": timestamp,
        "actEnergyDlvd": 1000.0 * n,
        "actEnergyRcvd": 10.0 * n,
        "activePower": 100.0 * n,
        "apparentPower": 110.0 * n,
        "reactivePower": 20.0 * n,
        "pwrFactor": 0.9,
        "voltage": 120.0 * n,
        "current": 1.5 * n,
        "freq": 60.0,
    }


def meter(eid: int, timestamp: float = T, channels: int = 3) -> dict[str, Any]:
    chans = [{"eid": eid + i, **values(1, timestamp)} for i in range(1, channels + 1)]
    return {"eid": eid, **values(2, timestamp), "channels": chans}


def readings(
    meters: list[dict[str, Any]], configs: tuple[MeterConfig, ...] | None
) -> list[MeterReading]:
    ctx = ParseContext(fetched_at=FETCHED, meters=configs)
    records = parse_meter_readings(json.dumps(meters).encode(), ctx)
    assert all(isinstance(r, MeterReading) for r in records)
    return [r for r in records if isinstance(r, MeterReading)]


def test_fields_are_mapped_to_units() -> None:
    (whole,) = readings([meter(PRODUCTION_EID)], (config(PRODUCTION_EID, 1),))[:1]
    assert whole == MeterReading(
        eid=PRODUCTION_EID,
        channel=0,
        measured_at=AT,
        watts=200.0,
        va=220.0,
        var=40.0,
        power_factor=0.9,
        voltage_v=240.0,
        current_a=3.0,
        frequency_hz=60.0,
        wh_delivered=2000.0,
        wh_received=20.0,
    )


def test_channels_beyond_phase_count_are_dropped() -> None:
    found = readings([meter(PRODUCTION_EID)], (config(PRODUCTION_EID, 2),))
    assert [r.channel for r in found] == [0, 1, 2]


def test_single_phase_meter_keeps_channel_one_only() -> None:
    found = readings([meter(PRODUCTION_EID)], (config(PRODUCTION_EID, 1),))
    assert [r.channel for r in found] == [0, 1]


def test_whole_meter_voltage_is_dropped_when_multi_phase() -> None:
    found = readings([meter(PRODUCTION_EID)], (config(PRODUCTION_EID, 2),))
    assert [r.voltage_v for r in found] == [None, 120.0, 120.0]


def test_unknown_meter_ids_are_dropped() -> None:
    found = readings([meter(PRODUCTION_EID), meter(1023410688)], (config(PRODUCTION_EID, 1),))
    assert {r.eid for r in found} == {PRODUCTION_EID}


def test_disabled_meters_are_dropped_even_with_a_timestamp() -> None:
    configs = (config(PRODUCTION_EID, 1), config(NET_EID, 1, state="disabled"))
    found = readings([meter(PRODUCTION_EID), meter(NET_EID)], configs)
    assert {r.eid for r in found} == {PRODUCTION_EID}


def test_timestamp_zero_readings_are_dropped() -> None:
    configs = (config(PRODUCTION_EID, 2), config(NET_EID, 2))
    found = readings([meter(PRODUCTION_EID), meter(NET_EID, timestamp=0)], configs)
    assert {r.eid for r in found} == {PRODUCTION_EID}


def test_channel_with_timestamp_zero_is_dropped() -> None:
    body = meter(PRODUCTION_EID)
    body["channels"][1]["timestamp"] = 0
    found = readings([body], (config(PRODUCTION_EID, 2),))
    assert [r.channel for r in found] == [0, 1]


def test_float_timestamps_are_accepted() -> None:
    found = readings([meter(PRODUCTION_EID, timestamp=T + 0.0)], (config(PRODUCTION_EID, 1),))
    assert found[0].measured_at == AT


def test_unknown_config_keeps_only_channel_zero_of_live_meters() -> None:
    found = readings([meter(PRODUCTION_EID), meter(NET_EID, timestamp=0)], None)
    assert [(r.eid, r.channel) for r in found] == [(PRODUCTION_EID, 0)]


def test_received_counter_is_kept_separately_and_raw() -> None:
    body = meter(NET_EID)
    body["actEnergyRcvd"] = 1776768.769
    body["activePower"] = -36.162
    (whole, *_) = readings([body], (config(NET_EID, 1),))
    assert (whole.wh_received, whole.watts) == (1776768.769, -36.162)


def test_empty_readings_list_is_no_records() -> None:
    assert readings([], (config(PRODUCTION_EID, 1),)) == []


def test_reading_without_counters_is_an_error() -> None:
    body = meter(PRODUCTION_EID)
    del body["actEnergyDlvd"]
    with pytest.raises(ParseError, match="actEnergyDlvd"):
        readings([body], (config(PRODUCTION_EID, 1),))


def test_reading_without_timestamp_is_an_error() -> None:
    body = meter(PRODUCTION_EID)
    del body["timestamp"]
    with pytest.raises(ParseError, match="timestamp"):
        readings([body], (config(PRODUCTION_EID, 1),))
