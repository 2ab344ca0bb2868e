"""Gateways, meters and inverters: cached rows, upserts, and the events their changes make."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from envoylog.db.models import gateway_events, gateways, inverters, meters
from envoylog.db.sql import insert_returning, same_op
from envoylog.db.store import GatewayState, MeterRow, StaleCache, Txn
from envoylog.db.types import stored_instant
from envoylog.records import GatewayInfo, HomeInfo, Inverter, MeterConfig, PollResult

_GATEWAY_FIELDS = ("host", "name", "part_number", "firmware", "metered", "timezone")
_TIMES = ("first_seen_at", "last_seen_at")

Event = tuple[int, datetime, str, str]  # gateway_id, at, kind, detail


def gateway_state(txn: Txn, poll: PollResult) -> GatewayState:
    """The gateway's row (cached, else read), created from this poll the first time it is seen."""
    serial = poll.gateway.serial
    state = txn.gateways.get(serial)
    if state is not None:
        return state
    cached = txn.store.gateways.get(serial)
    if cached is not None:
        txn.cached = True
        state = txn.gateways[serial] = replace(cached, created=False)  # rollback keeps the cache
        return state
    txn.verified.add(serial)
    state = txn.gateways[serial] = _read_gateway(txn, poll)
    return state


def _read_gateway(txn: Txn, poll: PollResult) -> GatewayState:
    serial = poll.gateway.serial
    found = txn.rows(
        f"SELECT id, {', '.join(_GATEWAY_FIELDS)}, {', '.join(_TIMES)} FROM {gateways.name} "
        f"WHERE serial = {txn.mark}",
        (serial,),
    )
    if found:
        gateway_id, host, name, part_number, firmware, metered, timezone, first, last = found[0]
        return GatewayState(
            id=gateway_id,
            serial=serial,
            host=host,
            name=name,
            part_number=part_number,
            firmware=firmware,
            metered=None if metered is None else bool(metered),  # SQLite: 0 / 1
            timezone=timezone,
            first_seen_at=stored_instant(first),
            last_seen_at=stored_instant(last),
        )
    identity = poll.gateway
    columns = ("serial", "host", "name", "first_seen_at", "last_seen_at")
    started = txn.instant(poll.started_at)
    ((new_id,),) = txn.rows(
        f"INSERT INTO {gateways.name} ({', '.join(columns)}) "
        f"VALUES ({', '.join([txn.mark] * len(columns))}) RETURNING id",
        (serial, identity.host, identity.name, started, started),
    )
    # A new gateway's meters and inverters are all new: nothing to read.
    txn.meters[new_id] = {}
    txn.inverters[new_id] = {}
    return GatewayState(
        id=new_id,
        serial=serial,
        host=identity.host,
        name=identity.name,
        part_number=None,
        firmware=None,
        metered=None,
        timezone=None,
        first_seen_at=poll.started_at,
        last_seen_at=poll.started_at,
        created=True,
    )


def apply_poll(
    state: GatewayState,
    poll: PollResult,
    info: tuple[datetime, GatewayInfo] | None,
    home: HomeInfo | None,
    events: list[Event],
) -> bool:
    """Fold a newly stored poll (its last /info and /home) into the gateway's state.

    Say whether it is the newest poll so far: only the newest may change what the gateway
    is now, so a replayed old poll does not set the firmware back or invent a change.
    """
    newest = poll.started_at >= state.last_seen_at
    state.first_seen_at = min(state.first_seen_at, poll.started_at)
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
            events.append((state.id, at, "firmware-change", detail))
            state.firmware = record.firmware
        state.part_number = record.part_number or state.part_number
        state.metered = record.metered if record.metered is not None else state.metered
    if home is not None and home.timezone:
        state.timezone = home.timezone
    return True


def save_gateway(txn: Txn, state: GatewayState, before: dict[str, Any]) -> None:
    """Write the changed columns; a cached row must still be as cached, else ``StaleCache``."""
    changed = {k: v for k, v in snapshot(state).items() if before.get(k) != v}
    if not changed:
        return
    p = txn.mark
    stored = _stored(txn, changed)
    sql = f"UPDATE {gateways.name} SET {', '.join(f'{k} = {p}' for k in changed)} WHERE id = {p}"
    params = [*stored.values(), state.id]
    guarded = state.serial not in txn.verified
    if guarded:
        same = same_op(txn)
        sql += "".join(f" AND {k} {same} {p}" for k in before)
        params.extend(_stored(txn, before).values())
    if txn.execute(sql, params).rowcount != 1 and guarded:
        raise StaleCache(f"gateway {state.serial} was changed by another writer")


def _stored(txn: Txn, values: dict[str, Any]) -> dict[str, Any]:
    return {k: txn.instant(v) if k in _TIMES else v for k, v in values.items()}


