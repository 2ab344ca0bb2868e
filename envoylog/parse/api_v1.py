"""Parsers for /api/v1/production and /api/v1/production/inverters."""

from __future__ import annotations

from datetime import datetime

from envoylog.parse.body import Doc, Irregular, Obj, instant, numbers, whole
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
_PCU, _OTHER = DeviceType.PCU, DeviceType.OTHER  # enum lookups are slow on 3.11; run per device
_DEVICE_KEYS = ("devType", "lastReportDate", "lastReportWatts", "maxReportWatts")


def parse_api_v1_production(body: bytes, ctx: ParseContext) -> tuple[Record, ...]:
    """Parse /api/v1/production into one production reading at the fetch time."""
    data = Doc(API_V1_PRODUCTION_PATH, body).json_object()
    wh_lifetime = data.num("wattHoursLifetime")
    # wattHoursToday / wattHoursSevenDays are deliberately not read: they reset unreliably.
    return (
        SystemReading(
            source=Source.API_V1,
            measurement=Measurement.PRODUCTION,
            measured_at=ctx.fetched_at,
            watts=data.num("wattsNow"),
            wh_lifetime=wh_lifetime,
            # All zeros after a restart, and on metered gateways without CTs [7.6.175_total].
            flags=(ReadingFlag.ZERO_LIFETIME,) if wh_lifetime == 0 else (),
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
    for index, device in enumerate(doc.dicts(doc.json(), "body")):
        try:
            serial, dev_type, reported_at, watts, max_watts = _quick_device(doc, device)
        except Irregular:
            checked = Obj(doc, device, f"body[{index}]")
            serial, dev_type, reported_at, watts, max_watts = _checked_device(checked)
        if serial in seen:
            continue
        seen.add(serial)
        # Firmware before 5 omits devType; there the list holds microinverters only.
        kind = _PCU if dev_type is None else _DEV_TYPES.get(dev_type, _OTHER)
        records.append(Inverter(serial=serial, device_type=kind))
        if reported_at is not None:
            records.append(
                InverterReading(
                    serial=serial, reported_at=reported_at, watts=watts, max_watts=max_watts
                )
            )
    return tuple(records)


# serialNumber, devType, lastReportDate, lastReportWatts, maxReportWatts
_Device = tuple[str, int | None, datetime | None, float, float | None]


def _quick_device(doc: Doc, device: dict[str, object]) -> _Device:
    serial = device.get("serialNumber")
    if type(serial) is not str or not serial.strip():
        raise Irregular
    dev_type, reported, watts, max_watts = numbers(device, _DEVICE_KEYS)
    if watts is None:
        raise Irregular
    return serial, whole(dev_type), instant(doc, reported), watts, max_watts


def _checked_device(device: Obj) -> _Device:
    return (
        device.str_("serialNumber"),
        device.opt_int("devType"),
        device.epoch("lastReportDate"),
        device.num("lastReportWatts"),
        device.opt_num("maxReportWatts"),
    )
