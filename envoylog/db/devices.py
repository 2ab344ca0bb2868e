"""Gateways, meters, inverters and batteries: cached rows, upserts, and the events they make."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from operator import attrgetter
from typing import Any, TypeVar

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Executable,
    Row,
    bindparam,
    case,
    func,
    insert,
    select,
    update,
)

from envoylog.db.models import batteries, gateway_events, gateways, inverters, meters
from envoylog.db.store import GatewayState, MeterRow, StaleCache, Txn, insert_new, upsert
from envoylog.records import (
    Battery,
    BatteryReading,
    GatewayInfo,
    HomeInfo,
    Inverter,
    MeterConfig,
    PollResult,
    ReadingFlag,
)

_GATEWAY_FIELDS = ("host", "name", "part_number", "firmware", "metered", "timezone")
_TIMES = ("first_seen_at", "last_seen_at")

Event = tuple[int, datetime, str, str]  # gateway_id, at, kind, detail
K = TypeVar("K")
V = TypeVar("V")


def gateway_states(txn: Txn, first_polls: Sequence[PollResult]) -> list[GatewayState]:
    """Each gateway's row (cached, else read), created from its poll the first time it is
    seen: one SELECT and one INSERT for all the gateways not cached."""
    found: dict[str, GatewayState] = {}
    unknown: dict[str, PollResult] = {}
    for poll in first_polls:
        serial = poll.gateway.serial
        state = txn.gateways.get(serial)
        if state is None and (cached := txn.store.gateways.get(serial)) is not None:
            txn.cached = True
            state = txn.gateways[serial] = replace(cached, created=False)  # rollback keeps it
        if state is None:
            unknown[serial] = poll
        else:
            found[serial] = state
    if unknown:
        txn.verified.update(unknown)
        read = _read_gateways(txn, unknown)
        txn.gateways.update(read)
        found.update(read)
    return [found[poll.gateway.serial] for poll in first_polls]


_GATEWAY_COLUMNS = ("id", "serial", *_GATEWAY_FIELDS, *_TIMES)
_GATEWAY_SELECT = select(*(gateways.c[name] for name in _GATEWAY_COLUMNS)).where(
    gateways.c.serial.in_(bindparam("serials", expanding=True))
)
_GATEWAY_INSERT = insert(gateways).returning(gateways.c.serial, gateways.c.id)
_IN_PAGE = 500  # values per IN list (old SQLite allows 999 parameters)


def _pages(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    """``values`` in pieces an IN list takes."""
    for start in range(0, len(values), _IN_PAGE):
        yield values[start : start + _IN_PAGE]


def _read_gateways(txn: Txn, polls: dict[str, PollResult]) -> dict[str, GatewayState]:
    serials = list(polls)
    states = {}
    for page in _pages(serials):
        for row in txn.conn.execute(_GATEWAY_SELECT, {"serials": page}):
            states[row.serial] = GatewayState(**row._asdict())
    new = [poll for serial, poll in polls.items() if serial not in states]
    if not new:
        return states
    rows = [
        {
            "serial": poll.gateway.serial,
            "host": poll.gateway.host,
            "name": poll.gateway.name,
            "first_seen_at": poll.started_at,
            "last_seen_at": poll.started_at,
        }
        for poll in new
    ]
    ids: dict[str, int] = {
        serial: new_id for serial, new_id in txn.conn.execute(_GATEWAY_INSERT, rows)
    }
    for poll in new:
        serial, new_id = poll.gateway.serial, ids[poll.gateway.serial]
        # A new gateway's meters and inverters are all new: nothing to read.
        txn.meters[new_id] = {}
        txn.inverters[new_id] = {}
        states[serial] = GatewayState(
            id=new_id,
            serial=serial,
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
    return states


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


# SET: the columns given at execution. Guarded: only while the row is as cached.
_GATEWAY_UPDATE = update(gateways).where(gateways.c.id == bindparam("gateway_id"))
_GUARDED_GATEWAY_UPDATE = _GATEWAY_UPDATE.where(
    *(
        gateways.c[k].is_not_distinct_from(bindparam(f"was_{k}", type_=gateways.c[k].type))
        for k in (*_GATEWAY_FIELDS, *_TIMES)
    )
)


def save_gateways(txn: Txn, states: Sequence[tuple[GatewayState, dict[str, Any]]]) -> None:
    """Write each gateway's changed columns (``before``: its snapshot when read), one
    executemany per set of changed columns; a cached row must still be as cached, else
    ``StaleCache``."""
    plain: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    guarded: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for state, before in states:
        changed = {k: v for k, v in snapshot(state).items() if before.get(k) != v}
        if not changed:
            continue
        row = {**changed, "gateway_id": state.id}
        if state.serial in txn.verified:
            plain.setdefault(tuple(changed), []).append(row)
        else:
            guard = {f"was_{k}": v for k, v in before.items()}
            guarded.setdefault(tuple(changed), []).append(row | guard)
    for rows in plain.values():
        txn.conn.execute(_GATEWAY_UPDATE, rows)
    for rows in guarded.values():
        done = txn.conn.execute(
            _GUARDED_GATEWAY_UPDATE, rows, execution_options={"preserve_rowcount": True}
        ).rowcount
        if done != len(rows):
            raise StaleCache(f"{len(rows) - done} gateway rows were changed by another writer")


def snapshot(state: GatewayState) -> dict[str, Any]:
    return {k: getattr(state, k) for k in (*_GATEWAY_FIELDS, *_TIMES)}


_EVENT_INSERT = insert(gateway_events)


def insert_events(txn: Txn, events: list[Event]) -> int:
    rows = [
        {"gateway_id": gid, "at": at, "kind": kind, "detail": detail}
        for gid, at, kind, detail in events
    ]
    return txn.written(_EVENT_INSERT, rows)


# --- meters -------------------------------------------------------------------------

_METER_FIELDS = ("measurement_type", "state", "phase_mode", "phase_count", "metering_status")
_METER_COLUMNS = ("id", "eid", *_METER_FIELDS, "status_flags")


def _meter_values(config: MeterConfig) -> dict[str, Any]:
    values: dict[str, Any] = {k: getattr(config, k) for k in _METER_FIELDS}
    values["status_flags"] = ",".join(config.status_flags)
    return values


_METERS_SELECT = select(*(meters.c[name] for name in _METER_COLUMNS)).where(
    meters.c.gateway_id == bindparam("gateway_id")
)
_METER_UPDATE = update(meters).where(meters.c.id == bindparam("meter_id"))  # SET: as given


def _new_meters(txn: Txn) -> Executable:
    return insert_new(txn.dialect, meters, ("gateway_id", "eid"), ("gateway_id", "eid", "id"))


def gateway_meters(txn: Txn, gateway_id: int, *, fresh: bool = False) -> dict[int, MeterRow]:
    """The gateway's meters by eid, for this transaction (cached, else read)."""
    found = None if fresh else txn.meters.get(gateway_id)
    if found is None:
        cached = None if fresh else txn.store.meters.get(gateway_id)
        if cached is None:
            rows = txn.conn.execute(_METERS_SELECT, {"gateway_id": gateway_id})
            cached = {row.eid: row._asdict() for row in rows}
        else:
            txn.cached = True
        found = txn.meters[gateway_id] = dict(cached)
    return found


