"""Parsers for the CT meter configuration (/ivp/meters) and readings (/ivp/meters/readings)."""

from __future__ import annotations

from datetime import datetime

from envoylog.parse import bounds
from envoylog.parse.body import Doc, Obj
from envoylog.parse.context import ParseContext
from envoylog.records import MeterConfig, MeterReading, Record

METERS_PATH = "/ivp/meters"
METER_READINGS_PATH = "/ivp/meters/readings"


def parse_meters(body: bytes, ctx: ParseContext) -> tuple[Record, ...]:
    """Parse /ivp/meters into one MeterConfig per CT; an empty list means no CTs."""
    doc = Doc(METERS_PATH, body)
    return tuple(_meter_config(meter) for meter in doc.as_objs(doc.json(), "body"))


def _meter_config(meter: Obj) -> MeterConfig:
    phase_count = meter.opt_int("phaseCount", most=bounds.MAX_PHASES, what="a phase count")
    status_flags = meter.opt_strs("statusFlags")
    meter.fits("statusFlags", ",".join(status_flags), bounds.STATUS_FLAGS_CHARS)
    return MeterConfig(
        eid=_eid(meter),
        measurement_type=meter.str_("measurementType", most=bounds.MEASUREMENT_TYPE_CHARS),
        state=meter.str_("state", most=bounds.METER_STATE_CHARS),
        phase_mode=meter.opt_str("phaseMode", most=bounds.PHASE_MODE_CHARS),
        phase_count=phase_count,
        metering_status=meter.opt_str("meteringStatus", most=bounds.METERING_STATUS_CHARS),
        status_flags=status_flags,
    )


def _eid(meter: Obj) -> int:
    return meter.int_("eid", most=bounds.MAX_ID, what="a 64-bit meter id")


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
    for meter in doc.as_objs(doc.json(), "body"):
        eid = _eid(meter)
        if "timestamp" not in meter:
            doc.fail(f"{meter.where}: missing required key 'timestamp'")
        measured_at = meter.epoch("timestamp")
        channels = meter.opt_objects("channels")
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
        # The request time (QUIRKS 21): far from ours, it is the gateway's clock that is off.
        doc.on_time(f"{meter.where}.timestamp", measured_at, ctx.fetched_at, request_time=True)
        # On a multi-phase meter channel 0's voltage is the sum of the phases.
        records.append(_reading(meter, eid, 0, measured_at, sum_voltage=phase_count > 1))
        # Channels past phaseCount hold zeros, noise or another CT's phase [8.2.4286].
        for number, channel in enumerate(channels[:phase_count], start=1):
            channel_at = channel.epoch("timestamp") if "timestamp" in channel else measured_at
            if channel_at is not None:
                where = f"{channel.where}.timestamp"
                doc.on_time(where, channel_at, ctx.fetched_at, request_time=True)
                records.append(_reading(channel, eid, number, channel_at, sum_voltage=False))
    return tuple(records)


def _reading(
    values: Obj, eid: int, channel: int, measured_at: datetime, *, sum_voltage: bool
) -> MeterReading:
    """The reading of a whole meter (channel 0) or of one of its phase channels."""
    voltage = values.opt_num("voltage")
    reading = MeterReading(
        eid=eid,
        channel=channel,
        measured_at=measured_at,
        watts=values.num("activePower"),
        va=values.opt_num("apparentPower"),
        var=values.opt_num("reactivePower"),
        power_factor=values.opt_num("pwrFactor"),
        voltage_v=None if sum_voltage else voltage,
        current_a=values.opt_num("current"),
        frequency_hz=values.opt_num("freq"),
        wh_delivered=values.num("actEnergyDlvd"),
        wh_received=values.num("actEnergyRcvd"),
    )
    return values.doc.plausible(values.where, reading)