def snapshot(state: GatewayState) -> dict[str, Any]:
    return {k: getattr(state, k) for k in (*_GATEWAY_FIELDS, *_TIMES)}


_EVENT_COLUMNS = ("gateway_id", "at", "kind", "detail")


def insert_events(txn: Txn, events: list[Event]) -> int:
    if events:
        instant = txn.instant
        txn.executemany(
            f"INSERT INTO {gateway_events.name} ({', '.join(_EVENT_COLUMNS)}) "
            f"VALUES ({', '.join([txn.mark] * len(_EVENT_COLUMNS))})",
            [(gid, instant(at), kind, detail) for gid, at, kind, detail in events],
        )
    return len(events)


# --- meters -------------------------------------------------------------------------

_METER_FIELDS = ("measurement_type", "state", "phase_mode", "phase_count", "metering_status")
_METER_COLUMNS = ("id", "eid", *_METER_FIELDS, "status_flags")


def _meter_values(config: MeterConfig) -> dict[str, Any]:
    values: dict[str, Any] = {k: getattr(config, k) for k in _METER_FIELDS}
    values["status_flags"] = ",".join(config.status_flags)
    return values


def gateway_meters(txn: Txn, gateway_id: int, *, fresh: bool = False) -> dict[int, MeterRow]:
    """The gateway's meters by eid, for this transaction (cached, else read)."""
    found = None if fresh else txn.meters.get(gateway_id)
    if found is None:
        cached = None if fresh else txn.store.meters.get(gateway_id)
        if cached is None:
            rows = txn.rows(
                f"SELECT {', '.join(_METER_COLUMNS)} FROM {meters.name} "
                f"WHERE gateway_id = {txn.mark}",
                (gateway_id,),
            )
            cached = {row[1]: dict(zip(_METER_COLUMNS, row, strict=True)) for row in rows}
        else:
            txn.cached = True
        found = txn.meters[gateway_id] = dict(cached)
    return found


def save_meter_configs(
    txn: Txn,
    gateway_id: int,
    configs: Sequence[tuple[datetime, bool, MeterConfig]],
    events: list[Event],
) -> int:
    """Store /ivp/meters configurations (at, poll is newest, config); return meters created."""
    if not configs:
        return 0
    existing = gateway_meters(txn, gateway_id)
    created = 0
    for at, newest, config in configs:
        values = _meter_values(config)
        row = existing.get(config.eid)
        if row is None:
            new_id = _insert_meter(txn, gateway_id, config.eid, values)
            if new_id is not None:
                existing[config.eid] = {"id": new_id, "eid": config.eid, **values}
                created += 1
                continue
            # Created meanwhile by another writer: read it and treat it as known.
            existing = gateway_meters(txn, gateway_id, fresh=True)
            row = existing[config.eid]
        if not newest:
            continue
        changes = [
            f"{k} {row[k]} -> {v}" for k, v in values.items() if row[k] is not None and row[k] != v
        ]
        if any(row[k] != v for k, v in values.items()):
            p = txn.mark
            txn.execute(
                f"UPDATE {meters.name} SET {', '.join(f'{k} = {p}' for k in values)} "
                f"WHERE id = {p}",
                (*values.values(), row["id"]),
            )
            existing[config.eid] = {**row, **values}  # a new dict: the cached one stays as is
        if changes:
            detail = f"meter {config.eid} ({config.measurement_type}): " + "; ".join(changes)
            events.append((gateway_id, at, "meter-config-change", detail))
    return created


def _insert_meter(txn: Txn, gateway_id: int, eid: int, values: dict[str, Any]) -> int | None:
    columns = ("gateway_id", "eid", *values)
    found = txn.rows(
        f"INSERT INTO {meters.name} ({', '.join(columns)}) "
        f"VALUES ({', '.join([txn.mark] * len(columns))}) "
        "ON CONFLICT (gateway_id, eid) DO NOTHING RETURNING id",
        (gateway_id, eid, *values.values()),
    )
    return int(found[0][0]) if found else None


_BARE_METER = dict.fromkeys((*_METER_FIELDS, "status_flags"))


def meter_ids(txn: Txn, gateway_id: int, eids: Iterable[int]) -> tuple[dict[int, int], int]:
    """Ids of the gateway's meters (created bare when only readings name them); and how many new."""
    known = gateway_meters(txn, gateway_id)
    missing = [eid for eid in set(eids) if eid not in known]
    created = 0
    if missing:
        inserted = insert_returning(
            txn,
            meters,
            ("gateway_id", "eid"),
            [(gateway_id, eid) for eid in missing],
            "ON CONFLICT (gateway_id, eid) DO NOTHING RETURNING eid, id",
        )
        created = len(inserted)
        for eid, meter_id in inserted:
            known[eid] = {"id": meter_id, "eid": eid, **_BARE_METER}
        if created < len(missing):  # created meanwhile by another writer
            known = gateway_meters(txn, gateway_id, fresh=True)
    return {eid: row["id"] for eid, row in known.items()}, created


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