_SOME_GATEWAYS_METERS = select(meters.c.gateway_id, *(meters.c[n] for n in _METER_COLUMNS)).where(
    meters.c.gateway_id.in_(bindparam("gateway_ids", expanding=True))
)


def read_meters(txn: Txn, gateway_ids: Iterable[int]) -> None:
    """Read the meters of the gateways neither this transaction nor the Store knows yet."""

    def meter(row: Row[Any]) -> tuple[int, MeterRow]:
        values = row._asdict()
        del values["gateway_id"]
        return row.eid, values

    _read_devices(txn, gateway_ids, txn.meters, txn.store.meters, _SOME_GATEWAYS_METERS, meter)


def _read_devices(
    txn: Txn,
    gateway_ids: Iterable[int],
    known: dict[int, dict[K, V]],
    cached: Mapping[int, object],
    statement: Executable,
    entry: Callable[[Row[Any]], tuple[K, V]],
) -> None:
    """Fill ``known`` (the transaction's devices by gateway id) for the gateways neither it
    nor the Store (``cached``) holds, in one SELECT of ``statement``: after a restart,
    every gateway's first batch needs them, and a query each waited for the interpreter."""
    unknown = [g for g in gateway_ids if g not in known and g not in cached]
    for page in _pages(unknown):
        found: dict[int, dict[K, V]] = {g: {} for g in page}
        for row in txn.conn.execute(statement, {"gateway_ids": page}):
            key, value = entry(row)
            found[row.gateway_id][key] = value
        known.update(found)


