"""Parsers for /production.json and /production (JSON on firmware 4+, an HTML page on 3.x)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from envoylog.parse import bounds
from envoylog.parse.body import Doc, Obj
from envoylog.parse.context import ParseContext
from envoylog.parse.legacy_page import legacy_page_reading
from envoylog.records import Measurement, PhaseValues, ReadingFlag, Record, Source, SystemReading

PRODUCTION_JSON_PATH = "/production.json?details=1"
PRODUCTION_PATH = "/production"

_SECTIONS = ("production", "consumption", "storage")
_MEASUREMENTS = {m.value: m for m in Measurement}
_LINE_KEYS = (
    "wNow",
    "whLifetime",
    "apprntPwr",
    "reactPwr",
    "pwrFactor",
    "rmsVoltage",
    "rmsCurrent",
)


def parse_production_json(body: bytes, ctx: ParseContext) -> tuple[Record, ...]:
    """Parse /production.json into one SystemReading per inverters / eim / acb entry."""
    doc = Doc(PRODUCTION_JSON_PATH, body)
    return production_readings(doc.json_object(), ctx)


def parse_production(body: bytes, ctx: ParseContext) -> tuple[Record, ...]:
    """Parse /production: the 3.x HTML page, or production.json's JSON twin on later firmware."""
    doc = Doc(PRODUCTION_PATH, body)
    if doc.is_html():
        return (legacy_page_reading(doc, ctx),)
    return production_readings(doc.json_object(), ctx)


def production_readings(data: Obj, ctx: ParseContext) -> tuple[SystemReading, ...]:
    """Turn a production.json-shaped object into readings, one per (source, measurement)."""
    if "production" not in data:
        data.doc.fail("no production[] list")
    readings: dict[tuple[Source, Measurement], SystemReading] = {}
    for section in _SECTIONS:
        for entry in data.opt_objects(section):
            reading = _entry_reading(entry, section, ctx)
            if reading is not None:
                key = (reading.source, reading.measurement)
                readings.setdefault(key, bounds.plausible(reading))
    return _flag_overwritten_total(readings)


def _entry_reading(entry: Obj, section: str, ctx: ParseContext) -> SystemReading | None:
    kind = entry.str_("type")
    if kind == "inverters" and section == "production":
        return _metered_reading(entry, Source.INVERTERS, Measurement.PRODUCTION, ctx)
    if kind == "eim":
        measurement = _eim_measurement(entry.opt_str("measurementType"), section)
        if measurement is None:
            return None
        return _metered_reading(entry, Source.EIM, measurement, ctx)
    if kind == "acb" and section == "storage":
        return _battery_reading(entry, ctx)
    # Unknown entry types (future firmware) are left out rather than failing the whole body.
    return None


def _eim_measurement(declared: str | None, section: str) -> Measurement | None:
    if declared is not None:
        return _MEASUREMENTS.get(declared)
    # Old firmware [4.2.33] omits measurementType. In production[] an eim entry can only be
    # the production CT, in storage[] only the storage CT. In consumption[] it could be
    # total or net consumption (on 4.x net can even mean import only), and list position
    # is not a reliable guide, so such an entry is left out rather than guessed.
    if section == "production":
        return Measurement.PRODUCTION
    if section == "storage":
        return Measurement.STORAGE
    return None


def _metered_reading(
    entry: Obj, source: Source, measurement: Measurement, ctx: ParseContext
) -> SystemReading:
    """An inverters or eim entry: counter, power and the rest, with its phases (lines)."""
    # An eim entry's readingTime is the request time; the inverters entry's the last report.
    measured_at, flags = _instant(entry, ctx, request_time=source is Source.EIM)
    active_count = _active_count(entry)
    wh_lifetime, watts = entry.num("whLifetime"), entry.num("wNow")
    voltage = entry.opt_num("rmsVoltage")
    lines = entry.opt_objects("lines")
    if len(lines) > bounds.MAX_PHASES:
        entry.doc.fail(f"{entry.where}.lines: {len(lines)} phases; a gateway measures at most 3")
    phases = tuple(_phase(number, line) for number, line in enumerate(lines, start=1))
    if len(phases) > 1 or (not phases and _site_phase_count(ctx) > 1):
        voltage = None  # the aggregate rmsVoltage is the sum of the phase voltages
    if source is Source.EIM and active_count == 0:
        flags.append(ReadingFlag.CT_INACTIVE)
    if wh_lifetime == 0:
        flags.append(ReadingFlag.ZERO_LIFETIME)
    return SystemReading(
        source=source,
        measurement=measurement,
        measured_at=measured_at,
        watts=watts,
        wh_lifetime=wh_lifetime,
        active_count=active_count,
        va=entry.opt_num("apprntPwr"),
        var=entry.opt_num("reactPwr"),
        power_factor=entry.opt_num("pwrFactor"),
        voltage_v=voltage,
        current_a=entry.opt_num("rmsCurrent"),
        phases=phases,
        flags=tuple(flags),
    )


def _phase(number: int, line: Obj) -> PhaseValues:
    watts, wh_lifetime, va, var, power_factor, voltage, current = (
        line.opt_num(key) for key in _LINE_KEYS
    )
    return PhaseValues(
        phase=number,
        watts=watts,
        wh_lifetime=wh_lifetime,
        va=va,
        var=var,
        power_factor=power_factor,
        voltage_v=voltage,
        current_a=current,
    )


def _battery_reading(entry: Obj, ctx: ParseContext) -> SystemReading | None:
    """An old AC battery (acb) entry; None for the all-zero one listed when there is none."""
    active_count = _active_count(entry)
    if active_count == 0:
        # Every production.json lists an all-zero acb entry (activeCount 0) when there is none.
        return None
    measured_at, flags = _instant(entry, ctx, request_time=False)
    watts, wh_stored = entry.num("wNow"), entry.num("whNow")
    return SystemReading(
        source=Source.ACB,
        measurement=Measurement.STORAGE,
        measured_at=measured_at,
        watts=watts,
        active_count=active_count,
        wh_stored=wh_stored,
        state=entry.opt_str("state", most=bounds.STATE_CHARS),
        flags=tuple(flags),
    )


def _instant(
    entry: Obj, ctx: ParseContext, *, request_time: bool
) -> tuple[datetime, list[ReadingFlag]]:
    """The entry's readingTime (the inverters entry reads 0 at night; old eim entries omit it)."""
    return entry.flagged_instant("readingTime", ctx.fetched_at, request_time=request_time)


def _active_count(entry: Obj) -> int | None:
    return entry.opt_int("activeCount", most=bounds.MAX_DEVICES, what="a gateway's device count")


def _site_phase_count(ctx: ParseContext) -> int:
    if not ctx.meters:
        return 1
    return max((m.phase_count or 1) for m in ctx.meters)


def _flag_overwritten_total(
    readings: dict[tuple[Source, Measurement], SystemReading],
) -> tuple[SystemReading, ...]:
    total = readings.get((Source.EIM, Measurement.TOTAL_CONSUMPTION))
    net = readings.get((Source.EIM, Measurement.NET_CONSUMPTION))
    # Firmware 8.3.5433 copies net-consumption over total-consumption in this payload.
    if (
        total is not None
        and net is not None
        and total.wh_lifetime
        and total.wh_lifetime == net.wh_lifetime
        and total.watts == net.watts
    ):
        flagged = replace(total, flags=(*total.flags, ReadingFlag.OVERWRITTEN_BY_NET))
        readings[(Source.EIM, Measurement.TOTAL_CONSUMPTION)] = flagged
    return tuple(readings.values())
