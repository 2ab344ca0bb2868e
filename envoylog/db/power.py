"""Power (W) of a gateway's whole-site flows: the series of a day, and the latest reading.

Each flow is read from one series, the first of its preference list the gateway
has (a CT meter's whole-meter channel before the same CT in production.json,
before the inverters' own figures; for the batteries, their own power summed after
a storage CT), never spliced from two. Consumption without a consumption CT is
production + net (+ battery, positive while discharging), at the instants they were read.
"""

from __future__ import annotations

import bisect
import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, null, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement, Select

from envoylog.db.energy import trusted
from envoylog.db.models import (
    batteries,
    battery_readings,
    meter_readings,
    meters,
    system_readings,
)
from envoylog.db.types import stored_instant
from envoylog.records import Measurement, Source

Point = tuple[datetime, float]


class PowerFlow(enum.StrEnum):
    PRODUCTION = "production"
    CONSUMPTION = "consumption"
    NET = "net"  # + = importing from the grid, - = exporting
    STORAGE = "storage"  # + = discharging, - = charging


_MEASUREMENT = {
    PowerFlow.PRODUCTION: Measurement.PRODUCTION,
    PowerFlow.CONSUMPTION: Measurement.TOTAL_CONSUMPTION,
    PowerFlow.NET: Measurement.NET_CONSUMPTION,
    PowerFlow.STORAGE: Measurement.STORAGE,
}
# After the CT meter itself: the production.json figures, best first.
_SYSTEM: dict[PowerFlow, tuple[Source, ...]] = {
    PowerFlow.PRODUCTION: (Source.EIM, Source.INVERTERS, Source.API_V1, Source.LEGACY_PAGE),
    PowerFlow.CONSUMPTION: (Source.EIM,),
    PowerFlow.NET: (Source.EIM,),
    PowerFlow.STORAGE: (Source.EIM,),
}


@dataclass(frozen=True, slots=True)
class Series:
    """One flow's power readings and where they come from (``ct`` or a production.json source)."""

    flow: PowerFlow
    source: str
    points: Sequence[Point]
    # Instants of compacted points standing for the readings up to the next point, however
    # far (envoylog.history.plan): no gap follows them.
    covering: frozenset[datetime] = frozenset()
    # A compacted point's lowest and highest watts over the readings it stands for.
    extremes: Mapping[datetime, tuple[float, float]] = field(default_factory=dict)


def day_series(
    conn: Connection, gateway_id: int, lo: datetime, hi: datetime
) -> dict[PowerFlow, Series]:
    """Each flow's power readings in [lo, hi) from its preferred series, where it has one."""
    found: dict[PowerFlow, Series] = {}
    for flow in PowerFlow:
        for key in _keys(conn, gateway_id, flow):
            at, query = _series(key, gateway_id, flow)
            rows = conn.execute(query.where(at >= lo, at < hi).order_by(at)).all()
            if rows:
                compacted = [r for r in rows if (r.samples or 1) > 1]
                covering = frozenset(stored_instant(r[0]) for r in compacted)
                extremes = {
                    stored_instant(r[0]): (float(r.watts_min), float(r.watts_max))
                    for r in compacted
                    if r.watts_min is not None and r.watts_max is not None
                }
                found[flow] = Series(flow, _label(key), _points(rows), covering, extremes)
                break
    if PowerFlow.CONSUMPTION not in found and {PowerFlow.PRODUCTION, PowerFlow.NET} <= set(found):
        found[PowerFlow.CONSUMPTION] = derived_consumption(
            found[PowerFlow.PRODUCTION], found[PowerFlow.NET], found.get(PowerFlow.STORAGE)
        )
    return found