def save_meter_configs(
    txn: Txn,
    configs: dict[int, list[tuple[datetime, bool, MeterConfig]]],
    events: list[Event],
) -> int:
    """Store /ivp/meters configurations (by gateway id: at, poll is newest, config), the
    new meters of every gateway in one INSERT; return meters created."""
    configs = {gid: found for gid, found in configs.items() if found}
    if not configs:
        return 0
    read_meters(txn, configs)
    existing = {gid: gateway_meters(txn, gid) for gid in configs}
    inserting: dict[tuple[int, int], dict[str, Any]] = {}  # the first config of a new meter
    for gid, found in configs.items():
        for _, _, config in found:
            if config.eid not in existing[gid]:
                inserting.setdefault((gid, config.eid), _meter_values(config))
    made: set[tuple[int, int]] = set()  # by this statement, from the first config of each
    if inserting:
        rows = [{"gateway_id": g, "eid": e, **values} for (g, e), values in inserting.items()]
        for gid, eid, meter_id in txn.conn.execute(_new_meters(txn), rows):
            existing[gid][eid] = {"id": meter_id, "eid": eid, **inserting[gid, eid]}
            made.add((gid, eid))
        # Created meanwhile by another writer: read them and treat them as known.
        for gid in {g for g, e in inserting if e not in existing[g]}:
            existing[gid] = gateway_meters(txn, gid, fresh=True)
    created = len(made)
    for gid, found in configs.items():
        for at, newest, config in found:
            if (gid, config.eid) in made:
                made.discard((gid, config.eid))  # the row is as this config made it
                continue
            if newest:
                _meter_config_changes(txn, gid, existing[gid], at, config, events)
    return created


def _meter_config_changes(
    txn: Txn,
    gateway_id: int,
    existing: dict[int, MeterRow],
    at: datetime,
    config: MeterConfig,
    events: list[Event],
) -> None:
    values = _meter_values(config)
    row = existing[config.eid]
    changes = [
        f"{k} {row[k]} -> {v}" for k, v in values.items() if row[k] is not None and row[k] != v
    ]
    if any(row[k] != v for k, v in values.items()):
        txn.conn.execute(_METER_UPDATE, {**values, "meter_id": row["id"]})
        existing[config.eid] = {**row, **values}  # a new dict: the cached one stays as is
    if changes:
        detail = f"meter {config.eid} ({config.measurement_type}): " + "; ".join(changes)
        events.append((gateway_id, at, "meter-config-change", detail))


_BARE_METER = dict.fromkeys((*_METER_FIELDS, "status_flags"))


def meter_ids(txn: Txn, gateway_id: int, eids: Iterable[int]) -> tuple[dict[int, int], int]:
    """Ids of the gateway's meters (created bare when only readings name them); and how many new."""
    known = gateway_meters(txn, gateway_id)
    missing = [eid for eid in set(eids) if eid not in known]
    created = 0
    if missing:
        inserted = txn.conn.execute(
            _new_meters(txn),
            [{"gateway_id": gateway_id, "eid": eid} for eid in missing],
        ).all()
        created = len(inserted)
        for _, eid, meter_id in inserted:
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


def _touch() -> Executable:
    c = inverters.c

    def seen(name: str) -> BindParameter[Any]:
        return bindparam(f"seen_{name}", type_=c[name].type)

    first, last = seen("first_seen_at"), seen("last_seen_at")
    return (
        update(inverters)
        .where(c.id == bindparam("inverter_id"))
        .values(
            device_type=func.coalesce(c.device_type, seen("device_type")),
            active=case(
                (c.last_seen_at <= last, func.coalesce(seen("active"), c.active)),
                else_=c.active,
            ),
            first_seen_at=case((c.first_seen_at > first, first), else_=c.first_seen_at),
            last_seen_at=case((c.last_seen_at < last, last), else_=c.last_seen_at),
        )
    )


