"""Gateways, meters and inverters: upserts, id lookups, and the events their changes make."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Table, select, update
from sqlalchemy.dialects import postgresql, sqlite

from envoylog.db.models import gateway_events, gateways, inverters, meters
from envoylog.db.sql import placeholder
from envoylog.db.store import Txn
from envoylog.db.types import stored_instant
from envoylog.records import GatewayInfo, HomeInfo, Inverter, MeterConfig, PollResult

_R = TypeVar("_R")


def dialect_insert(txn: Txn, table: Table) -> sqlite.Insert | postgresql.Insert:
    """``INSERT`` with the dialect's ``ON CONFLICT`` support."""
    if txn.dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


@dataclass(slots=True)
class GatewayState:
    id: int
    serial: str
    host: str
    name: str | None
    part_number: str | None
    firmware: str | None
    metered: bool | None
    timezone: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    created: bool = False


_GATEWAY_FIELDS = ("host", "name", "part_number", "firmware", "metered", "timezone")
_TIMES = ("first_seen_at", "last_seen_at")


def gateway_state(txn: Txn, poll: PollResult) -> GatewayState:
    """Read the gateway's row, creating it (from this poll) the first time it is seen."""
    row = txn.conn.exec_driver_sql(
        f"SELECT id, {', '.join(_GATEWAY_FIELDS)}, {', '.join(_TIMES)} FROM {gateways.name} "
        f"WHERE serial = {placeholder(txn)}",
        (poll.gateway.serial,),
    ).one_or_none()
    if row is not None:
        gateway_id, host, name, part_number, firmware, metered, timezone, first, last = row
        return GatewayState(
            id=gateway_id,
            serial=poll.gateway.serial,
            host=host,
            name=name,
            part_number=part_number,
            firmware=firmware,
            metered=None if metered is None else bool(metered),  # SQLite: 0 / 1
            timezone=timezone,
            first_seen_at=stored_instant(first),
            last_seen_at=stored_instant(last),
        )
    values = {
        "serial": poll.gateway.serial,
        "host": poll.gateway.host,
        "name": poll.gateway.name,
        "first_seen_at": poll.started_at,
        "last_seen_at": poll.started_at,
    }
    new_id = txn.conn.execute(gateways.insert().returning(gateways.c.id), values).scalar_one()
    return GatewayState(
        id=new_id,
        serial=poll.gateway.serial,
        host=poll.gateway.host,
        name=poll.gateway.name,
        part_number=None,
        firmware=None,
        metered=None,
        timezone=None,
        first_seen_at=poll.started_at,
        last_seen_at=poll.started_at,
        created=True,
    )


def apply_poll(state: GatewayState, poll: PollResult, events: list[dict[str, Any]]) -> bool:
    """Fold a newly stored poll into the gateway's state; say whether it is the newest so far.

    Only the newest poll may change what the gateway is now: a replayed old poll must not
    set the firmware back or invent a change.
    """
    newest = poll.started_at >= state.last_seen_at
    state.first_seen_at = min(state.first_seen_at, poll.started_at)
    info = _last(poll, GatewayInfo)
    home = _last(poll, HomeInfo)
    if not newest:
        if info is not None and state.firmware is None:
            state.firmware = info[1].firmware
        return False
    state.last_seen_at = max(state.last_seen_at, poll.finished_at)
    state.host = poll.gateway.host
    state.name = poll.gateway.name or state.name
    if info is not None:
        at, record = info
        if record.firmware != state.firmware:
            detail = (
                f"first seen: {record.firmware}"
                if state.firmware is None
                else f"from {state.firmware} to {record.firmware}"
            )
            events.append(_event(state.id, at, "firmware-change", detail))
            state.firmware = record.firmware
        state.part_number = record.part_number or state.part_number
        state.metered = record.metered if record.metered is not None else state.metered
    if home is not None and home[1].timezone:
        state.timezone = home[1].timezone
    return True


def save_gateway(txn: Txn, state: GatewayState, before: dict[str, Any]) -> None:
    changed = {k: v for k, v in snapshot(state).items() if before.get(k) != v}
    if not changed:
        return
    p = placeholder(txn)
    values = [txn.instant(v) if k in _TIMES else v for k, v in changed.items()]
    txn.conn.exec_driver_sql(
        f"UPDATE {gateways.name} SET {', '.join(f'{k} = {p}' for k in changed)} WHERE id = {p}",
        (*values, state.id),
    )


