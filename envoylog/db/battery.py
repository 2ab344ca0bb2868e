"""Battery state for the report and `envoylog now`: the seam the battery tables fill.

The battery tables (``batteries``, ``battery_readings``, ``battery_system_readings``,
as ARCHITECTURE.md names them) come with their own migration. Until a database
has them these functions find nothing, and the report and `now` show the
storage CT alone; once it has them, their series appear without other changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from envoylog.db.types import stored_instant

Point = tuple[datetime, float]

_system = sa.table(
    "battery_system_readings",
    sa.column("gateway_id"),
    sa.column("measured_at"),
    sa.column("soc_pct"),
)
_batteries = sa.table("batteries", sa.column("id"), sa.column("gateway_id"))
_readings = sa.table(
    "battery_readings", sa.column("battery_id"), sa.column("measured_at"), sa.column("watts")
)


@dataclass(frozen=True, slots=True)
class BatteryDay:
    """A day of battery readings: state of charge (%) and power (W, + = discharging)."""

    soc: list[Point] = field(default_factory=list)
    watts: list[Point] = field(default_factory=list)


def _has(conn: Connection, table: str) -> bool:
    return sa.inspect(conn).has_table(table)


def battery_day(conn: Connection, gateway_id: int, lo: datetime, hi: datetime) -> BatteryDay:
    """The gateway's battery state of charge and power in [lo, hi), empty without batteries."""
    soc: list[Point] = []
    watts: list[Point] = []
    if _has(conn, "battery_system_readings"):
        s = _system.c
        query = (
            sa.select(s.measured_at, s.soc_pct)
            .where(s.gateway_id == gateway_id, s.soc_pct.is_not(None))
            .where(s.measured_at >= lo, s.measured_at < hi)
            .order_by(s.measured_at)
        )
        soc = [(stored_instant(at), float(v)) for at, v in conn.execute(query)]
    if _has(conn, "battery_readings") and _has(conn, "batteries"):
        r, b = _readings.c, _batteries.c
        query = (
            sa.select(r.measured_at, sa.func.sum(r.watts))
            .join(_batteries, b.id == r.battery_id)
            .where(b.gateway_id == gateway_id, r.watts.is_not(None))
            .where(r.measured_at >= lo, r.measured_at < hi)
            .group_by(r.measured_at)
            .order_by(r.measured_at)
        )
        watts = [(stored_instant(at), float(v)) for at, v in conn.execute(query)]
    return BatteryDay(soc, watts)


def battery_now(conn: Connection, gateway_id: int) -> Point | None:
    """The gateway's latest battery state of charge (%), None without batteries."""
    if not _has(conn, "battery_system_readings"):
        return None
    s = _system.c
    query = (
        sa.select(s.measured_at, s.soc_pct)
        .where(s.gateway_id == gateway_id, s.soc_pct.is_not(None))
        .order_by(s.measured_at.desc())
        .limit(1)
    )
    row = conn.execute(query).first()
    return None if row is None else (stored_instant(row[0]), float(row[1]))
