"""Reading rows: bulk insert-or-ignore, and the order-independent merge of inverter reports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from operator import attrgetter
from typing import Any

from sqlalchemy import ColumnElement, Executable, and_, func, or_

from envoylog.db.devices import (
    BatterySighting,
    InverterSighting,
    battery_ids,
    inverter_ids,
    meter_ids,
    read_meters,
)
from envoylog.db.models import (
    FLAG_BITS,
    battery_readings,
    battery_system_readings,
    inverter_readings,
    meter_readings,
    phase_table,
    system_readings,
)
from envoylog.db.store import Txn, insert_new, upsert
from envoylog.records import (
    Battery,
    BatteryReading,
    BatterySystemReading,
    Inverter,
    InverterReading,
    MeterReading,
    ReadingFlag,
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
    batteries: int = 0  # inserted or updated
    battery_readings: int = 0
    battery_system_readings: int = 0


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


BATTERY_VALUES = (
    "soc_pct",
    "watts",
    "va",
    "temperature_c",
    "max_cell_temperature_c",
    "status",
    "communicating",
    "operating",
    "sleep_enabled",
    "dc_switch_off",
    "led_status",
)
BATTERY_SYSTEM_VALUES = (
    "soc_pct",
    "max_capacity_wh",
    "available_wh",
    "backup_wh",
    "reserve_pct",
    "adjusted_reserve_pct",
    "soh_pct",
    "encharge_soc_pct",
    "encharge_capacity_wh",
    "acb_soc_pct",
    "acb_wh",
)


def flag_bits(
    reading: SystemReading | MeterReading | InverterReading | BatteryReading | BatterySystemReading,
) -> int:
    bits = 0
    for flag in reading.flags:
        bits |= FLAG_BITS[flag]
    return bits


# Row layouts: each tuple names the columns in the order the rows are built.
SYSTEM_KEY = ("gateway_id", "source", "measurement", "measured_at")
SYSTEM_COLUMNS = (*SYSTEM_KEY, *SYSTEM_VALUES, "flags")
PHASE_COLUMNS = ("reading_id", "phase", *PHASE_VALUES)
METER_KEY = ("meter_id", "channel", "measured_at")
METER_COLUMNS = (*METER_KEY, *METER_VALUES, "flags")
INVERTER_KEY = ("inverter_id", "reported_at")
INVERTER_COLUMNS = (*INVERTER_KEY, *INVERTER_VALUES, "flags")
BATTERY_KEY = ("battery_id", "measured_at")
BATTERY_COLUMNS = (*BATTERY_KEY, *BATTERY_VALUES, "flags")
BATTERY_SYSTEM_KEY = ("gateway_id", "measured_at")
BATTERY_SYSTEM_COLUMNS = (*BATTERY_SYSTEM_KEY, *BATTERY_SYSTEM_VALUES, "flags")

_system_values = attrgetter(*SYSTEM_VALUES)
_phase_values = attrgetter(*PHASE_VALUES)
_meter_values = attrgetter(*METER_VALUES)
_inverter_values = attrgetter(*INVERTER_VALUES)
_battery_values = attrgetter(*BATTERY_VALUES)
_battery_system_values = attrgetter(*BATTERY_SYSTEM_VALUES)
_INVERTER_WINS = tuple(  # per value column: the endpoint whose value wins a merge
    INVERTER_PREFERRED.get(name) for name in INVERTER_VALUES
)


@cache
def _inverter_upsert(dialect: str, endpoints: frozenset[str]) -> Executable:
    """Upsert for rows built from ``endpoints``: their preferred columns win, others fill gaps.

    The WHERE clause makes an upsert that changes nothing write (and count) nothing.
    """
    statement = upsert(dialect, inverter_readings)
    new, old = statement.excluded, inverter_readings.c
    set_: dict[str, Any] = {}
    changes: list[ColumnElement[bool]] = []
    for name in INVERTER_VALUES:
        if INVERTER_PREFERRED.get(name) in endpoints:
            set_[name] = func.coalesce(new[name], old[name])
            changes.append(and_(new[name].is_not(None), old[name].is_distinct_from(new[name])))
        else:
            set_[name] = func.coalesce(old[name], new[name])
            changes.append(and_(old[name].is_(None), new[name].is_not(None)))
    # A flag either endpoint raised stays raised: the report is no better for the other.
    set_["flags"] = old.flags.op("|")(new.flags)
    changes.append(old.flags.op("|")(new.flags) != old.flags)
    return statement.on_conflict_do_update(
        index_elements=INVERTER_KEY, set_=set_, where=or_(*changes)
    )


class ReadingBatch:
    """The readings of many endpoint results, gathered in one pass over their records."""

    def __init__(self) -> None:
        self.systems: dict[tuple[Any, ...], SystemReading] = {}
        self.meter_rows: dict[int, list[MeterReading]] = {}
        self.sightings: dict[int, dict[str, InverterSighting]] = {}
        self.inverter_reports: dict[int, list[tuple[str, InverterReading]]] = {}
        self.battery_sightings: dict[int, dict[str, BatterySighting]] = {}
        self.battery_rows: dict[int, dict[tuple[str, datetime], BatteryReading]] = {}
        self.battery_systems: dict[tuple[int, datetime], BatterySystemReading] = {}

    def add(self, group: RecordGroup) -> list[Record]:
        """Take the group's readings; return its other records (/info, /home, meter configs)."""
        others: list[Record] = []
        gid = group.gateway_id
        at = group.fetched_at
        endpoint = group.endpoint
        systems = self.systems
        seen: dict[str, InverterSighting] | None = None
        reports: list[tuple[str, InverterReading]] | None = None
        for record in group.records:
            # Ordered by how many of each a poll holds.
            if isinstance(record, InverterReading):
                if seen is None:
                    seen = self.sightings.setdefault(gid, {})
                sighting = seen.get(record.serial)
                if sighting is None:
                    sighting = seen[record.serial] = InverterSighting(at, at)
                elif at != sighting.last_seen_at:  # else: seen already at this fetch
                    sighting.add(at, None)
                if reports is None:
                    reports = self.inverter_reports.setdefault(gid, [])
                reports.append((endpoint, record))
            elif isinstance(record, Inverter):
                if seen is None:
                    seen = self.sightings.setdefault(gid, {})
                sighting = seen.get(record.serial)
                if sighting is None:
                    sighting = seen[record.serial] = InverterSighting(at, at)
                sighting.add(at, record)
            elif isinstance(record, MeterReading):
                self.meter_rows.setdefault(gid, []).append(record)
            elif isinstance(record, SystemReading):
                key = (gid, record.source.value, record.measurement.value, record.measured_at)
                if key not in systems:
                    systems[key] = record
            elif isinstance(record, BatteryReading):
                self._battery_reading(gid, record)
            elif isinstance(record, Battery):
                known = self.battery_sightings.setdefault(gid, {})
                found = known.get(record.serial)
                if found is None:
                    known[record.serial] = BatterySighting.of(at, record)
                else:
                    found.add(at, record)
            elif isinstance(record, BatterySystemReading):
                self.battery_systems.setdefault((gid, record.measured_at), record)
            else:
                others.append(record)
        return others

    def _battery_reading(self, gateway_id: int, reading: BatteryReading) -> None:
        # Its Battery comes first in the same endpoint's records (parse.battery).
        self.battery_sightings[gateway_id][reading.serial].report(reading)
        rows = self.battery_rows.setdefault(gateway_id, {})
        key = (reading.serial, reading.measured_at)
        known = rows.get(key)
        # An inventory's report at the very instant of a power fetch: the power's state of
        # charge wins (QUIRKS 26), so the row is the same in whatever order they come.
        if known is None or (
            ReadingFlag.SOC_FROM_POWER in reading.flags
            and ReadingFlag.SOC_FROM_POWER not in known.flags
        ):
            rows[key] = reading

    def write(self, txn: Txn) -> ReadingCounts:
        """Insert every reading gathered; existing readings are kept (inverters: merged).
        A statement per table for every gateway of the batch (save._save says why)."""
        counts = ReadingCounts()
        if self.systems:
            _write_system(txn, self.systems, counts)
        meter_rows: dict[tuple[int, int, datetime], dict[str, Any]] = {}
        read_meters(txn, self.meter_rows)
        for gid, readings in self.meter_rows.items():
            _meter_rows(txn, gid, readings, counts, meter_rows)
        counts.meter_readings += txn.written(
            insert_new(txn.dialect, meter_readings, METER_KEY), list(meter_rows.values())
        )
        by_sources: dict[frozenset[str], list[dict[str, Any]]] = {}
        if self.sightings:
            ids, created = inverter_ids(txn, self.sightings)
            counts.inverters += created
            for gid, mine in ids.items():
                _inverter_rows(mine, self.inverter_reports.get(gid, []), by_sources)
        for endpoints, rows in sorted(by_sources.items(), key=lambda item: sorted(item[0])):
            counts.inverter_readings += txn.written(_inverter_upsert(txn.dialect, endpoints), rows)
        if self.battery_sightings:
            battery = battery_ids(txn, self.battery_sightings)
            counts.batteries += len(battery)
            rows = [
                dict(
                    zip(
                        BATTERY_COLUMNS,
                        (battery[gid, serial], at, *_battery_values(r), flag_bits(r)),
                        strict=True,
                    )
                )
                for gid in self.battery_sightings
                for (serial, at), r in self.battery_rows.get(gid, {}).items()
            ]
            counts.battery_readings += txn.written(
                insert_new(txn.dialect, battery_readings, BATTERY_KEY), rows
            )
        if self.battery_systems:
            rows = [
                dict(
                    zip(
                        BATTERY_SYSTEM_COLUMNS,
                        (*key, *_battery_system_values(r), flag_bits(r)),
                        strict=True,
                    )
                )
                for key, r in self.battery_systems.items()
            ]
            counts.battery_system_readings += txn.written(
                insert_new(txn.dialect, battery_system_readings, BATTERY_SYSTEM_KEY), rows
            )
        return counts


