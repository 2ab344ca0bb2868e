"""Parsers for the CT meter configuration (/ivp/meters) and readings (/ivp/meters/readings)."""

from __future__ import annotations

from datetime import datetime

from envoylog.parse.body import Doc, Irregular, Obj, instant, numbers, plain_dicts
from envoylog.parse.context import ParseContext
from envoylog.records import MeterConfig, MeterReading, Record

METERS_PATH = "/ivp/meters"
METER_READINGS_PATH = "/ivp/meters/readings"

# Reading keys in the order the checked reader reads them; the first and last two are required.
_READING_KEYS = (
    "activePower",
    "apparentPower",
    "reactivePower",
    "pwrFactor",
    "voltage",
    "current",
    "freq",
    "actEnergyDlvd",
    "actEnergyRcvd",
)
_REQUIRED = frozenset(("activePower", "actEnergyDlvd", "actEnergyRcvd"))
_EXACT_INT = 2**53  # beyond this an int read through float (as Obj.int_ does) would change
_TIMESTAMP = ("timestamp",)


def parse_meters(body: bytes, ctx: ParseContext) -> tuple[Record, ...]:
    """Parse /ivp/meters into one MeterConfig per CT; an empty list means no CTs."""
    doc = Doc(METERS_PATH, body)
    return tuple(_meter_config(meter) for meter in doc.as_objs(doc.json(), "body"))


def _meter_config(meter: Obj) -> MeterConfig:
    phase_count = meter.opt_int("phaseCount")
    if phase_count is not None and not 0 <= phase_count <= 3:
        meter.doc.fail(f"{meter.where}.phaseCount: {phase_count} is not 0-3")
    return MeterConfig(
        eid=meter.int_("eid"),
        measurement_type=meter.str_("measurementType"),
        state=meter.str_("state"),
        phase_mode=meter.opt_str("phaseMode"),
        phase_count=phase_count,
        metering_status=meter.opt_str("meteringStatus"),
        status_flags=meter.opt_strs("statusFlags"),
    )


def parse_meter_readings(body: bytes, ctx: ParseContext) -> tuple[Record, ...]:
    """Parse /ivp/meters/readings into channel 0 (whole meter) and phase channel readings.

    With the meter configuration known (ctx.meters), only enabled, configured meters are
    kept, with their first phaseCount channels. Without it, only channel 0 of meters with a
    non-zero timestamp is kept: unused channels cannot be told from real ones, and channel
    0's voltage is kept as sent although on a multi-phase meter it is a sum.
    """
    doc = Doc(METER_READINGS_PATH, body)
    configs = {m.eid: m for m in ctx.meters} if ctx.meters is not None else None
    records: list[Record] = []
    for index, meter in enumerate(doc.dicts(doc.json(), "body")):
        try:
            eid, measured_at, channels = _quick_meter(doc, meter)
        except Irregular:
            eid, measured_at, channels = _checked_meter(Obj(doc, meter, f"body[{index}]"))
        if configs is None:
            phase_count = 0
        else:
            config = configs.get(eid)
            # Readings list meters /ivp/meters does not, and disabled meters [8.3.1598_collar].
            if config is None or not config.enabled:
                continue
            phase_count = config.phase_count or 0
        if measured_at is None:
            continue  # a disabled or absent meter: timestamp 0 and zeros
        values = _values(doc, meter, index, None)
        # On a multi-phase meter channel 0's voltage is the sum of the phases.
        records.append(_reading(eid, 0, measured_at, values, sum_voltage=phase_count > 1))
        # Channels past phaseCount hold zeros, noise or another CT's phase [8.2.4286].
        for number, channel in enumerate(channels[:phase_count], start=1):
            channel_at: datetime | None = measured_at
            if "timestamp" in channel:
                try:
                    channel_at = instant(doc, numbers(channel, _TIMESTAMP)[0])
                except Irregular:
                    where = f"body[{index}].channels[{number - 1}]"
                    channel_at = Obj(doc, channel, where).epoch("timestamp")
            if channel_at is not None:
                values = _values(doc, channel, index, number - 1)
                records.append(_reading(eid, number, channel_at, values, sum_voltage=False))
    return tuple(records)


def _quick_meter(
    doc: Doc, meter: dict[str, object]
) -> tuple[int, datetime | None, list[dict[str, object]]]:
    eid = meter.get("eid")
    if type(eid) is not int or not -_EXACT_INT <= eid <= _EXACT_INT or "timestamp" not in meter:
        raise Irregular
    measured_at = instant(doc, numbers(meter, _TIMESTAMP)[0])
    return eid, measured_at, plain_dicts(meter.get("channels"))


def _checked_meter(meter: Obj) -> tuple[int, datetime | None, list[dict[str, object]]]:
    eid = meter.int_("eid")
    if "timestamp" not in meter:
        meter.doc.fail(f"{meter.where}: missing required key 'timestamp'")
    measured_at = meter.epoch("timestamp")
    return eid, measured_at, [channel.data for channel in meter.opt_objects("channels")]


def _values(
    doc: Doc, obj: dict[str, object], index: int, channel: int | None
) -> list[float | None]:
    """Read the _READING_KEYS numbers of a meter (channel None) or one of its channels."""
    try:
        values = numbers(obj, _READING_KEYS)
        if values[0] is None or values[7] is None or values[8] is None:
            raise Irregular
    except Irregular:
        where = f"body[{index}]" if channel is None else f"body[{index}].channels[{channel}]"
        checked = Obj(doc, obj, where)
        return [checked.num(k) if k in _REQUIRED else checked.opt_num(k) for k in _READING_KEYS]
    return values


def _reading(
    eid: int, channel: int, measured_at: datetime, values: list[float | None], *, sum_voltage: bool
) -> MeterReading:
    watts, va, var, power_factor, voltage, current, frequency, delivered, received = values
    return MeterReading(
        eid=eid,
        channel=channel,
        measured_at=measured_at,
        watts=watts,
        va=va,
        var=var,
        power_factor=power_factor,
        voltage_v=None if sum_voltage else voltage,
        current_a=current,
        frequency_hz=frequency,
        wh_delivered=delivered,
        wh_received=received,
    )
