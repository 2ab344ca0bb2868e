"""Parsers for /production.json and /production (JSON on firmware 4+, an HTML page on 3.x)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from envoylog.parse.body import (
    Doc,
    Irregular,
    Obj,
    instant,
    numbers,
    plain_dicts,
    string,
    whole,
)
from envoylog.parse.context import ParseContext
from envoylog.parse.legacy_page import legacy_page_reading
from envoylog.records import Measurement, PhaseValues, ReadingFlag, Record, Source, SystemReading

PRODUCTION_JSON_PATH = "/production.json?details=1"
PRODUCTION_PATH = "/production"

_SECTIONS = ("production", "consumption", "storage")
_MEASUREMENTS = {m.value: m for m in Measurement}
# Keys in the order the checked readers read them; the fast readers give the same lists.
_METERED_KEYS = (
    "readingTime",
    "activeCount",
    "whLifetime",
    "rmsVoltage",
    "wNow",
    "apprntPwr",
    "reactPwr",
    "pwrFactor",
    "rmsCurrent",
)
_LINE_KEYS = (
    "wNow",
    "whLifetime",
    "apprntPwr",
    "reactPwr",
    "pwrFactor",
    "rmsVoltage",
    "rmsCurrent",
)
_BATTERY_KEYS = ("activeCount", "readingTime", "wNow", "whNow")
# Enum member lookups are slow on Python 3.11, and these run per entry.
_EIM, _INVERTERS, _ACB = Source.EIM, Source.INVERTERS, Source.ACB
_PRODUCTION, _STORAGE = Measurement.PRODUCTION, Measurement.STORAGE


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
    doc = data.doc
    if "production" not in data:
        doc.fail("no production[] list")
    readings: dict[tuple[Source, Measurement], SystemReading] = {}
    for section in _SECTIONS:
        entries = data.data.get(section)
        if entries is None:
            continue
        for index, entry in enumerate(doc.dicts(entries, f"{data.where}.{section}")):
            try:
                reading = _quick_entry(doc, entry, section, ctx)
            except Irregular:
                checked = Obj(doc, entry, f"{data.where}.{section}[{index}]")
                reading = _entry_reading(checked, section, ctx)
            if reading is not None:
                readings.setdefault((reading.source, reading.measurement), reading)
    return _flag_overwritten_total(readings)


def _quick_entry(
    doc: Doc, entry: dict[str, object], section: str, ctx: ParseContext
) -> SystemReading | None:
    kind = entry.get("type")
    if type(kind) is not str or not kind.strip():
        raise Irregular
    if kind == "inverters" and section == "production":
        return _quick_metered(doc, entry, _INVERTERS, _PRODUCTION, ctx)
    if kind == "eim":
        measurement = _eim_measurement(string(entry, "measurementType"), section)
        if measurement is None:
            return None
        return _quick_metered(doc, entry, _EIM, measurement, ctx)
    if kind == "acb" and section == "storage":
        active, reading_time, watts, stored = numbers(entry, _BATTERY_KEYS)
        active_count = whole(active)
        if active_count == 0:
            return None
        if watts is None or stored is None:
            raise Irregular
        state = string(entry, "state")
        return _battery(instant(doc, reading_time), active_count, watts, stored, state, ctx)
    return None


def _quick_metered(
    doc: Doc,
    entry: dict[str, object],
    source: Source,
    measurement: Measurement,
    ctx: ParseContext,
) -> SystemReading:
    reading_time, active, *values = numbers(entry, _METERED_KEYS)
    if values[0] is None or values[2] is None:  # whLifetime, wNow
        raise Irregular
    phases = tuple(
        _phase(number, numbers(line, _LINE_KEYS))
        for number, line in enumerate(plain_dicts(entry.get("lines")), start=1)
    )
    measured_at = instant(doc, reading_time)
    return _metered(source, measurement, measured_at, whole(active), values, phases, ctx)


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
        active_count = entry.opt_int("activeCount")
        if active_count == 0:
            return None
        measured_at = entry.epoch("readingTime")
        watts, stored = entry.num("wNow"), entry.num("whNow")
        return _battery(measured_at, active_count, watts, stored, entry.opt_str("state"), ctx)
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
        return _PRODUCTION
    if section == "storage":
        return _STORAGE
    return None


def _metered_reading(
    entry: Obj, source: Source, measurement: Measurement, ctx: ParseContext
) -> SystemReading:
    measured_at = entry.epoch("readingTime")
    active_count = entry.opt_int("activeCount")
    values: list[float | None] = [entry.num("whLifetime")]
    lines = entry.opt_objects("lines")
    values.append(entry.opt_num("rmsVoltage"))
    values.append(entry.num("wNow"))
    values.extend(entry.opt_num(key) for key in _METERED_KEYS[5:])
    phases = tuple(
        _phase(number, [line.opt_num(key) for key in _LINE_KEYS])
        for number, line in enumerate(lines, start=1)
    )
    return _metered(source, measurement, measured_at, active_count, values, phases, ctx)


def _metered(
    source: Source,
    measurement: Measurement,
    measured_at: datetime | None,
    active_count: int | None,
    values: list[float | None],
    phases: tuple[PhaseValues, ...],
    ctx: ParseContext,
) -> SystemReading:
    """Build an inverters or eim reading from the _METERED_KEYS values after activeCount."""
    wh_lifetime, voltage, watts, va, var, power_factor, current = values
    flags = []
    if measured_at is None:
        # The inverters entry reads 0 at night (no report yet); old eim entries omit it.
        measured_at = ctx.fetched_at
        flags.append(ReadingFlag.NO_READING_TIME)
    if len(phases) > 1 or (not phases and _site_phase_count(ctx) > 1):
        voltage = None  # the aggregate rmsVoltage is the sum of the phase voltages
    if source is _EIM and active_count == 0:
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
        va=va,
        var=var,
        power_factor=power_factor,
        voltage_v=voltage,
        current_a=current,
        phases=phases,
        flags=tuple(flags),
    )


def _phase(number: int, values: list[float | None]) -> PhaseValues:
    watts, wh_lifetime, va, var, power_factor, voltage, current = values
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


def _battery(
    measured_at: datetime | None,
    active_count: int | None,
    watts: float,
    wh_stored: float,
    state: str | None,
    ctx: ParseContext,
) -> SystemReading:
    # Every production.json lists an all-zero acb entry (activeCount 0) when there is none;
    # both readers leave that out before reading further.
    flags: tuple[ReadingFlag, ...] = ()
    if measured_at is None:
        measured_at = ctx.fetched_at
        flags = (ReadingFlag.NO_READING_TIME,)
    return SystemReading(
        source=_ACB,
        measurement=_STORAGE,
        measured_at=measured_at,
        watts=watts,
        active_count=active_count,
        wh_stored=wh_stored,
        state=state,
        flags=flags,
    )


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
