"""Parser for /ivp/pdm/device_data (firmware 8.2+): per-microinverter detail in milli-units."""

from __future__ import annotations

from datetime import datetime

from envoylog.parse.body import Doc, Irregular, Obj, instant, numbers, plain_dicts
from envoylog.parse.context import ParseContext
from envoylog.records import DeviceType, Inverter, InverterReading, Record

DEVICE_DATA_PATH = "/ivp/pdm/device_data"

JOULES_PER_WH = 3600.0
_PCU = DeviceType.PCU  # enum member lookups are slow on Python 3.11; these run per device
_KINDS = {"pcu": DeviceType.PCU, "acb": DeviceType.ACB}
_OTHER = DeviceType.OTHER
# lastReading keys in the order the checked reader reads them.
_LAST_KEYS = (
    "endDate",
    "duration",
    "joulesProduced",
    "dcVoltageINmV",
    "dcCurrentINmA",
    "acVoltageINmV",
    "acFrequencyINmHz",
    "channelTemp",
)
# (serial, reported_at, then the _LAST_KEYS numbers after endDate, lifetime joules, max watts)
_Report = tuple[str, datetime, list[float | None], float | None, float | None]


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
    records: list[Record] = []
    for key, value in data.data.items():
        if not isinstance(value, dict):
            if key.isdigit():
                doc.fail(f"body[{key!r}]: expected a device object, got {type(value).__name__}")
            continue
        try:
            device = _quick_device(doc, value)
        except Irregular:
            device = _checked_device(doc.as_obj(value, f"body[{key!r}]"))
        if device is None:
            continue
        serial, kind, active, report = device
        records.append(Inverter(serial=serial, device_type=kind, active=active))
        if report is not None:
            records.append(_reading(*report))
    if not records and "deviceCount" not in data:
        doc.fail("no devices and no deviceCount")
    return tuple(records)


_Device = tuple[str, DeviceType, bool | None, _Report | None]


def _quick_device(doc: Doc, device: dict[str, object]) -> _Device | None:
    name = device.get("devName")
    serial = device.get("sn")
    if type(name) is not str or type(serial) is not str or not name.strip() or not serial.strip():
        raise Irregular
    if name == "eim":
        return None
    active = device.get("active")
    gone = device.get("modGone")
    if not (active is None or type(active) is bool) or not (gone is None or type(gone) is bool):
        raise Irregular
    if gone:
        active = False
    kind = _KINDS.get(name, _OTHER)
    if kind is not _PCU:
        return serial, kind, active, None
    channels = plain_dicts(device.get("channels"))
    last = channels[0].get("lastReading") if channels else None
    if last is None:
        return serial, kind, active, None
    if type(last) is not dict:
        raise Irregular
    if not last:
        return serial, kind, active, None
    end, *values = numbers(last, _LAST_KEYS)
    reported_at = instant(doc, end)
    if reported_at is None:
        return serial, kind, active, None
    duration, joules = values[0], values[1]
    if duration is None or joules is None or duration < 0:
        raise Irregular
    lifetime = channels[0].get("lifetime")
    watts = channels[0].get("watts")
    if lifetime is None:
        lifetime = {}
    if watts is None:
        watts = {}
    if type(lifetime) is not dict or type(watts) is not dict:
        raise Irregular
    (lifetime_joules,) = numbers(lifetime, ("joulesProduced",))
    (max_watts,) = numbers(watts, ("max",))
    return serial, kind, active, (serial, reported_at, values, lifetime_joules, max_watts)


def _checked_device(device: Obj) -> _Device | None:
    name = device.str_("devName")
    serial = device.str_("sn")
    if name == "eim":
        return None
    kind = _KINDS.get(name, _OTHER)
    active = device.opt_bool("active")
    # Removed inverters stay listed, flagged modGone, with an empty lastReading.
    if device.opt_bool("modGone"):
        active = False
    report = _checked_report(device, serial) if kind is _PCU else None
    return serial, kind, active, report


def _checked_report(device: Obj, serial: str) -> _Report | None:
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
    duration = last.num("duration")
    if duration < 0:
        device.doc.fail(f"{last.where}.duration: {duration} is negative")
    joules = last.num("joulesProduced")
    lifetime = channel.opt_obj("lifetime")
    lifetime_joules = lifetime.opt_num("joulesProduced") if lifetime else None
    watts = channel.opt_obj("watts")
    max_watts = watts.opt_num("max") if watts else None
    values = [duration, joules, *(last.opt_num(key) for key in _LAST_KEYS[3:])]
    return serial, reported_at, values, lifetime_joules, max_watts


def _reading(
    serial: str,
    reported_at: datetime,
    values: list[float | None],
    lifetime_joules: float | None,
    max_watts: float | None,
) -> InverterReading:
    duration, joules, dc_mv, dc_ma, ac_mv, ac_mhz, temperature = values
    assert duration is not None and joules is not None  # required by both readers
    return InverterReading(
        serial=serial,
        reported_at=reported_at,
        # watts.now is rounded; the interval's joules give the exact average power.
        watts=joules / duration if duration > 0 else None,
        max_watts=max_watts,
        interval_s=duration,
        wh_interval=joules / JOULES_PER_WH,
        wh_lifetime=lifetime_joules / JOULES_PER_WH if lifetime_joules is not None else None,
        dc_voltage_v=dc_mv / 1000 if dc_mv is not None else None,
        dc_current_a=dc_ma / 1000 if dc_ma is not None else None,
        ac_voltage_v=ac_mv / 1000 if ac_mv is not None else None,
        ac_frequency_hz=ac_mhz / 1000 if ac_mhz is not None else None,
        temperature_c=temperature,
    )
