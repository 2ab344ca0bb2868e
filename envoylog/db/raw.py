"""Raw response bodies: pruning the expired ones, and reading them back for envoylog.reparse."""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update

from envoylog.db.models import gateways, poll_endpoints, polls, raw_bodies
from envoylog.db.store import Store, Txn

log = logging.getLogger(__name__)

_BATCH_POLLS = 200
# Serials per pruning statement: far below SQLite's and PostgreSQL's bound parameters.
_BATCH_SERIALS = 500


def prune_raw_bodies(store: Store, now: datetime, *, serials: Collection[str] | None = None) -> int:
    """Delete raw bodies whose keeping time has passed, of the gateways with these
    ``serials`` (None: of every gateway); return how many."""
    expired = delete(raw_bodies).where(raw_bodies.c.expires_at < now)
    if serials is None:
        with store.transaction("pruning raw bodies") as txn:
            return int(txn.conn.execute(expired).rowcount)
    pruned = 0
    chosen = sorted(serials)
    for start in range(0, len(chosen), _BATCH_SERIALS):
        batch = chosen[start : start + _BATCH_SERIALS]
        of_batch = (
            select(polls.c.id)
            .join(gateways, gateways.c.id == polls.c.gateway_id)
            .where(gateways.c.serial.in_(batch))
        )
        with store.transaction("pruning raw bodies") as txn:
            result = txn.conn.execute(expired.where(raw_bodies.c.poll_id.in_(of_batch)))
            pruned += int(result.rowcount)
    return pruned


def load_raw_bodies(txn: Txn, since: datetime | None, after_poll: int) -> list[Any]:
    """The raw bodies of the next polls after `after_poll` (finished since `since`), by poll."""
    poll_ids = select(polls.c.id).where(polls.c.id > after_poll).order_by(polls.c.id)
    if since is not None:
        poll_ids = poll_ids.where(polls.c.finished_at >= since)
    poll_ids = poll_ids.where(polls.c.id.in_(select(raw_bodies.c.poll_id).distinct())).limit(
        _BATCH_POLLS
    )
    query = (
        select(
            raw_bodies.c.poll_id,
            raw_bodies.c.endpoint,
            raw_bodies.c.fetched_at,
            raw_bodies.c.body_zlib,
            raw_bodies.c.expires_at,
            polls.c.gateway_id,
            gateways.c.firmware,
        )
        .join(polls, polls.c.id == raw_bodies.c.poll_id)
        .join(gateways, gateways.c.id == polls.c.gateway_id)
        .where(raw_bodies.c.poll_id.in_(poll_ids.scalar_subquery()))
        .order_by(raw_bodies.c.poll_id)
    )
    return list(txn.conn.execute(query))


def mark_parsed(txn: Txn, row: Any) -> None:
    """Clear the parse error of a body that parses now, and give it its keeping time."""
    key = (poll_endpoints.c.poll_id == row.poll_id) & (poll_endpoints.c.endpoint == row.endpoint)
    txn.conn.execute(
        update(poll_endpoints)
        .where(key, poll_endpoints.c.parse_failed.is_(True))
        .values(error=None, parse_failed=False)
    )
    txn.conn.execute(
        update(raw_bodies)
        .where(raw_bodies.c.poll_id == row.poll_id, raw_bodies.c.endpoint == row.endpoint)
        .values(expires_at=row.fetched_at + txn.store.raw_body_lifetime)
    )
