"""Runs of polls: a compacted day's poll log folded into rows that say what they stand for.

A poll row with ``samples`` set stands for that many successive polls of its gateway,
from ``started_at`` (the first's start) to ``last_started_at`` (the last's start);
its ``finished_at`` is the last's end. Each of its ``poll_endpoints`` rows stands for
the ``samples`` polls of the run that fetched that endpoint, the first of them started
at ``first_started_at`` and the last at ``last_started_at``. NULL everywhere: a poll as
polled, as every row was before this revision (envoylog.history.poll_runs folds them).

Downgrading puts a run's polls back as rows of their own, spread evenly over the run's
span (their own instants inside it are not kept), and each endpoint's rows evenly over
its span: no poll or endpoint fetch is lost, and gaps between polls read as before,
since inside a run no two polls were more than the run's bound apart.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

from envoylog.db.types import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSTANT = sa.DateTime(timezone=True)
POLL_COLUMNS = ("samples", "last_started_at")
ENDPOINT_COLUMNS = ("samples", "first_started_at", "last_started_at")

# The tables as this revision sees them (frozen here: a migration must not follow the code).
_polls = sa.table(
    "polls",
    sa.column("id", sa.BigInteger()),
    sa.column("gateway_id", sa.Integer()),
    sa.column("started_at", UTCDateTime()),
    sa.column("finished_at", UTCDateTime()),
    sa.column("status", sa.String()),
    sa.column("samples", sa.Integer()),
    sa.column("last_started_at", UTCDateTime()),
)
_endpoints = sa.table(
    "poll_endpoints",
    sa.column("poll_id", sa.BigInteger()),
    sa.column("endpoint", sa.String()),
    sa.column("http_status", sa.SmallInteger()),
    sa.column("duration_ms", sa.Integer()),
    sa.column("error", sa.Text()),
    sa.column("parse_failed", sa.Boolean()),
    sa.column("samples", sa.Integer()),
    sa.column("first_started_at", UTCDateTime()),
    sa.column("last_started_at", UTCDateTime()),
)


def upgrade() -> None:
    # Nullable: added in place on SQLite and without a rewrite on PostgreSQL.
    op.add_column("polls", sa.Column("samples", sa.Integer(), nullable=True))
    op.add_column("polls", sa.Column("last_started_at", INSTANT, nullable=True))
    op.add_column("poll_endpoints", sa.Column("samples", sa.Integer(), nullable=True))
    op.add_column("poll_endpoints", sa.Column("first_started_at", INSTANT, nullable=True))
    op.add_column("poll_endpoints", sa.Column("last_started_at", INSTANT, nullable=True))


def downgrade() -> None:
    conn = op.get_bind()
    runs = conn.execute(
        sa.select(
            _polls.c.id,
            _polls.c.gateway_id,
            _polls.c.started_at,
            _polls.c.finished_at,
            _polls.c.status,
            _polls.c.samples,
            _polls.c.last_started_at,
        ).where(_polls.c.samples.is_not(None))
    ).all()
    for run in runs:
        _spread(conn, run)
    for column in ENDPOINT_COLUMNS:
        # In place on SQLite too (3.35+).
        op.drop_column("poll_endpoints", column)
    for column in POLL_COLUMNS:
        op.drop_column("polls", column)


def _spread(conn: Connection, run: Any) -> None:
    """Put the run's polls back as rows, evenly over its span, with their endpoints."""
    count = int(run.samples)
    first, last = run.started_at, run.last_started_at or run.started_at
    took = run.finished_at - last  # the last poll's duration, given to each
    starts = _even(first, last, count)
    conn.execute(
        sa.update(_polls)
        .where(_polls.c.id == run.id)
        .values(finished_at=first + took, samples=None, last_started_at=None)
    )
    added = [
        {"gateway_id": run.gateway_id, "started_at": at, "finished_at": at + took}
        for at in starts[1:]
    ]
    if added:
        conn.execute(sa.insert(_polls).values(status=run.status), added)
    ids = [
        row.id
        for row in conn.execute(
            sa.select(_polls.c.id)
            .where(_polls.c.gateway_id == run.gateway_id)
            .where(_polls.c.started_at >= first, _polls.c.started_at <= last)
            .order_by(_polls.c.started_at)
        )
    ]
    endpoints = conn.execute(sa.select(_endpoints).where(_endpoints.c.poll_id == run.id)).all()
    conn.execute(sa.delete(_endpoints).where(_endpoints.c.poll_id == run.id))
    rows = []
    for e in endpoints:
        fetched = int(e.samples or 1)
        lo, hi = e.first_started_at or first, e.last_started_at or first
        for index in _nearest(starts, _even(lo, hi, fetched)):
            rows.append(
                {
                    "poll_id": ids[index],
                    "endpoint": e.endpoint,
                    "http_status": e.http_status,
                    "duration_ms": e.duration_ms,
                    "error": e.error,
                    "parse_failed": e.parse_failed,
                }
            )
    if rows:
        conn.execute(sa.insert(_endpoints), rows)


def _even(first: datetime, last: datetime, count: int) -> list[datetime]:
    """``count`` instants from ``first`` to ``last``, evenly spaced (whole microseconds)."""
    if count == 1:
        return [first]
    span = last - first
    return [first + timedelta(microseconds=span // timedelta(microseconds=1) * i // (count - 1))
            for i in range(count)]  # fmt: skip


def _nearest(starts: list[datetime], wanted: list[datetime]) -> list[int]:
    """For each wanted instant (in order), the index of the nearest of ``starts`` not taken
    by an earlier one and leaving room for the later ones."""
    found: list[int] = []
    for n, at in enumerate(wanted):
        # starts are in order: the nearest is the first at or after ``at``, or the one before.
        best = bisect.bisect_left(starts, at)
        if best == len(starts) or (best and at - starts[best - 1] <= starts[best] - at):
            best -= 1
        low = found[-1] + 1 if found else 0
        high = len(starts) - (len(wanted) - n)
        found.append(min(max(best, low), high))
    return found