def write_readings(txn: Txn, groups: Sequence[RecordGroup]) -> ReadingCounts:
    """Insert every reading of the groups; existing readings are kept (inverters: merged)."""
    batch = ReadingBatch()
    for group in groups:
        batch.add(group)
    return batch.write(txn)


def _write_system(
    txn: Txn, systems: dict[tuple[Any, ...], SystemReading], counts: ReadingCounts
) -> None:
    """One INSERT ... RETURNING for the readings: the new ids key their phase rows."""
    rows = [
        dict(zip(SYSTEM_COLUMNS, (*key, *_system_values(reading), flag_bits(reading)), strict=True))
        for key, reading in systems.items()
    ]
    statement = insert_new(txn.dialect, system_readings, SYSTEM_KEY, ("id", *SYSTEM_KEY))
    inserted = txn.conn.execute(statement, rows).all()
    counts.system_readings += len(inserted)
    phases = [
        dict(zip(PHASE_COLUMNS, (reading_id, phase.phase, *_phase_values(phase)), strict=True))
        for reading_id, *key in inserted
        for phase in systems[tuple(key)].phases
    ]
    table = phase_table(txn.dialect)
    phase_key: tuple[str, ...] = PHASE_COLUMNS[:2]
    if "measured_at" in table.c:  # PostgreSQL: its system reading's instant, partition key
        phase_key += ("measured_at",)
        at = {reading_id: key[-1] for reading_id, *key in inserted}
        for row in phases:
            row["measured_at"] = at[row["reading_id"]]
    counts.phase_readings += txn.written(insert_new(txn.dialect, table, phase_key), phases)


