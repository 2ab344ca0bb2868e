"""The SQL of the energy rollup: counter series in, period rows and counter events out.

Series are read one query per series, ordered by instant, over a UTC window
plus the nearest reading on each side, so the engine knows the interval that
crosses each edge of the window. Period rows and the counter events of a range
are replaced in one transaction, so recomputing a range never duplicates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, and_, delete, func, insert, or_, select, union_all
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement, Select

from envoylog.db.models import (
    FLAG_BITS,
    EnergyDaily,
    EnergyHourly,
    EnergyMonthly,
    InverterDaily,
    batteries,
    battery_readings,
    battery_system_readings,
    gateway_events,
    gateways,
    inverter_readings,
    inverters,
    meter_readings,
    meters,
    poll_endpoints,
    polls,
    system_readings,
)
from envoylog.db.store import Store
from envoylog.db.types import stored_instant
from envoylog.errors import UnknownGateway
from envoylog.records import UNTRUSTED_FLAGS, Measurement, MeterConfig, Source

energy_hourly = cast(Table, EnergyHourly.__table__)
energy_daily = cast(Table, EnergyDaily.__table__)
energy_monthly = cast(Table, EnergyMonthly.__table__)
inverter_daily = cast(Table, InverterDaily.__table__)

UNTRUSTED_MASK = sum(FLAG_BITS[flag] for flag in UNTRUSTED_FLAGS)


def trusted(flags: ColumnElement[int]) -> ColumnElement[bool]:
    """Rows whose flags allow them into energy (meter and inverter rows failing it are skipped)."""
    return flags.op("&")(UNTRUSTED_MASK) == 0


def every_series(
    source: Any, measurement: Any, measurements: Iterable[Measurement] = Measurement
) -> ColumnElement[bool]:
    """Every system reading series named (of ``measurements``: all by default), so the
    key (gateway, source, measurement, instant) is searched by instant: a search by
    gateway and instant alone read the gateway's whole history (docs/performance.md,
    section 8)."""
    return and_(source.in_(list(Source)), measurement.in_(list(measurements)))


def highest(c: Any) -> ColumnElement[float]:
    """A reading's power for peaks: the highest of the readings a compacted row stands for."""
    return func.coalesce(c.watts_max, c.watts).label("watts")


COUNTER_EVENT = "counter-%"  # gateway_events kinds the rollup owns
INVERTER_ENDPOINTS = ("api_v1_inverters", "device_data")

Point = tuple[datetime, float]


@dataclass(frozen=True, slots=True)
class GatewayRow:
    id: int
    serial: str
    name: str | None
    timezone: str | None


@dataclass(frozen=True, slots=True)
class MeterRow:
    id: int
    config: MeterConfig


@dataclass(frozen=True, slots=True)
class InverterReport:
    at: datetime
    watts: float | None
    interval_s: float | None
    wh_interval: float | None
    wh_lifetime: float | None
    # Compacted, with reports folded after it: its lifetime covers the span to the next
    # report (counters.Sample.covers_next).
    covers_next: bool = False


@dataclass(frozen=True, slots=True)
class SystemPoint:
    at: datetime
    wh: float | None
    watts: float | None
    trusted: bool
    covers_next: bool = False  # compacted, with readings folded after it (as InverterReport)


@dataclass(frozen=True, slots=True)
class MeterPoint:
    at: datetime
    delivered: float | None
    received: float | None
    watts: float | None
    covers_next: bool = False  # compacted, with readings folded after it (as InverterReport)


def list_gateways(store: Store) -> list[GatewayRow]:
    """Every gateway in the database, by id."""
    query = select(gateways.c.id, gateways.c.serial, gateways.c.name, gateways.c.timezone)
    with store.reading("listing gateways") as conn:
        return [GatewayRow(*row) for row in conn.execute(query.order_by(gateways.c.id))]


def poll_span(store: Store, gateway_id: int) -> tuple[datetime, datetime] | None:
    """The first poll start and the last poll end of a gateway, None before any poll."""
    query = select(func.min(polls.c.started_at), func.max(polls.c.finished_at)).where(
        polls.c.gateway_id == gateway_id
    )
    with store.reading("finding the logged span") as conn:
        row = conn.execute(query).one()
    if row[0] is None:
        return None
    return _instant(row[0]), _instant(row[1])