_TOUCH = _touch()
_SIGHTING = ("device_type", "active", "first_seen_at", "last_seen_at")


def touch_inverters(txn: Txn, sightings: Sequence[tuple[int, InverterSighting]]) -> None:
    """Apply sightings of known devices, every gateway's in one executemany.

    Times widen, type and active fill; ``active`` follows only a sighting at least as new
    as the last one, so a replayed older batch leaves it alone. Every SET expression reads
    the row as it was before.
    """
    if not sightings:
        return
    rows = [
        {"inverter_id": inverter_id, **{f"seen_{k}": getattr(s, k) for k in _SIGHTING}}
        for inverter_id, s in sightings
    ]
    txn.conn.execute(_TOUCH, rows)


def gateway_inverters(txn: Txn, gateway_id: int) -> dict[str, int]:
    """The gateway's inverter ids by serial, for this transaction (cached, else read)."""
    found = txn.inverters.get(gateway_id)
    if found is None:
        cached = txn.store.inverters.get(gateway_id)
        if cached is None:
            _read_inverters(txn, [gateway_id])
            return txn.inverters[gateway_id]
        txn.cached = True
        found = txn.inverters[gateway_id] = dict(cached)
    return found


_SOME_GATEWAYS_INVERTERS = select(inverters.c.gateway_id, inverters.c.serial, inverters.c.id).where(
    inverters.c.gateway_id.in_(bindparam("gateway_ids", expanding=True))
)


def _read_inverters(txn: Txn, gateway_ids: Iterable[int]) -> None:
    """Read the inverters of the gateways neither this transaction nor the Store knows yet."""

    def inverter(row: Row[Any]) -> tuple[str, int]:
        return row.serial, row.id

    _read_devices(
        txn, gateway_ids, txn.inverters, txn.store.inverters, _SOME_GATEWAYS_INVERTERS, inverter
    )


def inverter_ids(
    txn: Txn, sightings: dict[int, dict[str, InverterSighting]]
) -> tuple[dict[int, dict[str, int]], int]:
    """Create the unknown devices of every gateway (id -> serial -> sighting) in one
    statement and record the sightings of known ones in another; return each gateway's
    serial -> id, and how many devices are new."""
    _read_inverters(txn, sightings)
    ids = {gid: gateway_inverters(txn, gid) for gid in sightings}
    rows: list[dict[str, Any]] = [
        {
            "gateway_id": gid,
            "serial": serial,
            "device_type": s.device_type,
            "first_seen_at": s.first_seen_at,
            "last_seen_at": s.last_seen_at,
            "active": s.active,
        }
        for gid, seen in sightings.items()
        for serial, s in seen.items()
        if serial not in ids[gid]
    ]
    created: set[tuple[int, str]] = set()
    if rows:
        # Inserted by executemany and read back, not by INSERT ... RETURNING: psycopg
        # converts a multi-row statement's text anew each time, 19 % of the service's
        # CPU while 5,000 new gateways' first polls were stored.
        # (One another writer created meanwhile counts as new here: not worth a guard.)
        txn.written(insert_new(txn.dialect, inverters, ("gateway_id", "serial")), rows)
        for page in _pages(sorted({row["gateway_id"] for row in rows})):
            for gid, serial, inverter_id in txn.conn.execute(
                _SOME_GATEWAYS_INVERTERS, {"gateway_ids": list(page)}
            ):
                if serial not in ids[gid]:
                    ids[gid][serial] = inverter_id
                    created.add((gid, serial))
    touch_inverters(
        txn,
        [
            (ids[gid][serial], s)
            for gid, seen in sightings.items()
            for serial, s in seen.items()
            if (gid, serial) not in created
        ],
    )
    return ids, len(created)


# --- batteries ----------------------------------------------------------------------