def snapshot(state: GatewayState) -> dict[str, Any]:
    return {k: getattr(state, k) for k in (*_GATEWAY_FIELDS, *_TIMES)}


def _last(poll: PollResult, kind: type[_R]) -> tuple[datetime, _R] | None:
    found: tuple[datetime, _R] | None = None
    for result in poll.endpoints:
        for record in result.records:
            if isinstance(record, kind):
                found = (result.fetched_at, record)
    return found


def _event(gateway_id: int, at: datetime, kind: str, detail: str) -> dict[str, Any]:
    return {"gateway_id": gateway_id, "at": at, "kind": kind, "detail": detail}


def insert_events(txn: Txn, events: list[dict[str, Any]]) -> int:
    if events:
        txn.conn.execute(gateway_events.insert(), events)
    return len(events)


# --- meters -------------------------------------------------------------------------

_METER_FIELDS = ("measurement_type", "state", "phase_mode", "phase_count", "metering_status")


def _meter_values(config: MeterConfig) -> dict[str, Any]:
    values: dict[str, Any] = {k: getattr(config, k) for k in _METER_FIELDS}
    values["status_flags"] = ",".join(config.status_flags)
    return values


def save_meter_configs(
    txn: Txn,
    gateway_id: int,
    configs: Sequence[tuple[datetime, bool, MeterConfig]],
    events: list[dict[str, Any]],
) -> int:
    """Store /ivp/meters configurations (at, poll is newest, config); return meters created."""
    if not configs:
        return 0
    columns = ("id", "eid", *_METER_FIELDS, "status_flags")
    found = txn.conn.exec_driver_sql(
        f"SELECT {', '.join(columns)} FROM {meters.name} WHERE gateway_id = {placeholder(txn)}",
        (gateway_id,),
    )
    existing: dict[int, dict[str, Any]] = {
        row[1]: dict(zip(columns, row, strict=True)) for row in found
    }
    created = 0
    for at, newest, config in configs:
        values = _meter_values(config)
        row = existing.get(config.eid)
        if row is None:
            new_id = txn.conn.execute(
                meters.insert().returning(meters.c.id),
                {"gateway_id": gateway_id, "eid": config.eid, **values},
            ).scalar_one()
            txn.new_meter_ids[(gateway_id, config.eid)] = new_id
            created += 1
            existing[config.eid] = {"id": new_id, **values}
            continue
        if not newest:
            continue
        changes = [
            f"{k} {row[k]} -> {v}" for k, v in values.items() if row[k] is not None and row[k] != v
        ]
        if any(row[k] != v for k, v in values.items()):
            txn.conn.execute(update(meters).where(meters.c.id == row["id"]).values(**values))
            row.update(values)
        if changes:
            detail = f"meter {config.eid} ({config.measurement_type}): " + "; ".join(changes)
            events.append(_event(gateway_id, at, "meter-config-change", detail))
    return created


def meter_ids(txn: Txn, gateway_id: int, eids: Iterable[int]) -> tuple[dict[int, int], int]:
    """Ids of the gateway's meters (created bare when only readings name them); and how many new."""
    found: dict[int, int] = {}
    missing: list[int] = []
    for eid in set(eids):
        meter_id = txn.meter_id(gateway_id, eid)
        if meter_id is None:
            missing.append(eid)
        else:
            found[eid] = meter_id
    if not missing:
        return found, 0
    inserted = txn.conn.execute(
        dialect_insert(txn, meters)
        .on_conflict_do_nothing(index_elements=["gateway_id", "eid"])
        .returning(meters.c.id),
        [{"gateway_id": gateway_id, "eid": eid} for eid in missing],
    ).all()
    rows = txn.conn.execute(
        select(meters.c.eid, meters.c.id).where(
            meters.c.gateway_id == gateway_id, meters.c.eid.in_(missing)
        )
    )
    for eid, meter_id in rows:
        found[eid] = meter_id
        txn.new_meter_ids[(gateway_id, eid)] = meter_id
    return found, len(inserted)