def reading_span(store: Store, gateway_id: int) -> tuple[datetime, datetime] | None:
    """The first and last instant of the gateway's readings (CT, system, inverter, battery),
    None if none.

    One index lookup per series (meter, source and measurement, inverter), so a year of
    readings costs no scan.
    """
    m, s, r = meter_readings.c, system_readings.c, inverter_readings.c
    meter_ends = [
        select(agg(m.measured_at))
        .where(m.meter_id == meters.c.id, m.channel == 0, trusted(m.flags))
        .scalar_subquery()
        for agg in (func.min, func.max)
    ]
    inverter_ends = [
        select(agg(r.reported_at))
        .where(r.inverter_id == inverters.c.id, trusted(r.flags))
        .scalar_subquery()
        for agg in (func.min, func.max)
    ]
    b = battery_readings.c
    battery_ends = [
        select(agg(b.measured_at)).where(b.battery_id == batteries.c.id).scalar_subquery()
        for agg in (func.min, func.max)
    ]
    g = battery_system_readings.c
    found: list[Any] = []
    with store.reading("finding the span of the readings") as conn:
        for query in (
            select(*meter_ends).where(meters.c.gateway_id == gateway_id),
            select(*inverter_ends).where(inverters.c.gateway_id == gateway_id),
            select(*battery_ends).where(batteries.c.gateway_id == gateway_id),
            select(func.min(g.measured_at), func.max(g.measured_at)).where(
                g.gateway_id == gateway_id
            ),
        ):
            for row in conn.execute(query):
                found.extend(v for v in row if v is not None)
        for source in Source:
            for measurement in Measurement:
                # Each end its own subquery: SQLite finds a lone min or max at the end of
                # the key, but both in one select scanned the series (85 ms a year each).
                series = (
                    s.gateway_id == gateway_id,
                    s.source == source.value,
                    s.measurement == measurement.value,
                )
                query = select(
                    *(select(agg(s.measured_at)).where(*series).scalar_subquery()
                      for agg in (func.min, func.max))
                )  # fmt: skip
                found.extend(v for v in conn.execute(query).one() if v is not None)
    if not found:
        return None
    instants = [_instant(v) for v in found]
    return min(instants), max(instants)


def energy_state(store: Store, gateway_id: int) -> tuple[datetime | None, datetime | None]:
    """The end of the gateway's last poll and when its energy was last computed (None: never)."""
    last_poll = (
        select(polls.c.finished_at)
        .where(polls.c.gateway_id == gateway_id)
        .order_by(polls.c.started_at.desc())
        .limit(1)
    )
    computed = select(func.max(energy_daily.c.computed_at)).where(
        energy_daily.c.gateway_id == gateway_id
    )
    with store.reading("checking whether the energy tables are current") as conn:
        finished = conn.execute(last_poll).scalar()
        at = conn.execute(computed).scalar()
    return (
        None if finished is None else _instant(finished),
        None if at is None else _instant(at),
    )


def last_poll_start(store: Store, serial: str, before: datetime) -> datetime | None:
    """The start of the gateway's last poll stored before ``before``, None when none is."""
    return last_poll_starts(store, [serial], before).get(serial)


def last_poll_starts(store: Store, serials: Iterable[str], before: datetime) -> dict[str, datetime]:
    """The start of each gateway's last poll stored before ``before``; absent when none is
    (of a run of polls, its last poll's start)."""
    p = polls.c
    # A gateway's latest start, one seek at the end of its key: grouped by gateway, the
    # maximum read every poll before ``before`` (81.8 ms a gateway over a generated year).
    earlier = polls.alias("earlier").c
    latest = (
        select(func.max(earlier.started_at))
        .where(earlier.gateway_id == gateways.c.id, earlier.started_at < before)
        .scalar_subquery()
    )
    query = (
        select(gateways.c.serial, func.coalesce(p.last_started_at, p.started_at))
        .select_from(gateways)
        .join(polls, (p.gateway_id == gateways.c.id) & (p.started_at == latest))
        .where(gateways.c.serial.in_(list(serials)))
    )
    with store.reading("finding the last poll before a restart") as conn:
        return {serial: _instant(found) for serial, found in conn.execute(query)}


def meter_rows(conn: Connection, gateway_id: int) -> list[MeterRow]:
    """The gateway's CT meters and their last known configuration."""
    c = meters.c
    query = select(
        c.id, c.eid, c.measurement_type, c.state, c.phase_mode, c.phase_count,
        c.metering_status, c.status_flags,
    ).where(c.gateway_id == gateway_id).order_by(c.id)  # fmt: skip
    result = []
    for row in conn.execute(query):
        flags = tuple(f for f in (row.status_flags or "").split(",") if f)
        config = MeterConfig(
            int(row.eid), row.measurement_type or "", row.state or "", row.phase_mode,
            row.phase_count, row.metering_status, flags,
        )  # fmt: skip
        result.append(MeterRow(int(row.id), config))
    return result


