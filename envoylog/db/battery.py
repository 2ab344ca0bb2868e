"""Battery series: the gateway's state of charge, each battery's power, and the latest figures.

Read by the energy rollup (charge and discharge without a storage CT, the daily
state of charge), the report and `envoylog now` / `status`. Readings flagged as
not to be trusted (an impossible power or state of charge, a skewed clock) are
left out everywhere.

The gateway's state of charge is its own aggregate (``/ivp/ensemble/secctrl``
``agg_soc``) where it was read; else the batteries' own, weighted by capacity:
from ``/ivp/ensemble/power`` where it answered, else from the inventories
(QUIRKS 26: the two can disagree).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from envoylog.db.energy import UNTRUSTED_MASK, windowed
from envoylog.db.models import (
    FLAG_BITS,
    batteries,
    battery_readings,
    battery_system_readings,
)
from envoylog.db.types import stored_instant
from envoylog.records import ReadingFlag

Point = tuple[datetime, float]

_FROM_POWER = FLAG_BITS[ReadingFlag.SOC_FROM_POWER]
# How far back `now` looks for the batteries' own readings when the aggregate is missing.
RECENT = timedelta(minutes=30)


def _trusted(flags: sa.ColumnElement[int]) -> sa.ColumnElement[bool]:
    return flags.op("&")(UNTRUSTED_MASK) == 0


def _gateway_readings(gateway_id: int) -> sa.Select[tuple[int, datetime, float, float, int]]:
    r, b = battery_readings.c, batteries.c
    return (
        sa.select(r.battery_id, r.measured_at, r.soc_pct, b.capacity_wh, r.flags)
        .join(batteries, b.id == r.battery_id)
        .where(b.gateway_id == gateway_id, r.soc_pct.is_not(None), _trusted(r.flags))
    )


def soc_series(conn: Connection, gateway_id: int, lo: datetime, hi: datetime) -> list[Point]:
    """The gateway's battery state of charge (%) in [lo, hi] in time order; [] without any."""
    s = battery_system_readings.c
    query = (
        sa.select(s.measured_at, s.soc_pct)
        .where(s.gateway_id == gateway_id, s.soc_pct.is_not(None), _trusted(s.flags))
        .where(s.measured_at >= lo, s.measured_at <= hi)
        .order_by(s.measured_at)
    )
    found = [(stored_instant(at), float(v)) for at, v in conn.execute(query)]
    if found:
        return found
    r = battery_readings.c
    rows = conn.execute(
        _gateway_readings(gateway_id)
        .where(r.measured_at >= lo, r.measured_at <= hi)
        .order_by(r.measured_at, r.battery_id)
    ).all()
    power = [row for row in rows if row.flags & _FROM_POWER]
    return combined_soc(
        (row.battery_id, stored_instant(row.measured_at), float(row.soc_pct), row.capacity_wh)
        for row in (power or rows)
    )


def combined_soc(
    readings: Iterable[tuple[Hashable, datetime, float, float | None]],
) -> list[Point]:
    """Batteries' readings (battery, instant, %, capacity Wh) in time order -> one state of charge.

    Each instant gives the capacity-weighted mean of every battery's latest reading so far
    (equal weights where a capacity is unknown).
    """
    latest: dict[Hashable, tuple[float, float]] = {}
    points: list[Point] = []
    for battery_id, at, soc, capacity in readings:
        latest[battery_id] = (soc, capacity or 1.0)
        weight = sum(c for _, c in latest.values())
        value = sum(v * c for v, c in latest.values()) / weight
        if points and points[-1][0] == at:
            points[-1] = (at, value)
        else:
            points.append((at, value))
    return points


def power_series(
    conn: Connection, gateway_id: int, lo: datetime, hi: datetime
) -> dict[int, list[Point]]:
    """Each battery's power (W, + = discharging) in [lo, hi] and the nearest reading on each
    side, in time order, by battery id."""
    r, b = battery_readings.c, batteries.c
    found: dict[int, list[Point]] = {}
    ids = conn.execute(sa.select(b.id).where(b.gateway_id == gateway_id).order_by(b.id))
    for (battery_id,) in ids.all():
        base = sa.select(r.measured_at, r.watts).where(
            r.battery_id == battery_id, r.watts.is_not(None), _trusted(r.flags)
        )
        rows = conn.execute(windowed(base, r.measured_at, lo, hi))
        points = [(stored_instant(at), float(w)) for at, w in rows]
        if points:
            found[battery_id] = points
    return found


def power_readings(conn: Connection, gateway_id: int, lo: datetime, hi: datetime) -> int:
    """How many trusted battery power readings the gateway has in [lo, hi)."""
    r, b = battery_readings.c, batteries.c
    query = (
        sa.select(sa.func.count())
        .select_from(battery_readings.join(batteries, b.id == r.battery_id))
        .where(b.gateway_id == gateway_id, r.watts.is_not(None), _trusted(r.flags))
        .where(r.measured_at >= lo, r.measured_at < hi)
    )
    return int(conn.execute(query).scalar_one())


def battery_now(conn: Connection, gateway_id: int) -> Point | None:
    """The gateway's latest battery state of charge (%), None without batteries."""
    s, r, b = battery_system_readings.c, battery_readings.c, batteries.c
    # The newest row read backwards from the end of each key: a maximum with these
    # conditions read the whole history (SQLite cannot stop at the first row that fits).
    each_battery = (
        sa.select(r.measured_at)
        .where(r.battery_id == b.id, r.soc_pct.is_not(None), _trusted(r.flags))
        .order_by(r.measured_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    newest: list[datetime] = []
    for query in (
        sa.select(s.measured_at)
        .where(s.gateway_id == gateway_id, s.soc_pct.is_not(None), _trusted(s.flags))
        .order_by(s.measured_at.desc())
        .limit(1),
        sa.select(sa.func.max(each_battery)).where(b.gateway_id == gateway_id),
    ):
        at = conn.execute(query).scalar()
        if at is not None:
            newest.append(stored_instant(at))
    if not newest:
        return None
    last = max(newest)
    series = soc_series(conn, gateway_id, last - RECENT, last)
    return series[-1] if series else None