# --- inverters ----------------------------------------------------------------------


@dataclass(slots=True)
class InverterSighting:
    """Everything a batch says about one device: when listed, its type, whether active."""

    first_seen_at: datetime
    last_seen_at: datetime
    device_type: str | None = None
    active: bool | None = None

    def add(self, at: datetime, device: Inverter | None) -> None:
        if at < self.first_seen_at:
            self.first_seen_at = at
        if at >= self.last_seen_at:
            self.last_seen_at = at
            if device is not None and device.active is not None:
                self.active = device.active
        if device is not None:
            self.device_type = self.device_type or device.device_type.value


def _touch_sql(txn: Txn, count: int) -> str:
    """Record one sighting (the same for ``count`` devices): times widen, type and active fill.

    ``active`` follows only a sighting at least as new as the last one; a replayed older
    batch leaves it alone. Every SET expression reads the row as it was before the UPDATE.
    """
    p = placeholder(txn)
    ids = ", ".join([p] * count)
    return (
        f"UPDATE {inverters.name} SET "
        f"device_type = coalesce(device_type, {p}), "
        f"active = CASE WHEN {p} >= last_seen_at THEN coalesce({p}, active) ELSE active END, "
        f"first_seen_at = CASE WHEN {p} < first_seen_at THEN {p} ELSE first_seen_at END, "
        f"last_seen_at = CASE WHEN {p} > last_seen_at THEN {p} ELSE last_seen_at END "
        f"WHERE id IN ({ids})"
    )


_TOUCH_PAGE = 500  # ids per UPDATE


def touch_inverters(txn: Txn, sightings: Iterable[tuple[int, InverterSighting]]) -> None:
    """Apply sightings of known devices: one UPDATE per distinct sighting, not per device.

    The devices of one gateway are usually all listed by the same fetches, so a poll (or a
    replayed batch) needs a single statement for all of them.
    """
    by_sighting: dict[tuple[Any, ...], list[int]] = {}
    instant = txn.instant
    for inverter_id, s in sightings:
        key = (s.device_type, s.active, instant(s.first_seen_at), instant(s.last_seen_at))
        by_sighting.setdefault(key, []).append(inverter_id)
    for (device_type, active, first, last), ids in by_sighting.items():
        for start in range(0, len(ids), _TOUCH_PAGE):
            page = ids[start : start + _TOUCH_PAGE]
            txn.conn.exec_driver_sql(
                _touch_sql(txn, len(page)),
                (device_type, last, active, first, first, last, last, *page),
            )


def inverter_ids(
    txn: Txn, gateway_id: int, sightings: dict[str, InverterSighting]
) -> tuple[dict[str, int], int]:
    """Create unknown devices, record sightings of known ones; return serial -> id and new count."""
    ids: dict[str, int] = {}
    missing: list[str] = []
    for serial in sightings:
        inverter_id = txn.inverter_id(gateway_id, serial)
        if inverter_id is None:
            missing.append(serial)
        else:
            ids[serial] = inverter_id
    created = 0
    if missing:
        rows = [
            {
                "gateway_id": gateway_id,
                "serial": serial,
                "device_type": sightings[serial].device_type,
                "first_seen_at": sightings[serial].first_seen_at,
                "last_seen_at": sightings[serial].last_seen_at,
                "active": sightings[serial].active,
            }
            for serial in missing
        ]
        created = len(
            txn.conn.execute(
                dialect_insert(txn, inverters)
                .on_conflict_do_nothing(index_elements=["gateway_id", "serial"])
                .returning(inverters.c.serial),
                rows,
            ).all()
        )
        found = txn.conn.execute(
            select(inverters.c.serial, inverters.c.id).where(
                inverters.c.gateway_id == gateway_id, inverters.c.serial.in_(missing)
            )
        )
        for serial, inverter_id in found:
            txn.new_inverter_ids[(gateway_id, serial)] = inverter_id
            ids[serial] = inverter_id
    if len(missing) < len(sightings):
        new = set(missing)
        touch_inverters(
            txn, ((ids[serial], s) for serial, s in sightings.items() if serial not in new)
        )
    return ids, created
