"""Parsers for /api/v1/production and /api/v1/production/inverters."""

from __future__ import annotations

from envoylog.parse import bounds
from envoylog.parse.body import Doc
from envoylog.parse.context import ParseContext
from envoylog.records import (
    DeviceType,
    Inverter,
    InverterReading,
    Measurement,
    ReadingFlag,
    Record,
    Source,
    SystemReading,
)

API_V1_PRODUCTION_PATH = "/api/v1/production"
API_V1_INVERTERS_PATH = "/api/v1/production/inverters"

_DEV_TYPES = {1: DeviceType.PCU, 11: DeviceType.ACB}


def parse_api_v1_production(body: bytes, ctx: ParseContext) -> tuple[Record, ...]:
    """Parse /api/v1/production into one production reading at the fetch time."""
    data = Doc(API_V1_PRODUCTION_PATH, body).json_object()
    wh_lifetime = data.num("wattHoursLifetime")
    # wattHoursToday / wattHoursSevenDays are deliberately not read: they reset unreliably.
    return (
        bounds.plausible(
            SystemReading(
                source=Source.API_V1,
                measurement=Measurement.PRODUCTION,
                measured_at=ctx.fetched_at,
                watts=data.num("wattsNow"),
                wh_lifetime=wh_lifetime,
                # All zeros after a restart, and on metered gateways without CTs [7.6.175_total].
                flags=(ReadingFlag.ZERO_LIFETIME,) if wh_lifetime == 0 else (),
            )
        ),
    )


def parse_api_v1_inverters(body: bytes, ctx: ParseContext) -> tuple[Record, ...]:
    """Parse /api/v1/production/inverters into devices and their last reports.

    An empty list is no devices (nothing reported yet), not an error. Retired devices
    stay listed with years-old report dates and are emitted as they are.
    """
    doc = Doc(API_V1_INVERTERS_PATH, body)
    records: list[Record] = []
    seen: set[str] = set()
    for device in doc.as_objs(doc.json(), "body"):
        serial = device.str_("serialNumber", most=bounds.SERIAL_CHARS)
        dev_type = device.opt_int("devType", most=bounds.MAX_ID, what="a device type")
        reported_at = device.epoch("lastReportDate")
        watts = device.num("lastReportWatts")
        max_watts = device.opt_num("maxReportWatts")
        if serial in seen:
            continue
        seen.add(serial)
        # Firmware before 5 omits devType; there the list holds microinverters only.
        kind = DeviceType.PCU if dev_type is None else _DEV_TYPES.get(dev_type, DeviceType.OTHER)
        records.append(Inverter(serial=serial, device_type=kind))
        if reported_at is not None:
            where = f"{device.where}.lastReportDate"
            doc.on_time(where, reported_at, ctx.fetched_at, request_time=False)
            reading = InverterReading(
                serial=serial, reported_at=reported_at, watts=watts, max_watts=max_watts
            )
            records.append(doc.plausible(device.where, reading))
    return tuple(records)