def windowed(base: Select[Any], at: ColumnElement[Any], lo: datetime, hi: datetime) -> Any:
    """``base`` over [lo, hi] plus the nearest row before lo and after hi, in time order."""
    before = base.where(at < lo).order_by(at.desc()).limit(1).subquery()
    inside = base.where(at >= lo, at <= hi)
    after = base.where(at > hi).order_by(at).limit(1).subquery()
    union = union_all(select(before), inside, select(after)).subquery()
    return select(union).order_by(union.c[at.name])


def meter_series(conn: Connection, meter_id: int, lo: datetime, hi: datetime) -> list[MeterPoint]:
    """Channel 0 of one CT meter: both counters and power."""
    c = meter_readings.c
    base = select(c.measured_at, c.wh_delivered, c.wh_received, highest(c), c.samples).where(
        c.meter_id == meter_id, c.channel == 0, trusted(c.flags)
    )
    rows = conn.execute(windowed(base, c.measured_at, lo, hi))
    return [MeterPoint(_instant(r[0]), r[1], r[2], r[3], (r[4] or 1) > 1) for r in rows]


def system_series(
    conn: Connection, gateway_id: int, source: str, measurement: str, lo: datetime, hi: datetime
) -> list[SystemPoint]:
    """One ``system_readings`` series: lifetime counter, power and whether it may be trusted."""
    c = system_readings.c
    base = select(c.measured_at, c.wh_lifetime, highest(c), c.flags, c.samples).where(
        c.gateway_id == gateway_id, c.source == source, c.measurement == measurement
    )
    rows = conn.execute(windowed(base, c.measured_at, lo, hi))
    return [
        SystemPoint(
            _instant(r[0]), r[1], r[2], not (int(r[3] or 0) & UNTRUSTED_MASK), (r[4] or 1) > 1
        )
        for r in rows
    ]


def _microinverters(gateway_id: int) -> ColumnElement[bool]:
    return and_(
        inverters.c.gateway_id == gateway_id,
        or_(inverters.c.device_type.is_(None), inverters.c.device_type == "pcu"),
    )


def inverter_ids(conn: Connection, gateway_id: int) -> dict[int, str]:
    """Microinverter id -> serial (old AC batteries and other devices are no inverters)."""
    query = select(inverters.c.id, inverters.c.serial).where(_microinverters(gateway_id))
    return {int(i): s for i, s in conn.execute(query.order_by(inverters.c.id))}


def inverters_series(
    conn: Connection, gateway_id: int, lo: datetime, hi: datetime
) -> dict[int, list[InverterReport]]:
    """Every microinverter's reports over the window, each with its nearest one on each
    side, by inverter id: one query for them all. A query per inverter cost a fleet's
    rollup round most of its time: 59 of 119 ms per gateway of 12 inverters with a
    quarter hour of readings, on PostgreSQL (a statement built and a round trip each)."""
    c = inverter_readings.c
    columns = (
        c.inverter_id, c.reported_at, highest(c), c.interval_s, c.wh_interval, c.wh_lifetime,
        c.samples,
    )  # fmt: skip
    inside = select(*columns).where(
        c.inverter_id.in_(select(inverters.c.id).where(_microinverters(gateway_id))),
        c.reported_at >= lo,
        c.reported_at <= hi,
        trusted(c.flags),
    )

    def nearest(before: bool) -> Select[Any]:
        other = inverter_readings.alias("nearest")
        at = other.c.reported_at
        found = (
            select(at)
            .where(other.c.inverter_id == inverters.c.id, trusted(other.c.flags))
            .where(at < lo if before else at > hi)
            .order_by(at.desc() if before else at)
            .limit(1)
            .scalar_subquery()
        )
        joined = inverters.join(
            inverter_readings, and_(c.inverter_id == inverters.c.id, c.reported_at == found)
        )
        return select(*columns).select_from(joined).where(_microinverters(gateway_id))

    union = union_all(nearest(True), inside, nearest(False)).subquery()
    found: dict[int, list[InverterReport]] = {}
    for r in conn.execute(select(union).order_by(union.c.inverter_id, union.c.reported_at)):
        report = InverterReport(_instant(r[1]), r[2], r[3], r[4], r[5], (r[6] or 1) > 1)
        found.setdefault(int(r[0]), []).append(report)
    return found