# A reading at the battery's own report (an inventory's), not at our fetch.
_NOT_A_REPORT = frozenset({ReadingFlag.NO_READING_TIME, ReadingFlag.CLOCK_SKEW})


@dataclass(slots=True)
class BatterySighting:
    """Everything a batch says about one battery: who it is, when listed, its last report."""

    kind: str
    first_seen_at: datetime
    last_seen_at: datetime
    part_number: str | None = None
    capacity_wh: float | None = None
    installed_at: datetime | None = None
    last_report_at: datetime | None = None
    communicating: bool | None = None

    @classmethod
    def of(cls, at: datetime, battery: Battery) -> BatterySighting:
        return cls(battery.kind.value, at, at, battery.part_number, battery.capacity_wh,
                   battery.installed_at)  # fmt: skip

    def add(self, at: datetime, battery: Battery) -> None:
        """Widen the times; what the newest listing says wins, what it leaves out stays."""
        self.first_seen_at = min(self.first_seen_at, at)
        newest = at >= self.last_seen_at
        self.last_seen_at = max(self.last_seen_at, at)
        for name in ("part_number", "capacity_wh", "installed_at"):
            value = getattr(battery, name)
            if value is not None and (newest or getattr(self, name) is None):
                setattr(self, name, value)

    def report(self, reading: BatteryReading) -> None:
        """Take the battery's own last report (an inventory's reading at its instant)."""
        if _NOT_A_REPORT.intersection(reading.flags):
            return
        if self.last_report_at is None or reading.measured_at >= self.last_report_at:
            self.last_report_at = reading.measured_at
            self.communicating = reading.communicating


_BATTERY_COLUMNS = (
    "kind",
    "first_seen_at",
    "last_seen_at",
    "part_number",
    "capacity_wh",
    "installed_at",
    "last_report_at",
    "communicating",
)
_battery_values = attrgetter(*_BATTERY_COLUMNS)


@cache
def _battery_upsert(dialect: str) -> Executable:
    """Insert new batteries, fold sightings into known ones; return every id by serial.

    Every SET reads the row as it was, so a replayed older batch moves nothing back: the
    identity fields follow the newest listing, ``communicating`` the newest report.
    """
    statement = upsert(dialect, batteries)
    new, old = statement.excluded, batteries.c
    newer = new.last_seen_at >= old.last_seen_at

    def newest(name: str) -> ColumnElement[Any]:
        return case((newer, func.coalesce(new[name], old[name])), else_=old[name])

    later_report = old.last_report_at.is_(None) | (new.last_report_at >= old.last_report_at)
    set_: dict[str, Any] = {name: newest(name) for name in ("part_number", "capacity_wh")}
    set_["installed_at"] = newest("installed_at")
    set_.update(
        first_seen_at=func.min(old.first_seen_at, new.first_seen_at)
        if dialect == "sqlite"
        else func.least(old.first_seen_at, new.first_seen_at),
        last_seen_at=case((newer, new.last_seen_at), else_=old.last_seen_at),
        last_report_at=case(
            (new.last_report_at.is_not(None) & later_report, new.last_report_at),
            else_=old.last_report_at,
        ),
        communicating=case(
            (new.last_report_at.is_not(None) & later_report, new.communicating),
            else_=old.communicating,
        ),
    )
    return statement.on_conflict_do_update(
        index_elements=("gateway_id", "serial"), set_=set_
    ).returning(batteries.c.gateway_id, batteries.c.serial, batteries.c.id)


def battery_ids(
    txn: Txn, sightings: dict[int, dict[str, BatterySighting]]
) -> dict[tuple[int, str], int]:
    """Create or update the batteries of every gateway (id -> serial -> sighting) in one
    statement; return (gateway id, serial) -> id. Each battery is listed anew by each poll."""
    rows = [
        {
            "gateway_id": gateway_id,
            "serial": serial,
            **dict(zip(_BATTERY_COLUMNS, _battery_values(s), strict=True)),
        }
        for gateway_id, mine in sightings.items()
        for serial, s in mine.items()
    ]
    found = txn.conn.execute(_battery_upsert(txn.dialect), rows).all()
    return {(gateway_id, serial): int(battery_id) for gateway_id, serial, battery_id in found}
