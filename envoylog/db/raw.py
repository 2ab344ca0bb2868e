"""Raw response bodies: pruning the expired ones, and rebuilding rows from them (reparse)."""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update

from envoylog.db.models import gateways, poll_endpoints, polls, raw_bodies
from envoylog.db.readings import RecordGroup, write_readings
from envoylog.db.save import SaveSummary
from envoylog.db.store import Store, Txn
from envoylog.errors import EnvoylogError
from envoylog.records import GatewayInfo, MeterConfig, Record

if TYPE_CHECKING:
    from envoylog.parse.context import ParseContext

log = logging.getLogger(__name__)

Parser = Callable[[bytes, "ParseContext"], Sequence[Record]]

# Parsed first so the others get their facts in the ParseContext.
_CONTEXT_ENDPOINTS = ("info", "meters")
_BATCH_POLLS = 200


def default_parsers() -> dict[str, Parser]:
    """The parsers of the endpoint registry (imported only when needed)."""
    from envoylog.endpoints import BY_NAME

    return {name: endpoint.parser for name, endpoint in BY_NAME.items()}


def prune_raw_bodies(store: Store, now: datetime) -> int:
    """Delete raw bodies whose keeping time has passed; return how many."""
    with store.transaction("pruning raw bodies") as txn:
        result = txn.conn.execute(delete(raw_bodies).where(raw_bodies.c.expires_at < now))
        return int(result.rowcount)


def reparse(
    store: Store, since: datetime | None, parsers: Mapping[str, Parser] | None = None
) -> SaveSummary:
    """Rebuild readings from the kept raw bodies with the current parsers, idempotently.

    Rows already stored stay; rows a parser now finds are added. A body that failed to
    parse before and parses now gets its endpoint's error cleared and an expiry.
    """
    parsers = default_parsers() if parsers is None else parsers
    summary = SaveSummary()
    after_poll = 0
    while True:
        with store.transaction("reparsing raw bodies") as txn:
            rows = _load(txn, since, after_poll)
            if not rows:
                return summary
            by_poll: dict[int, list[Any]] = {}
            for row in rows:
                by_poll.setdefault(row.poll_id, []).append(row)
            groups: list[RecordGroup] = []
            for poll_rows in by_poll.values():
                groups.extend(_parse_poll(txn, poll_rows, parsers))
            summary.add(write_readings(txn, groups))
            after_poll = max(by_poll)


def _load(txn: Txn, since: datetime | None, after_poll: int) -> list[Any]:
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


def _parse_poll(txn: Txn, rows: list[Any], parsers: Mapping[str, Parser]) -> list[RecordGroup]:
    from envoylog.parse.context import ParseContext

    rows.sort(key=lambda r: (r.endpoint not in _CONTEXT_ENDPOINTS, r.endpoint))
    firmware: str | None = rows[0].firmware
    meters: tuple[MeterConfig, ...] | None = None
    groups: list[RecordGroup] = []
    for row in rows:
        parser = parsers.get(row.endpoint)
        if parser is None:
            continue
        context = ParseContext(fetched_at=row.fetched_at, meters=meters, firmware=firmware)
        try:
            records = tuple(parser(zlib.decompress(row.body_zlib), context))
        except (EnvoylogError, ValueError, KeyError, TypeError) as exc:
            log.info(
                "reparse poll_id=%s endpoint=%s still fails: %s", row.poll_id, row.endpoint, exc
            )
            continue
        if row.endpoint == "meters":
            meters = tuple(r for r in records if isinstance(r, MeterConfig))
        for record in records:
            if isinstance(record, GatewayInfo):
                firmware = record.firmware
        if row.expires_at is None:
            _mark_parsed(txn, row)
        groups.append(RecordGroup(row.gateway_id, row.endpoint, row.fetched_at, records))
    return groups


def _mark_parsed(txn: Txn, row: Any) -> None:
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
