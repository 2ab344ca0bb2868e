"""What the HTML report reads besides the energy tables: gaps, corrections, parse failures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from envoylog.db.models import gateway_events, inverters, poll_endpoints, polls
from envoylog.db.types import stored_instant


@dataclass(frozen=True, slots=True)
class Gap:
    """A span without a successful poll, longer than the coverage rule allows."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Event:
    at: datetime
    kind: str
    detail: str


@dataclass(frozen=True, slots=True)
class InverterStatus:
    serial: str
    active: bool | None
    last_seen_at: datetime


def gaps(
    conn: Connection, gateway_id: int, lo: datetime, hi: datetime, longer_than_s: float
) -> list[Gap]:
    """Spans in [lo, hi) between successive successful polls longer than ``longer_than_s``.

    Computed in the database (a window function), so a year of minute polls is
    never fetched. A run of polls (a compacted day) is measured from its last poll's start.
    """
    p = polls.c
    previous = sa.func.lag(sa.func.coalesce(p.last_started_at, p.started_at)).over(
        order_by=p.started_at
    )
    good = (
        sa.select(p.started_at.label("at"), previous.label("before"))
        .where(p.gateway_id == gateway_id, p.status != "failed")
        .where(p.started_at >= lo, p.started_at < hi)
        .subquery()
    )
    if conn.dialect.name == "sqlite":
        seconds: Any = (sa.func.julianday(good.c.at) - sa.func.julianday(good.c.before)) * 86400.0
    else:
        seconds = sa.extract("epoch", good.c.at - good.c.before)
    query = sa.select(good.c.before, good.c.at).where(seconds > longer_than_s).order_by(good.c.at)
    return [Gap(stored_instant(a), stored_instant(b)) for a, b in conn.execute(query)]


def counter_events(conn: Connection, gateway_id: int, lo: datetime, hi: datetime) -> list[Event]:
    """The counter corrections the rollup recorded in [lo, hi)."""
    e = gateway_events.c
    query = (
        sa.select(e.at, e.kind, e.detail)
        .where(e.gateway_id == gateway_id, e.kind.like("counter-%"), e.at >= lo, e.at < hi)
        .order_by(e.at, e.kind)
    )
    return [Event(stored_instant(at), kind, detail) for at, kind, detail in conn.execute(query)]


def parse_failures(
    conn: Connection, gateway_id: int, lo: datetime, hi: datetime
) -> list[tuple[datetime, str]]:
    """(poll start, endpoint) of every body that came but no parser understood, in [lo, hi)."""
    query = (
        sa.select(polls.c.started_at, poll_endpoints.c.endpoint)
        .join(poll_endpoints, poll_endpoints.c.poll_id == polls.c.id)
        .where(polls.c.gateway_id == gateway_id, poll_endpoints.c.parse_failed)
        .where(polls.c.started_at >= lo, polls.c.started_at < hi)
        .order_by(polls.c.started_at)
    )
    return [(stored_instant(at), endpoint) for at, endpoint in conn.execute(query)]


def inverter_statuses(conn: Connection, gateway_id: int) -> dict[str, InverterStatus]:
    """Every microinverter of the gateway: whether the gateway still lists it as active."""
    i = inverters.c
    query = sa.select(i.serial, i.active, i.last_seen_at).where(
        i.gateway_id == gateway_id, sa.or_(i.device_type.is_(None), i.device_type == "pcu")
    )
    return {
        serial: InverterStatus(serial, active, stored_instant(seen))
        for serial, active, seen in conn.execute(query)
    }