def _meter_rows(
    txn: Txn,
    gateway_id: int,
    readings: list[MeterReading],
    counts: ReadingCounts,
    rows: dict[tuple[int, int, datetime], dict[str, Any]],
) -> None:
    ids, created = meter_ids(txn, gateway_id, {r.eid for r in readings})
    counts.meters += created
    for reading in readings:
        key = (ids[reading.eid], reading.channel, reading.measured_at)
        if key not in rows:
            values = (*key, *_meter_values(reading), flag_bits(reading))
            rows[key] = dict(zip(METER_COLUMNS, values, strict=True))


def _inverter_rows(
    ids: dict[str, int],
    reports: list[tuple[str, InverterReading]],
    by_sources: dict[frozenset[str], list[dict[str, Any]]],
) -> None:
    """The gateway's inverter rows, by the endpoints they were built from."""
    # Both endpoints usually come in the same poll: merge them here, by the same rule the
    # upsert applies, so the row is written once (on PostgreSQL an update is a new tuple).
    merged: dict[tuple[int, datetime], tuple[list[Any], set[str], list[int]]] = {}
    # The last values merged per (row, endpoint): the same report seen again in a later
    # poll (inverters report every 5 minutes) merges to no change, so it is skipped.
    last: dict[tuple[tuple[int, datetime], str], tuple[Any, ...]] = {}
    for endpoint, report in reports:
        key = (ids[report.serial], report.reported_at)
        new = _inverter_values(report)
        bits = flag_bits(report)
        entry = merged.get(key)
        if entry is None:
            merged[key] = ([*new], {endpoint}, [bits])
            last[(key, endpoint)] = (*new, bits)
            continue
        if last.get((key, endpoint)) == (*new, bits):
            continue
        last[(key, endpoint)] = (*new, bits)
        values, sources, flags = entry
        sources.add(endpoint)
        flags[0] |= bits
        for i, value in enumerate(new):
            if value is not None and (values[i] is None or _INVERTER_WINS[i] == endpoint):
                values[i] = value
    for (inverter_id, reported_at), (values, sources, flags) in merged.items():
        row = dict(
            zip(INVERTER_COLUMNS, (inverter_id, reported_at, *values, flags[0]), strict=True)
        )
        by_sources.setdefault(frozenset(sources), []).append(row)