_TOUCH_SQL: dict[tuple[str, int], str] = {}


def _touch_sql(txn: Txn, count: int) -> str:
    """Record one sighting (the same for ``count`` devices): times widen, type and active fill.

    ``active`` follows only a sighting at least as new as the last one; a replayed older
    batch leaves it alone. Every SET expression reads the row as it was before the UPDATE.
    """
    key = (txn.dialect, count)
    sql = _TOUCH_SQL.get(key)
    if sql is None:
        p = txn.mark
        ids = ", ".join([p] * count)
        sql = _TOUCH_SQL[key] = (
            f"UPDATE {inverters.name} SET "
            f"device_type = coalesce(device_type, {p}), "
            f"active = CASE WHEN {p} >= last_seen_at THEN coalesce({p}, active) ELSE active END, "
            f"first_seen_at = CASE WHEN {p} < first_seen_at THEN {p} ELSE first_seen_at END, "
            f"last_seen_at = CASE WHEN {p} > last_seen_at THEN {p} ELSE last_seen_at END "
            f"WHERE id IN ({ids})"
        )
    return sql


_TOUCH_PAGE = 500  # ids per UPDATE


def touch_inverters(txn: Txn, sightings: Iterable[tuple[int, InverterSighting]]) -> None:
    """Apply sightings of known devices: one UPDATE per distinct sighting, not per device.

    The devices of one gateway are usually all listed by the same fetches, so a poll (or a
    replayed batch) needs a single statement for all of them.
    """
    by_sighting: dict[tuple[Any, ...], list[int]] = {}
    for inverter_id, s in sightings:
        key = (s.device_type, s.active, s.first_seen_at, s.last_seen_at)
        by_sighting.setdefault(key, []).append(inverter_id)
    instant = txn.instant
    for (device_type, active, first_at, last_at), ids in by_sighting.items():
        first, last = instant(first_at), instant(last_at)
        for start in range(0, len(ids), _TOUCH_PAGE):
            page = ids[start : start + _TOUCH_PAGE]
            txn.execute(
                _touch_sql(txn, len(page)),
                (device_type, last, active, first, first, last, last, *page),
            )


def gateway_inverters(txn: Txn, gateway_id: int) -> dict[str, int]:
    """The gateway's inverter ids by serial, for this transaction (cached, else read)."""
    found = txn.inverters.get(gateway_id)
    if found is None:
        cached = txn.store.inverters.get(gateway_id)
        if cached is None:
            cached = dict(_select_inverters(txn, gateway_id))
        else:
            txn.cached = True
        found = txn.inverters[gateway_id] = dict(cached)
    return found


def _select_inverters(
    txn: Txn, gateway_id: int, serials: Sequence[str] = ()
) -> list[tuple[Any, ...]]:
    p = txn.mark
    sql = f"SELECT serial, id FROM {inverters.name} WHERE gateway_id = {p}"
    if serials:
        sql += f" AND serial IN ({', '.join([p] * len(serials))})"
    return txn.rows(sql, (gateway_id, *serials))


_INVERTER_COLUMNS = (
    "gateway_id",
    "serial",
    "device_type",
    "first_seen_at",
    "last_seen_at",
    "active",
)


def inverter_ids(
    txn: Txn, gateway_id: int, sightings: dict[str, InverterSighting]
) -> tuple[dict[str, int], int]:
    """Create unknown devices, record sightings of known ones; return serial -> id and new count."""
    ids = gateway_inverters(txn, gateway_id)
    missing = [serial for serial in sightings if serial not in ids]
    created: set[str] = set()
    if missing:
        instant = txn.instant
        rows = [
            (
                gateway_id,
                serial,
                s.device_type,
                instant(s.first_seen_at),
                instant(s.last_seen_at),
                s.active,
            )
            for serial in missing
            for s in (sightings[serial],)
        ]
        inserted = insert_returning(
            txn,
            inverters,
            _INVERTER_COLUMNS,
            rows,
            "ON CONFLICT (gateway_id, serial) DO NOTHING RETURNING serial, id",
        )
        for serial, inverter_id in inserted:
            ids[serial] = inverter_id
            created.add(serial)
        if len(created) < len(missing):  # created meanwhile by another writer
            ids.update(_select_inverters(txn, gateway_id, [s for s in missing if s not in ids]))
    if len(created) < len(sightings):
        touch_inverters(
            txn, ((ids[serial], s) for serial, s in sightings.items() if serial not in created)
        )
    return ids, len(created)