def inverter_max_watts(conn: Connection, gateway_id: int, lo: datetime, hi: datetime) -> float:
    """The sum over microinverters of their highest ``max_watts`` reported in [lo, hi]."""
    c = inverter_readings.c
    per_inverter = (
        select(func.max(c.max_watts).label("peak"))
        .join(inverters, inverters.c.id == c.inverter_id)
        .where(_microinverters(gateway_id), c.reported_at >= lo, c.reported_at <= hi)
        .where(trusted(c.flags))
        .group_by(c.inverter_id)
        .subquery()
    )
    return float(conn.execute(select(func.sum(per_inverter.c.peak))).scalar() or 0.0)


def inverter_poll_times(
    conn: Connection, gateway_id: int, lo: datetime, hi: datetime
) -> list[tuple[datetime, datetime]]:
    """Every poll in [lo, hi] that fetched an inverter endpoint successfully, in order, as
    (first, last) start: of a poll the same instant twice; of a run of polls (a compacted
    day), the first and last of its inverter polls, which were no further apart than the
    gap limit, one from the next (envoylog.history.poll_runs)."""
    e = poll_endpoints.c
    started = polls.c.started_at
    base = (
        select(
            started,
            func.min(func.coalesce(e.first_started_at, started)),
            func.max(func.coalesce(e.last_started_at, started)),
        )
        .join(poll_endpoints, e.poll_id == polls.c.id)
        .where(
            polls.c.gateway_id == gateway_id,
            e.endpoint.in_(INVERTER_ENDPOINTS),
            e.error.is_(None),
        )
        .group_by(started)
    )
    return [(_instant(r[1]), _instant(r[2])) for r in conn.execute(windowed(base, started, lo, hi))]


def growth(
    conn: Connection, gateway_id: int, lo: datetime, hi: datetime
) -> dict[tuple[str, str], tuple[int, float]]:
    """(table key, column) -> (trusted readings, max - min) over [lo, hi): cheap source choice.

    Keys: ``("meter:<id>", "delivered"|"received")``, ``("system:<source>", "production")``,
    ``("inverters", "lifetime")`` (per-inverter growth summed).
    """
    found: dict[tuple[str, str], tuple[int, float]] = {}
    m = meter_readings.c
    query = (
        select(
            m.meter_id,
            func.count(m.wh_delivered),
            func.max(m.wh_delivered) - func.min(m.wh_delivered),
            func.count(m.wh_received),
            func.max(m.wh_received) - func.min(m.wh_received),
        )
        .join(meters, meters.c.id == m.meter_id)
        .where(meters.c.gateway_id == gateway_id, m.channel == 0, trusted(m.flags))
        .where(m.measured_at >= lo, m.measured_at < hi)
        .group_by(m.meter_id)
    )
    for meter_id, n_del, g_del, n_rec, g_rec in conn.execute(query):
        found[(f"meter:{meter_id}", "delivered")] = (int(n_del), float(g_del or 0.0))
        found[(f"meter:{meter_id}", "received")] = (int(n_rec), float(g_rec or 0.0))
    s = system_readings.c
    query = (
        select(
            s.source, s.measurement, func.count(s.wh_lifetime),
            func.max(s.wh_lifetime) - func.min(s.wh_lifetime),
        )
        .where(s.gateway_id == gateway_id, s.measured_at >= lo, s.measured_at < hi)
        .where(every_series(s.source, s.measurement))
        .where(trusted(s.flags), s.wh_lifetime.is_not(None))
        .group_by(s.source, s.measurement)
    )  # fmt: skip
    for source, measurement, count, grown in conn.execute(query):
        found[(f"system:{source}", measurement)] = (int(count), float(grown or 0.0))
    r = inverter_readings.c
    query = (
        select(func.count(r.wh_lifetime), func.max(r.wh_lifetime) - func.min(r.wh_lifetime))
        .join(inverters, inverters.c.id == r.inverter_id)
        .where(_microinverters(gateway_id), r.reported_at >= lo, r.reported_at < hi)
        .where(trusted(r.flags))
        .group_by(r.inverter_id)
    )
    count, grown_total = 0, 0.0
    for n, grown in conn.execute(query):
        count += int(n)
        grown_total += max(float(grown or 0.0), 0.0)
    if count:
        found[("inverters", "lifetime")] = (count, grown_total)
    return found


@dataclass(frozen=True, slots=True)
class EventRow:
    at: datetime
    kind: str
    detail: str


