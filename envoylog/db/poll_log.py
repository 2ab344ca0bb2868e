"""The SQL of a compacted day's poll log: its polls out, its runs back in
(envoylog.history.poll_runs decides which polls fold)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from envoylog.db.history import chunks
from envoylog.db.models import poll_endpoints, polls, raw_bodies


@dataclass(frozen=True, slots=True)
class Fetch:
    """One endpoint of a poll as polled."""

    http_status: int | None
    duration_ms: int | None


@dataclass(frozen=True, slots=True)
class LoggedPoll:
    """A poll of the day, and whether it may fold into a run."""

    id: int
    started_at: datetime
    finished_at: datetime
    # Succeeded, every endpoint without error or parse failure, no raw body, not a run yet.
    foldable: bool
    fetches: Mapping[str, Fetch]


@dataclass(frozen=True, slots=True)
class RunEndpoint:
    """A run's row of one endpoint: the polls of the run that fetched it."""

    endpoint: str
    http_status: int | None
    duration_ms: int | None  # the mean of the run's fetches
    samples: int
    first_started_at: datetime
    last_started_at: datetime


def day_polls(conn: Connection, gateway_id: int, lo: datetime, hi: datetime) -> list[LoggedPoll]:
    """The gateway's polls started in [lo, hi), in time order, with their endpoints."""
    p, e = polls.c, poll_endpoints.c
    inside = (p.gateway_id == gateway_id, p.started_at >= lo, p.started_at < hi)
    fetches: dict[int, dict[str, Fetch]] = {}
    troubled: set[int] = set()
    query = (
        select(e.poll_id, e.endpoint, e.http_status, e.duration_ms, e.error, e.parse_failed)
        .join(polls, p.id == e.poll_id)
        .where(*inside)
    )
    # .all(): iterating a result fetches row by row, a third of the cost (measured).
    for poll_id, endpoint, status, duration, error, parse_failed in conn.execute(query).all():
        fetches.setdefault(poll_id, {})[endpoint] = Fetch(status, duration)
        if error is not None or parse_failed:
            troubled.add(poll_id)
    raw = select(raw_bodies.c.poll_id).join(polls, p.id == raw_bodies.c.poll_id).where(*inside)
    troubled.update(conn.execute(raw).scalars())
    listed = (
        select(p.id, p.started_at, p.finished_at, p.status, p.samples)
        .where(*inside)
        .order_by(p.started_at)
    )
    return [
        LoggedPoll(
            id=poll_id,
            started_at=started_at,
            finished_at=finished_at,
            foldable=status == "ok" and samples is None and poll_id not in troubled,
            fetches=fetches.get(poll_id, {}),
        )
        for poll_id, started_at, finished_at, status, samples in conn.execute(listed).all()
    ]


def write_run(
    conn: Connection,
    ids: Sequence[int],
    last_started_at: datetime,
    finished_at: datetime,
    endpoints: Sequence[RunEndpoint],
) -> None:
    """Fold the polls ``ids`` (successive) into the first one's row, with ``endpoints``;
    the last one started at ``last_started_at`` and finished at ``finished_at``."""
    kept = ids[0]
    for chunk in chunks(ids, 500):
        conn.execute(delete(poll_endpoints).where(poll_endpoints.c.poll_id.in_(chunk)))
    for chunk in chunks(ids[1:], 500):
        conn.execute(delete(polls).where(polls.c.id.in_(chunk)))
    conn.execute(
        update(polls)
        .where(polls.c.id == kept)
        .values(samples=len(ids), last_started_at=last_started_at, finished_at=finished_at)
    )
    rows = [
        {
            "poll_id": kept,
            "endpoint": e.endpoint,
            "http_status": e.http_status,
            "duration_ms": e.duration_ms,
            "samples": e.samples,
            "first_started_at": e.first_started_at,
            "last_started_at": e.last_started_at,
        }
        for e in endpoints
    ]
    if rows:
        conn.execute(insert(poll_endpoints), rows)
