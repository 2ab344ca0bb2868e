"""Reading rows: bulk insert-or-ignore, and the order-independent merge of inverter reports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_
from sqlalchemy.sql.dml import Insert

from envoylog.db.devices import InverterSighting, dialect_insert, inverter_ids, meter_ids
from envoylog.db.models import (
    FLAG_BITS,
    inverter_readings,
    meter_readings,
    phase_readings,
    system_readings,
)
from envoylog.db.store import Txn
from envoylog.records import (
    Inverter,
    InverterReading,
    MeterReading,
    Record,
    SystemReading,
)


@dataclass(frozen=True, slots=True)
class RecordGroup:
    """The records one endpoint gave for one gateway."""

    gateway_id: int
    endpoint: str
    fetched_at: datetime
    records: Sequence[Record]


@dataclass(slots=True)
class ReadingCounts:
    system_readings: int = 0
    phase_readings: int = 0
    meters: int = 0
    meter_readings: int = 0
    inverters: int = 0
    inverter_readings: int = 0


SYSTEM_VALUES = (
    "watts",
    "wh_lifetime",
    "active_count",
    "va",
    "var",
    "power_factor",
    "voltage_v",
    "current_a",
    "wh_stored",
    "state",
)
PHASE_VALUES = ("watts", "wh_lifetime", "va", "var", "power_factor", "voltage_v", "current_a")
METER_VALUES = (
    "watts",
    "va",
    "var",
    "power_factor",
    "voltage_v",
    "current_a",
    "frequency_hz",
    "wh_delivered",
    "wh_received",
)
INVERTER_VALUES = (
    "watts",
    "max_watts",
    "interval_s",
    "wh_interval",
    "wh_lifetime",
    "dc_voltage_v",
    "dc_current_a",
    "ac_voltage_v",
    "ac_frequency_hz",
    "temperature_c",
)
# Two endpoints report the same (serial, reported_at). Each column has one endpoint whose
# value wins; the other only fills a gap. That makes the stored row the same whatever order
# the endpoints (or replayed polls) arrive in.
INVERTER_PREFERRED: dict[str, str] = {
    "watts": "api_v1_inverters",
    "max_watts": "api_v1_inverters",
    **{name: "device_data" for name in INVERTER_VALUES[2:]},
}


def flag_bits(reading: SystemReading) -> int:
    bits = 0
    for flag in reading.flags:
        bits |= FLAG_BITS[flag]
    return bits


@dataclass(slots=True)
class _Statements:
    system: Insert
    phase: Insert
    meter: Insert
    inverter: dict[str, Insert] = field(default_factory=dict)


_STATEMENTS: dict[str, _Statements] = {}


def _statements(txn: Txn) -> _Statements:
    found = _STATEMENTS.get(txn.dialect)
    if found is None:
        system_key = ["gateway_id", "source", "measurement", "measured_at"]
        found = _Statements(
            system=dialect_insert(txn, system_readings)
            .on_conflict_do_nothing(index_elements=system_key)
            .returning(system_readings.c.id, *(system_readings.c[k] for k in system_key)),
            phase=dialect_insert(txn, phase_readings).on_conflict_do_nothing(
                index_elements=["reading_id", "phase"]
            ),
            meter=dialect_insert(txn, meter_readings)
            .on_conflict_do_nothing(index_elements=["meter_id", "channel", "measured_at"])
            .returning(meter_readings.c.meter_id),
        )
        _STATEMENTS[txn.dialect] = found
    return found


def _inverter_statement(txn: Txn, endpoints: frozenset[str]) -> Insert:
    """Upsert for rows built from ``endpoints``: their preferred columns win, others fill gaps."""
    statements = _statements(txn)
    key = ",".join(sorted(endpoints))
    found = statements.inverter.get(key)
    if found is None:
        stmt: Any = dialect_insert(txn, inverter_readings)
        existing, new = inverter_readings.c, stmt.excluded
        set_: dict[str, Any] = {}
        changes = []
        for name in INVERTER_VALUES:
            if INVERTER_PREFERRED.get(name) in endpoints:
                set_[name] = func.coalesce(new[name], existing[name])
                changes.append(
                    and_(new[name].is_not(None), existing[name].is_distinct_from(new[name]))
                )
            else:
                set_[name] = func.coalesce(existing[name], new[name])
                changes.append(and_(existing[name].is_(None), new[name].is_not(None)))
        found = stmt.on_conflict_do_update(
            index_elements=["inverter_id", "reported_at"], set_=set_, where=or_(*changes)
        ).returning(inverter_readings.c.inverter_id)
        statements.inverter[key] = found
    return found


def write_readings(txn: Txn, groups: Sequence[RecordGroup]) -> ReadingCounts:
    """Insert every reading of the groups; existing readings are kept (inverters: merged)."""
    counts = ReadingCounts()
    systems: dict[tuple[Any, ...], tuple[dict[str, Any], SystemReading]] = {}
    meter_rows: dict[int, list[MeterReading]] = {}
    sightings: dict[int, dict[str, InverterSighting]] = {}
    inverter_reports: dict[int, list[tuple[str, InverterReading]]] = {}
    for group in groups:
        gid = group.gateway_id
        for record in group.records:
            if isinstance(record, SystemReading):
                key = (gid, record.source.value, record.measurement.value, record.measured_at)
                if key not in systems:
                    systems[key] = (_system_row(gid, record), record)
            elif isinstance(record, MeterReading):
                meter_rows.setdefault(gid, []).append(record)
            elif isinstance(record, Inverter | InverterReading):
                device = record if isinstance(record, Inverter) else None
                seen = sightings.setdefault(gid, {})
                sighting = seen.get(record.serial)
                if sighting is None:
                    sighting = seen[record.serial] = InverterSighting(
                        group.fetched_at, group.fetched_at
                    )
                sighting.add(group.fetched_at, device)
                if isinstance(record, InverterReading):
                    inverter_reports.setdefault(gid, []).append((group.endpoint, record))
    if systems:
        _write_system(txn, systems, counts)
    for gid, readings in meter_rows.items():
        _write_meters(txn, gid, readings, counts)
    for gid, seen in sightings.items():
        ids, created = inverter_ids(txn, gid, seen)
        counts.inverters += created
        _write_inverters(txn, ids, inverter_reports.get(gid, []), counts)
    return counts


def _system_row(gateway_id: int, reading: SystemReading) -> dict[str, Any]:
    row: dict[str, Any] = {
        "gateway_id": gateway_id,
        "source": reading.source.value,
        "measurement": reading.measurement.value,
        "measured_at": reading.measured_at,
        "flags": flag_bits(reading),
    }
    for name in SYSTEM_VALUES:
        row[name] = getattr(reading, name)
    return row


def _write_system(
    txn: Txn,
    systems: dict[tuple[Any, ...], tuple[dict[str, Any], SystemReading]],
    counts: ReadingCounts,
) -> None:
    statements = _statements(txn)
    inserted = txn.conn.execute(statements.system, [row for row, _ in systems.values()]).all()
    counts.system_readings += len(inserted)
    phases: list[dict[str, Any]] = []
    for reading_id, gid, source, measurement, measured_at in inserted:
        reading = systems[(gid, source, measurement, measured_at)][1]
        for phase in reading.phases:
            row = {"reading_id": reading_id, "phase": phase.phase}
            for name in PHASE_VALUES:
                row[name] = getattr(phase, name)
            phases.append(row)
    if phases:
        txn.conn.execute(statements.phase, phases)
        counts.phase_readings += len(phases)


def _write_meters(
    txn: Txn, gateway_id: int, readings: list[MeterReading], counts: ReadingCounts
) -> None:
    ids, created = meter_ids(txn, gateway_id, (r.eid for r in readings))
    counts.meters += created
    rows: dict[tuple[int, int, datetime], dict[str, Any]] = {}
    for reading in readings:
        key = (ids[reading.eid], reading.channel, reading.measured_at)
        if key in rows:
            continue
        row: dict[str, Any] = {
            "meter_id": key[0],
            "channel": reading.channel,
            "measured_at": reading.measured_at,
        }
        for name in METER_VALUES:
            row[name] = getattr(reading, name)
        rows[key] = row
    counts.meter_readings += len(
        txn.conn.execute(_statements(txn).meter, list(rows.values())).all()
    )


def _write_inverters(
    txn: Txn,
    ids: dict[str, int],
    reports: list[tuple[str, InverterReading]],
    counts: ReadingCounts,
) -> None:
    # Both endpoints usually come in the same poll: merge them here, by the same rule the
    # upsert applies, so the row is written once (on PostgreSQL an update is a new tuple).
    merged: dict[tuple[int, datetime], tuple[dict[str, Any], set[str]]] = {}
    for endpoint, report in reports:
        key = (ids[report.serial], report.reported_at)
        entry = merged.get(key)
        if entry is None:
            row = {"inverter_id": key[0], "reported_at": report.reported_at}
            row.update({name: getattr(report, name) for name in INVERTER_VALUES})
            merged[key] = (row, {endpoint})
            continue
        row, sources = entry
        sources.add(endpoint)
        for name in INVERTER_VALUES:
            value = getattr(report, name)
            if value is not None and (
                row[name] is None or INVERTER_PREFERRED.get(name) == endpoint
            ):
                row[name] = value
    by_sources: dict[frozenset[str], list[dict[str, Any]]] = {}
    for row, sources in merged.values():
        by_sources.setdefault(frozenset(sources), []).append(row)
    for endpoints, rows in sorted(by_sources.items(), key=lambda item: sorted(item[0])):
        written = txn.conn.execute(_inverter_statement(txn, endpoints), rows).all()
        counts.inverter_readings += len(written)