def replace_days(
    store: Store,
    gateway_id: int,
    *,
    lo: datetime,
    hi: datetime,
    first_day: date,
    end_day: date,
    hourly: Sequence[Mapping[str, Any]],
    daily: Sequence[Mapping[str, Any]],
    inverter_rows: Sequence[Mapping[str, Any]],
    events: Iterable[EventRow],
) -> None:
    """Replace the hours in [lo, hi), the days in [first_day, end_day) and their counter events."""
    with store.transaction("writing energy rollups") as txn:
        conn = txn.conn
        h, d, i, e = energy_hourly.c, energy_daily.c, inverter_daily.c, gateway_events.c
        conn.execute(
            delete(energy_hourly).where(
                h.gateway_id == gateway_id, h.start_at >= lo, h.start_at < hi
            )
        )
        conn.execute(
            delete(energy_daily).where(
                d.gateway_id == gateway_id, d.day >= first_day, d.day < end_day
            )
        )
        ids = select(inverters.c.id).where(inverters.c.gateway_id == gateway_id)
        conn.execute(
            delete(inverter_daily).where(
                i.inverter_id.in_(ids.scalar_subquery()), i.day >= first_day, i.day < end_day
            )
        )
        conn.execute(
            delete(gateway_events).where(
                e.gateway_id == gateway_id, e.kind.like(COUNTER_EVENT), e.at >= lo, e.at < hi
            )
        )
        for table, rows in ((energy_hourly, hourly), (energy_daily, daily)):
            if rows:
                conn.execute(insert(table), [{"gateway_id": gateway_id, **r} for r in rows])
        if inverter_rows:
            conn.execute(insert(inverter_daily), list(inverter_rows))
        event_rows = [
            {"gateway_id": gateway_id, "at": ev.at, "kind": ev.kind, "detail": ev.detail}
            for ev in events
        ]
        if event_rows:
            conn.execute(insert(gateway_events), event_rows)


def daily_rows(
    store: Store, gateway_id: int, first_day: date, end_day: date
) -> list[dict[str, Any]]:
    """The stored daily rows of [first_day, end_day), by day."""
    d = energy_daily.c
    query = (
        select(energy_daily)
        .where(d.gateway_id == gateway_id, d.day >= first_day, d.day < end_day)
        .order_by(d.day)
    )
    with store.reading("reading daily energy") as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


DAILY_FIGURES = (
    "production_wh",
    "consumption_wh",
    "import_wh",
    "export_wh",
    "battery_charge_wh",
    "battery_discharge_wh",
    "self_sufficiency",
    "coverage",
)


def daily_energy(store: Store, first: date, end: date) -> dict[date, dict[str, float | None]]:
    """The main daily figures of [first, end), summed over gateways (a demo has one)."""
    d = energy_daily.c
    query = select(d.day, *(d[c] for c in DAILY_FIGURES)).where(d.day >= first, d.day < end)
    found: dict[date, dict[str, float | None]] = {}
    with store.reading("reading daily energy") as conn:
        for row in conn.execute(query.order_by(d.day, d.gateway_id)):
            found[row[0]] = dict(zip(DAILY_FIGURES, row[1:], strict=True))
    return found


def replace_months(
    store: Store, gateway_id: int, first: date, end: date, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Replace the monthly rows of the months starting in [first, end)."""
    m = energy_monthly.c
    with store.transaction("writing monthly energy") as txn:
        txn.conn.execute(
            delete(energy_monthly).where(
                m.gateway_id == gateway_id, m.month >= first, m.month < end
            )
        )
        if rows:
            txn.conn.execute(
                insert(energy_monthly), [{"gateway_id": gateway_id, **r} for r in rows]
            )


def _instant(value: Any) -> datetime:
    return stored_instant(value)


def select_gateways(store: Store, wanted: Sequence[str]) -> list[GatewayRow]:
    """The gateways named (by name or serial), sorted by name; all of them when none are."""
    known = sorted(list_gateways(store), key=lambda g: (g.name or g.serial, g.serial))
    if not wanted:
        return known
    unknown = [w for w in wanted if not any(w in (g.name, g.serial) for g in known)]
    if unknown:
        names = ", ".join(repr(u) for u in unknown)
        listed = ", ".join(g.serial if g.name is None else f"{g.name} ({g.serial})" for g in known)
        known_text = f"known gateways: {listed}" if known else "the database has no gateways yet"
        noun = "gateway" if len(unknown) == 1 else "gateways"
        raise UnknownGateway(f"unknown {noun} {names} in {store.name}; {known_text}")
    return [g for g in known if g.name in wanted or g.serial in wanted]
