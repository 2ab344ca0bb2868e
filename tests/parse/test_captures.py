"""Every parser over every real capture: only records or ParseError, plus exact known values."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from support import fetched_at, recorded_context

from envoylog import parse
from envoylog.errors import ParseError
from envoylog.parse.context import ParseContext
from envoylog.records import (
    Battery,
    BatteryReading,
    BatterySystemReading,
    DeviceType,
    GatewayInfo,
    HomeInfo,
    Inverter,
    InverterReading,
    Measurement,
    MeterConfig,
    MeterReading,
    ReadingFlag,
    Record,
    Source,
    SystemReading,
)

CAPTURES = Path(__file__).resolve().parents[2].parent / "shared" / "envoy-captures"
RECORD_TYPES = (
    GatewayInfo,
    HomeInfo,
    SystemReading,
    MeterConfig,
    MeterReading,
    Inverter,
    InverterReading,
    Battery,
    BatteryReading,
    BatterySystemReading,
)
Parser = Callable[[bytes, ParseContext], tuple[Record, ...]]

pytestmark = pytest.mark.captures

# name -> (parser, capture file names; the first present one is used)
ENDPOINTS: dict[str, tuple[Parser, tuple[str, ...]]] = {
    "info": (parse.parse_info, ("info",)),
    "home": (parse.parse_home, ("home",)),
    "production_json": (
        parse.parse_production_json,
        ("production.json_details_1", "production.json"),
    ),
    "production": (parse.parse_production, ("production",)),
    "api_v1_production": (parse.parse_api_v1_production, ("api_v1_production",)),
    "api_v1_inverters": (parse.parse_api_v1_inverters, ("api_v1_production_inverters",)),
    "meters": (parse.parse_meters, ("ivp_meters",)),
    "meter_readings": (parse.parse_meter_readings, ("ivp_meters_readings",)),
    "meter_readings_unconfigured": (parse.parse_meter_readings, ("ivp_meters_readings",)),
    "device_data": (parse.parse_device_data, ("ivp_pdm_device_data",)),
    "device_data_1": (parse.parse_device_data, ("ivp_pdm_device_data_1",)),
    "ensemble_inventory": (parse.parse_ensemble_inventory, ("ivp_ensemble_inventory",)),
    "ensemble_power": (parse.parse_ensemble_power, ("ivp_ensemble_power",)),
    "ensemble_secctrl": (parse.parse_ensemble_secctrl, ("ivp_ensemble_secctrl",)),
    "acb_inventory": (parse.parse_acb_inventory, ("inventory.json_deleted_1", "inventory")),
}


def folders() -> list[Path]:
    if not CAPTURES.is_dir():
        return []
    return sorted(p for p in CAPTURES.iterdir() if p.is_dir())


def cases() -> list[Any]:
    found = [
        pytest.param(folder, name, id=f"{folder.name}-{name}")
        for folder in folders()
        for name, (_, files) in ENDPOINTS.items()
        if any((folder / f).is_file() for f in files)
    ]
    if found:
        return found
    reason = f"real gateway captures not found at {CAPTURES}"
    return [pytest.param(None, None, marks=pytest.mark.skip(reason=reason))]


def capture_file(folder: Path, name: str) -> Path:
    return next(folder / f for f in ENDPOINTS[name][1] if (folder / f).is_file())


def status_code(path: Path) -> int:
    log = path.with_name(path.name + "_log.json")
    return int(json.loads(log.read_text())["code"]) if log.is_file() else 200


def context(folder: Path, name: str = "") -> ParseContext:
    return recorded_context(folder, with_meters=name != "meter_readings_unconfigured")


def run(folder: Path, name: str) -> tuple[Record, ...]:
    path = capture_file(folder, name)
    return ENDPOINTS[name][0](path.read_bytes(), context(folder, name))


def records_of(folder: str, name: str) -> tuple[Record, ...]:
    path = CAPTURES / folder
    if not path.is_dir():
        pytest.skip(f"capture folder {path} not found")
    return run(path, name)


@pytest.mark.parametrize(("folder", "name"), cases())
def test_capture_gives_records_or_parse_error(folder: Path, name: str) -> None:
    path = capture_file(folder, name)
    try:
        records = run(folder, name)
    except ParseError as exc:
        assert exc.excerpt is None or len(exc.excerpt) <= 80
        return
    assert status_code(path) == 200, f"an HTTP {status_code(path)} body parsed into records"
    for record in records:
        assert isinstance(record, RECORD_TYPES)
        for field in fields(record):
            value = getattr(record, field.name)
            if isinstance(value, datetime):
                assert value.tzinfo is UTC


def systems(
    folder: str, name: str = "production_json"
) -> dict[tuple[Source, Measurement], SystemReading]:
    return {
        (r.source, r.measurement): r
        for r in records_of(folder, name)
        if isinstance(r, SystemReading)
    }


def devices(folder: str, name: str = "api_v1_inverters") -> dict[str, DeviceType]:
    return {r.serial: r.device_type for r in records_of(folder, name) if isinstance(r, Inverter)}


def whole_meter(folder: str, eid: int) -> MeterReading:
    (reading,) = [
        r
        for r in records_of(folder, "meter_readings")
        if isinstance(r, MeterReading) and r.eid == eid and r.channel == 0
    ]
    return reading


@pytest.mark.parametrize(
    ("folder", "serial", "firmware", "metered"),
    [
        ("3.9.36_bad_auth", "121426016034", "3.9.36", None),
        ("4.2.33", "123456789012", "4.2.33", None),
        ("5.0.49", "121621012167", "5.0.62", False),
        ("8.2.4345_with_device_data", "122446001637", "8.2.4345", True),
        ("8.3.5169_ACB_inventory", "122035000000", "8.3.5169", True),
    ],
)
def test_capture_identity(folder: str, serial: str, firmware: str, metered: bool | None) -> None:
    (info,) = records_of(folder, "info")
    assert isinstance(info, GatewayInfo)
    assert (info.serial, info.firmware, info.metered) == (serial, firmware, metered)


def test_capture_home_timezone() -> None:
    (home,) = records_of("8.3.5169_ACB_inventory", "home")
    assert isinstance(home, HomeInfo)
    assert (home.timezone, home.primary_interface) == ("Europe/London", "eth0")


@pytest.mark.parametrize(
    ("folder", "pcus", "batteries"),
    [("4.2.33", 51, 0), ("8.1.41", 44, 0), ("8.2.4382_ACB_2", 3, 2), ("3.17.3", 41, 0)],
)
def test_capture_inverter_counts(folder: str, pcus: int, batteries: int) -> None:
    kinds = list(devices(folder).values())
    assert (kinds.count(DeviceType.PCU), kinds.count(DeviceType.ACB)) == (pcus, batteries)


def test_capture_retired_inverter_keeps_its_old_report() -> None:
    reports = [
        r for r in records_of("4.2.33", "api_v1_inverters") if isinstance(r, InverterReading)
    ]
    assert min(r.reported_at for r in reports) == datetime.fromtimestamp(1536618992, tz=UTC)


@pytest.mark.parametrize(
    ("folder", "eid", "wh_delivered"),
    [
        ("8.2.4286_with_3cts_and_battery_split", 704643328, 13431336.968),
        ("8.2.127_with_3cts_and_battery_split", 704643840, 2274358.602),
        ("7.3.130_no_consumption", 704643328, 4545929.53),
        ("4.2.33", 704643328, 8598256.633),
    ],
)
def test_capture_ct_delivered_counter(folder: str, eid: int, wh_delivered: float) -> None:
    assert whole_meter(folder, eid).wh_delivered == wh_delivered


def test_capture_copied_third_channel_is_dropped() -> None:
    records = records_of("8.2.4286_with_3cts_and_battery_split", "meter_readings")
    channels = [r.channel for r in records if isinstance(r, MeterReading) and r.eid == 704643584]
    assert channels == [0, 1, 2]


def test_capture_collar_keeps_only_enabled_configured_meters() -> None:
    records = records_of("8.3.1598_collar", "meter_readings")
    eids = {r.eid for r in records if isinstance(r, MeterReading)}
    assert eids == {704643328, 704643584, 704643840, 704644352}


def test_capture_disabled_cts_give_no_meter_readings() -> None:
    assert records_of("7.6.175_total", "meter_readings") == ()


@pytest.mark.parametrize(
    ("folder", "key", "wh_lifetime"),
    [
        ("8.2.4345_with_device_data", (Source.EIM, Measurement.PRODUCTION), 1243811.514),
        ("8.2.4345_with_device_data", (Source.EIM, Measurement.NET_CONSUMPTION), -235661.732),
        ("8.3.5167_3rd-pv", (Source.EIM, Measurement.NET_CONSUMPTION), -315944.246),
        ("7.6.175_standard", (Source.INVERTERS, Measurement.PRODUCTION), 174174),
        ("4.2.33", (Source.EIM, Measurement.PRODUCTION), 8598256.633),
    ],
)
def test_capture_lifetime(folder: str, key: tuple[Source, Measurement], wh_lifetime: float) -> None:
    assert systems(folder)[key].wh_lifetime == wh_lifetime


def test_capture_night_inverters_entry_uses_fetch_time() -> None:
    reading = systems("7.3.466_with_cts_3phase")[(Source.INVERTERS, Measurement.PRODUCTION)]
    fetched = fetched_at(CAPTURES / "7.3.466_with_cts_3phase")
    assert (reading.measured_at, reading.flags) == (fetched, (ReadingFlag.NO_READING_TIME,))


def test_capture_three_phase_sum_voltage_is_dropped() -> None:
    reading = systems("8.3.5167_3rd-pv")[(Source.EIM, Measurement.PRODUCTION)]
    assert reading.voltage_v is None
    assert [p.voltage_v for p in reading.phases] == [237.874, 229.76, 226.904]


def test_capture_inactive_cts_are_flagged() -> None:
    found = systems("7.3.130_no_consumption")
    assert ReadingFlag.CT_INACTIVE in found[(Source.EIM, Measurement.NET_CONSUMPTION)].flags
    assert ReadingFlag.CT_INACTIVE not in found[(Source.EIM, Measurement.PRODUCTION)].flags


def test_capture_acb_storage_reading() -> None:
    reading = systems("8.2.4382_ACB_2")[(Source.ACB, Measurement.STORAGE)]
    assert (reading.wh_stored, reading.active_count, reading.state) == (446, 2, "idle")


def test_capture_legacy_page() -> None:
    (reading,) = records_of("3.7.0", "production")
    assert isinstance(reading, SystemReading)
    assert (reading.watts, reading.wh_lifetime) == (6630.0, 133_000_000.0)


def test_capture_device_data_first_inverter() -> None:
    records = records_of("8.2.4345_with_device_data", "device_data")
    reading = next(r for r in records if isinstance(r, InverterReading))
    assert reading.serial == "122344043197"
    assert (reading.wh_interval, reading.interval_s, reading.max_watts) == (64.0, 903, 371)
    assert reading.watts == pytest.approx(230400 / 903)
    assert (reading.ac_voltage_v, reading.dc_current_a) == (248.156, 8.078)
    assert reading.wh_lifetime == 354281850 / 3600


def test_capture_device_data_skips_meters_and_keeps_batteries() -> None:
    kinds = list(devices("8.3.5169_ACB_inventory", "device_data").values())
    assert (kinds.count(DeviceType.PCU), kinds.count(DeviceType.ACB)) == (3, 2)
