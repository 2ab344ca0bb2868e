"""Parser for /ivp/pdm/device_data (firmware 8.2+): per-microinverter detail in milli-units."""

from __future__ import annotations

from envoylog.parse import bounds
from envoylog.parse.body import Doc, Obj, milli
from envoylog.parse.context import ParseContext
from envoylog.records import DeviceType, Inverter, InverterReading, Record

DEVICE_DATA_PATH = "/ivp/pdm/device_data"

JOULES_PER_WH = 3600.0
_KINDS = {"pcu": DeviceType.PCU, "acb": DeviceType.ACB}


def parse_device_data(body: bytes, ctx: ParseContext) -> tuple[Record, ...]:
    """Parse /ivp/pdm/device_data into devices and each microinverter's last report.

    Keys holding objects are devices; numbers beside them (deviceCount, deviceDataLimit)
    are metadata. devName "eim" devices are the CT meters, which /ivp/meters describes,
    so they are left out. "acb" devices become DeviceType.ACB, matching devType 11 in
    /api/v1/production/inverters, without a reading: their joules count only discharge.
    Any other devName becomes DeviceType.OTHER so that new kinds of device stay visible.
    """
    doc = Doc(DEVICE_DATA_PATH, body)
    data = doc.json_object()
    doc.count("body", sum(isinstance(value, dict) for value in data.data.values()), "devices")
    records: list[Record] = []
    for key, value in data.data.items():
        if not isinstance(value, dict):
            if key.isdigit():
                doc.fail(f"body[{key!r}]: expected a device object, got {type(value).__name__}")
            continue
        device = _device(doc.as_obj(value, f"body[{key!r}]"), ctx)
        if device is None:
            continue
        inverter, reading = device
        records.append(inverter)
        if reading is not None:
            records.append(reading)
    if not records and "deviceCount" not in data:
        doc.fail("no devices and no deviceCount")
    return tuple(records)


def _device(device: Obj, ctx: ParseContext) -> tuple[Inverter, InverterReading | None] | None:
    """A listed device and, for a microinverter that reported, its last report."""
    name = device.str_("devName")
    serial = device.str_("sn", most=bounds.SERIAL_CHARS)
    if name == "eim":
        return None
    kind = _KINDS.get(name, DeviceType.OTHER)
    active = device.opt_bool("active")
    # Removed inverters stay listed, flagged modGone, with an empty lastReading.
    if device.opt_bool("modGone"):
        active = False
    reading = _last_report(device, serial, ctx) if kind is DeviceType.PCU else None
    return Inverter(serial=serial, device_type=kind, active=active), reading


def _last_report(device: Obj, serial: str, ctx: ParseContext) -> InverterReading | None:
    channels = device.opt_objects("channels")
    if not channels:
        return None
    channel = channels[0]  # a microinverter reports on a single channel
    last = channel.opt_obj("lastReading")
    if last is None or not last.data:
        return None
    reported_at = last.epoch("endDate")
    if reported_at is None:
        return None
    reported_at, flags = bounds.on_clock(reported_at, ctx.fetched_at, request_time=False)
    duration = last.num("duration")
    if duration < 0:
        device.doc.fail(f"{last.where}.duration: {duration} is negative")
    joules = last.num("joulesProduced")
    dc_mv, dc_ma, ac_mv, ac_mhz = (
        last.opt_num(key)
        for key in ("dcVoltageINmV", "dcCurrentINmA", "acVoltageINmV", "acFrequencyINmHz")
    )
    lifetime = channel.opt_obj("lifetime")
    lifetime_joules = lifetime.opt_num("joulesProduced") if lifetime else None
    watts = channel.opt_obj("watts")
    reading = InverterReading(
        serial=serial,
        reported_at=reported_at,
        # watts.now is rounded; the interval's joules give the exact average power.
        watts=joules / duration if duration > 0 else None,
        max_watts=watts.opt_num("max") if watts else None,
        interval_s=duration,
        wh_interval=joules / JOULES_PER_WH,
        wh_lifetime=lifetime_joules / JOULES_PER_WH if lifetime_joules is not None else None,
        dc_voltage_v=milli(dc_mv),
        dc_current_a=milli(dc_ma),
        ac_voltage_v=milli(ac_mv),
        ac_frequency_hz=milli(ac_mhz),
        temperature_c=last.opt_num("channelTemp"),
        flags=flags,
    )
    return bounds.plausible(reading)
