"""Small builders of PollResult objects: a metered three-phase site with CTs and inverters."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from envoylog.records import (
    Battery,
    BatteryKind,
    BatteryReading,
    BatterySystemReading,
    DeviceType,
    EndpointResult,
    GatewayIdentity,
    GatewayInfo,
    HomeInfo,
    Inverter,
    InverterReading,
    Measurement,
    MeterConfig,
    MeterReading,
    PhaseValues,
    PollResult,
    ReadingFlag,
    Record,
    Source,
    SystemReading,
)

SERIAL = "122233445566"
T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
EIDS = {"production": 704643328, "net-consumption": 704643584, "total-consumption": 704643840}


def at(minutes: float) -> datetime:
    """T0 plus some minutes."""
    return T0 + timedelta(minutes=minutes)


def endpoint(
    name: str,
    records: tuple[Record, ...],
    fetched_at: datetime,
    *,
    error: str | None = None,
    body: bytes | None = None,
    parse_failed: bool = False,
) -> EndpointResult:
    return EndpointResult(
        endpoint=name,
        path=f"/{name}",
        fetched_at=fetched_at,
        duration_ms=120,
        http_status=200,
        error=error,
        records=records,
        body=body if body is not None else json.dumps({"endpoint": name}).encode(),
        content_type="application/json",
        parse_failed=parse_failed,
    )


def failed(name: str, fetched_at: datetime, error: str = "HTTP 503: busy") -> EndpointResult:
    return EndpointResult(name, f"/{name}", fetched_at, 30, 503, error, (), b"busy", "text/plain")


def system_readings(when: datetime, phases: int = 3) -> tuple[SystemReading, ...]:
    minutes = (when - T0).total_seconds() / 60
    readings: list[SystemReading] = [
        SystemReading(
            Source.INVERTERS, Measurement.PRODUCTION, when, 3000.0, 1e6 + 50 * minutes, 36
        )
    ]
    for i, measurement in enumerate(
        (Measurement.PRODUCTION, Measurement.TOTAL_CONSUMPTION, Measurement.NET_CONSUMPTION)
    ):
        watts = 3000.0 - 1000 * i
        lines = tuple(
            PhaseValues(p, watts / phases, 2e5 + 10 * minutes + p, None, None, 0.98, 230.1 + p, 4.2)
            for p in range(1, phases + 1)
        )
        readings.append(
            SystemReading(
                Source.EIM,
                measurement,
                when,
                watts,
                6e5 + 20 * minutes * (i + 1),
                phases,
                watts * 1.01,
                12.5,
                0.99,
                230.4,
                13.1,
                phases=lines,
            )
        )
    return tuple(readings)


def meter_configs(phases: int = 3, state: str = "enabled") -> tuple[MeterConfig, ...]:
    return tuple(
        MeterConfig(eid, kind, state, "three", phases, "normal", ()) for kind, eid in EIDS.items()
    )


def meter_readings(when: datetime, phases: int = 3) -> tuple[MeterReading, ...]:
    minutes = (when - T0).total_seconds() / 60
    readings = []
    for eid in EIDS.values():
        for channel in range(phases + 1):
            scale = phases if channel == 0 else 1
            readings.append(
                MeterReading(
                    eid,
                    channel,
                    when,
                    watts=1000.123 * scale,
                    va=1010.5 * scale,
                    var=12.25 * scale,
                    power_factor=0.99,
                    voltage_v=None if channel == 0 else 230.125 + channel,
                    current_a=4.375 * scale,
                    frequency_hz=50.01,
                    wh_delivered=1e6 + 17.5 * minutes * scale + channel,
                    wh_received=2e5 + 3.25 * minutes * scale + channel,
                )
            )
    return tuple(readings)


def inverter_serial(i: int) -> str:
    return f"4821{i:08d}"


def inverter_report_time(when: datetime) -> datetime:
    """Inverters report every 5 minutes; the report a poll sees is the last one before it."""
    seconds = int((when - T0).total_seconds()) // 300 * 300
    return T0 + timedelta(seconds=seconds)


def api_v1_inverters(when: datetime, count: int = 36) -> tuple[Record, ...]:
    reported = inverter_report_time(when)
    records: list[Record] = []
    for i in range(count):
        serial = inverter_serial(i)
        records.append(Inverter(serial, DeviceType.PCU))
        records.append(InverterReading(serial, reported, watts=250.0 + i, max_watts=295.0))
    return tuple(records)


def device_data(when: datetime, count: int = 36) -> tuple[Record, ...]:
    reported = inverter_report_time(when)
    minutes = (reported - T0).total_seconds() / 60
    records: list[Record] = []
    for i in range(count):
        serial = inverter_serial(i)
        records.append(Inverter(serial, DeviceType.PCU, active=True))
        records.append(
            InverterReading(
                serial,
                reported,
                watts=249.5 + i,
                interval_s=300.0,
                wh_interval=20.75,
                wh_lifetime=5e5 + 4.2 * minutes + i,
                dc_voltage_v=35.125,
                dc_current_a=7.25,
                ac_voltage_v=231.5,
                ac_frequency_hz=50.0,
                temperature_c=41.0,
            )
        )
    return tuple(records)


def battery_serial(i: int) -> str:
    return f"49232000{i:04d}"


def battery_power(when: datetime, count: int = 2, watts: float = -1200.0) -> tuple[Record, ...]:
    """/ivp/ensemble/power: each battery charging at ``watts`` (W, + = discharging) now."""
    minutes = (when - T0).total_seconds() / 60
    records: list[Record] = []
    for i in range(count):
        records.append(Battery(battery_serial(i), BatteryKind.ENCHARGE))
        records.append(
            BatteryReading(
                battery_serial(i),
                when,
                soc_pct=min(20 + minutes / 6 + i, 100),
                watts=watts,
                va=watts,
                flags=(ReadingFlag.SOC_FROM_POWER, ReadingFlag.NO_READING_TIME),
            )
        )
    return tuple(records)


def battery_inventory(when: datetime, count: int = 2) -> tuple[Record, ...]:
    """/ivp/ensemble/inventory: each battery as of its last report (every 5 minutes)."""
    reported = inverter_report_time(when) - timedelta(seconds=17)
    minutes = (reported - T0).total_seconds() / 60
    records: list[Record] = []
    for i in range(count):
        serial = battery_serial(i)
        records.append(Battery(serial, BatteryKind.ENCHARGE, "836-01826-r76", 5000.0, T0))
        records.append(
            BatteryReading(
                serial,
                reported,
                soc_pct=min(20 + minutes / 6 + i, 100),
                temperature_c=18.0,
                max_cell_temperature_c=19.0,
                status="ENCHG_STATE_READY",
                communicating=True,
                sleep_enabled=False,
                dc_switch_off=False,
                led_status=12,
                flags=(ReadingFlag.SOC_FROM_INVENTORY,),
            )
        )
    return tuple(records)


def battery_secctrl(when: datetime, count: int = 2) -> tuple[Record, ...]:
    minutes = (when - T0).total_seconds() / 60
    soc = min(20 + minutes / 6 + 0.5, 100)
    capacity = 5000.0 * count
    return (
        BatterySystemReading(
            when,
            soc_pct=soc,
            max_capacity_wh=capacity,
            available_wh=capacity * soc / 100,
            backup_wh=capacity * 0.2,
            reserve_pct=20.0,
            adjusted_reserve_pct=20.0,
            soh_pct=100.0,
            encharge_soc_pct=soc,
            encharge_capacity_wh=capacity,
            flags=(ReadingFlag.NO_READING_TIME,),
        ),
    )


def make_poll(
    when: datetime = T0,
    *,
    serial: str = SERIAL,
    firmware: str = "8.2.4345",
    phases: int = 3,
    inverters: int = 36,
    fail: tuple[str, ...] = (),
    meters: tuple[MeterConfig, ...] | None = None,
    batteries: int = 0,
) -> PollResult:
    """A full poll of a metered site (with IQ Batteries, if any); endpoints named in ``fail``
    come back as HTTP errors."""
    parts: dict[str, tuple[Record, ...]] = {
        "info": (GatewayInfo(serial, firmware, "800-00654-r08", True),),
        "home": (HomeInfo(timezone="Europe/Berlin"),),
        "meters": meters if meters is not None else meter_configs(phases),
        "meter_readings": meter_readings(when, phases),
        "production_json": system_readings(when, phases),
        "api_v1_inverters": api_v1_inverters(when, inverters),
        "device_data": device_data(when, inverters),
    }
    if batteries:
        parts["ensemble_inventory"] = battery_inventory(when, batteries)
        parts["ensemble_power"] = battery_power(when, batteries)
        parts["ensemble_secctrl"] = battery_secctrl(when, batteries)
    results = []
    for offset, (name, records) in enumerate(parts.items()):
        fetched = when + timedelta(seconds=offset)
        results.append(failed(name, fetched) if name in fail else endpoint(name, records, fetched))
    return PollResult(
        GatewayIdentity(serial, "192.0.2.10", "roof"),
        when,
        when + timedelta(seconds=len(parts)),
        tuple(results),
    )


def only(poll: PollResult, *names: str) -> PollResult:
    """The same poll with only the named endpoints."""
    return replace(poll, endpoints=tuple(e for e in poll.endpoints if e.endpoint in names))


def with_count(poll: PollResult, count: int) -> PollResult:
    """The poll with every system reading's active_count set to ``count``."""

    def change(record: object) -> object:
        if isinstance(record, SystemReading):
            return replace(record, active_count=count)
        return record

    endpoints = tuple(
        replace(e, records=tuple(change(r) for r in e.records))  # type: ignore[misc]
        for e in poll.endpoints
    )
    return replace(poll, endpoints=endpoints)