def latest(conn: Connection, gateway_id: int, since: datetime) -> dict[PowerFlow, Series]:
    """Each flow's latest reading from its preferred series, if one was read since ``since``.

    One index lookup per series: cheap on years of readings.
    """
    found: dict[PowerFlow, Series] = {}
    for flow in PowerFlow:
        for key in _keys(conn, gateway_id, flow):
            at, query = _series(key, gateway_id, flow)
            last = conn.execute(query.order_by(at.desc()).limit(1)).first()
            if last is not None and stored_instant(last[0]) >= since:
                found[flow] = Series(flow, _label(key), _points([last]))
                break
    if PowerFlow.CONSUMPTION not in found and {PowerFlow.PRODUCTION, PowerFlow.NET} <= set(found):
        (p_at, p_w), (n_at, n_w) = (
            found[f].points[0] for f in (PowerFlow.PRODUCTION, PowerFlow.NET)
        )
        moment = max(p_at, n_at)
        derived = derived_consumption(
            Series(PowerFlow.PRODUCTION, "", [(moment, p_w)]),
            Series(PowerFlow.NET, "", [(moment, n_w)]),
            found.get(PowerFlow.STORAGE),
        )
        if derived.points:
            found[PowerFlow.CONSUMPTION] = derived
    return found


# A battery's power is read by its own request, a moment apart from the CTs'.
BATTERY_SLACK = timedelta(seconds=90)


def derived_consumption(production: Series, net: Series, storage: Series | None = None) -> Series:
    """Production + net (+ battery) where they were read together.

    Production and net: at the instants both were read (the same poll reads both). The
    battery (+ = discharging), where there is one: its reading nearest each instant, within
    BATTERY_SLACK; an instant without one has no consumption.
    """
    net_at = dict(net.points)
    points = [(at, w + net_at[at]) for at, w in production.points if at in net_at]
    covering = production.covering & net.covering
    if storage is None:
        return Series(PowerFlow.CONSUMPTION, DERIVED, points, covering)
    instants = [at for at, _ in storage.points]
    with_battery = []
    for at, watts in points:
        k = bisect.bisect_left(instants, at)
        near = [i for i in (k - 1, k) if 0 <= i < len(instants)]
        best = min(near, key=lambda i: abs(instants[i] - at), default=None)
        if best is not None and abs(instants[best] - at) <= BATTERY_SLACK:
            with_battery.append((at, watts + storage.points[best][1]))
    return Series(PowerFlow.CONSUMPTION, f"{DERIVED} + battery", with_battery, covering)


DERIVED = "production + net"
Key = tuple[str, str]  # ("ct", meter id), ("system", source) or ("battery", "")


def _keys(conn: Connection, gateway_id: int, flow: PowerFlow) -> list[Key]:
    """The flow's candidate series, best first: its CT meters, then production.json sources."""
    query = select(meters.c.id).where(
        meters.c.gateway_id == gateway_id,
        meters.c.measurement_type == _MEASUREMENT[flow].value,
    )
    cts = [("ct", str(i)) for i in conn.execute(query.order_by(meters.c.id)).scalars()]
    batteries_own = [("battery", "")] if flow is PowerFlow.STORAGE else []
    return [*cts, *(("system", source.value) for source in _SYSTEM[flow]), *batteries_own]


def _series(key: Key, gateway_id: int, flow: PowerFlow) -> tuple[ColumnElement[Any], Select[Any]]:
    """The instant column and the (instant, watts, samples, watts_min, watts_max) query of
    one series."""
    if key[0] == "battery":  # every battery's power of one fetch, summed
        r, b = battery_readings.c, batteries.c
        query = (
            select(
                r.measured_at,
                func.sum(r.watts),
                null().label("samples"),
                null().label("watts_min"),
                null().label("watts_max"),
            )
            .join(batteries, b.id == r.battery_id)
            .where(b.gateway_id == gateway_id, r.watts.is_not(None))
            .where(trusted(r.flags))
            .group_by(r.measured_at)
        )
        return r.measured_at, query
    if key[0] == "ct":
        m = meter_readings.c
        query = select(m.measured_at, m.watts, m.samples, m.watts_min, m.watts_max).where(
            m.meter_id == int(key[1]), m.channel == 0, m.watts.is_not(None), trusted(m.flags)
        )
        return m.measured_at, query
    s = system_readings.c
    query = select(s.measured_at, s.watts, s.samples, s.watts_min, s.watts_max).where(
        s.gateway_id == gateway_id,
        s.source == key[1],
        s.measurement == _MEASUREMENT[flow].value,
        s.watts.is_not(None),
        trusted(s.flags),
    )
    return s.measured_at, query


def _label(key: Key) -> str:
    return key[0] if key[0] in ("ct", "battery") else key[1]


def _points(rows: Iterable[Any]) -> list[Point]:
    return [(stored_instant(r[0]), float(r[1])) for r in rows]
