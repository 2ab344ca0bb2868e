"""QUIRKS facts 16, 18, 22 and 23 for /api/v1/production and its inverter list."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from envoylog.parse import parse_api_v1_inverters, parse_api_v1_production
from envoylog.parse.context import ParseContext
from envoylog.records import (
    DeviceType,
    Inverter,
    InverterReading,
    Measurement,
    ReadingFlag,
    Source,
    SystemReading,
)

FETCHED = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
CTX = ParseContext(fetched_at=FETCHED)


def test_production_reading_is_at_fetch_time_without_daily_values() -> None:
    raw = (
        b'{"wattHoursToday": 5481, "wattHoursSevenDays": 389581,'
        b' "wattHoursLifetime": 93706280, "wattsNow": 5463}'
    )
    assert parse_api_v1_production(raw, CTX) == (
        SystemReading(
            source=Source.API_V1,
            measurement=Measurement.PRODUCTION,
            measured_at=FETCHED,
            watts=5463,
            wh_lifetime=93706280,
        ),
    )


def test_all_zero_production_is_flagged_zero_lifetime() -> None:
    raw = b'{"wattHoursToday": 0, "wattHoursSevenDays": 0, "wattHoursLifetime": 0, "wattsNow": 0}'
    (reading,) = parse_api_v1_production(raw, CTX)
    assert isinstance(reading, SystemReading)
    assert reading.flags == (ReadingFlag.ZERO_LIFETIME,)


def device(serial: str, **values: Any) -> dict[str, Any]:
    return {
        "serialNumber": serial,
        "lastReportDate": 1700000000,
        "lastReportWatts": 200,
        "maxReportWatts": 249,
        **values,
    }


def inverters(*devices: dict[str, Any]) -> tuple[Any, ...]:
    return parse_api_v1_inverters(json.dumps(list(devices)).encode(), CTX)


def kinds(records: tuple[Any, ...]) -> dict[str, DeviceType]:
    return {r.serial: r.device_type for r in records if isinstance(r, Inverter)}


def test_inverter_report_is_read() -> None:
    assert inverters(device("121512041640", devType=1)) == (
        Inverter("121512041640", DeviceType.PCU),
        InverterReading(
            "121512041640",
            reported_at=datetime.fromtimestamp(1700000000, tz=UTC),
            watts=200,
            max_watts=249,
        ),
    )


def test_dev_type_11_is_an_ac_battery() -> None:
    found = kinds(
        inverters(device("a", devType=1), device("b", devType=11), device("c", devType=7))
    )
    assert found == {"a": DeviceType.PCU, "b": DeviceType.ACB, "c": DeviceType.OTHER}


def test_missing_dev_type_on_old_firmware_is_a_microinverter() -> None:
    assert kinds(inverters(device("a"))) == {"a": DeviceType.PCU}


def test_retired_inverter_with_old_report_is_kept_as_it_is() -> None:
    records = inverters(device("old", lastReportDate=1536618992, lastReportWatts=0))
    (reading,) = [r for r in records if isinstance(r, InverterReading)]
    assert reading.reported_at == datetime.fromtimestamp(1536618992, tz=UTC)


def test_report_date_zero_gives_a_device_without_reading() -> None:
    assert inverters(device("new", lastReportDate=0)) == (Inverter("new", DeviceType.PCU),)


def test_empty_inverter_list_gives_no_records() -> None:
    assert parse_api_v1_inverters(b"[]", CTX) == ()


def test_duplicate_serial_is_listed_once() -> None:
    assert len(inverters(device("a"), device("a"))) == 2
