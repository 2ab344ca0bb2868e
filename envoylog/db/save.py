"""``save_poll``: one poll (or a batch of spooled polls) in one transaction, idempotently."""

from __future__ import annotations

import dataclasses
import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert

from envoylog.db.devices import (
    Event,
    apply_poll,
    gateway_states,
    insert_events,
    save_gateways,
    save_meter_configs,
    snapshot,
)
from envoylog.db.models import poll_endpoints, polls, raw_bodies
from envoylog.db.readings import ReadingBatch, ReadingCounts, RecordGroup
from envoylog.db.store import GatewayState, StaleCache, Store, Txn, insert_new
from envoylog.errors import DatabaseUnavailable, StorageError
from envoylog.records import GatewayInfo, HomeInfo, MeterConfig, PollResult

log = logging.getLogger(__name__)


@dataclass(slots=True)
class SaveSummary(ReadingCounts):
    """Rows written per table (inverter_readings: inserted or gaps filled; batteries: inserted
    or updated); polls already stored."""

    gateways: int = 0
    polls: int = 0
    poll_endpoints: int = 0
    raw_bodies: int = 0
    gateway_events: int = 0
    skipped_polls: int = 0

    @property
    def rows(self) -> int:
        """Every row written, all tables together."""
        return sum(v for k, v in self.as_dict().items() if k != "skipped_polls")

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def add(self, other: ReadingCounts) -> None:
        for f in dataclasses.fields(other):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def save_poll(store: Store, poll: PollResult) -> SaveSummary:
    """Store one poll in one transaction; a poll already stored adds nothing."""
    return save_polls(store, [poll])


def save_polls(store: Store, batch: Sequence[PollResult]) -> SaveSummary:
    """Store several polls in one transaction (used to replay the spool quickly)."""
    if not batch:
        return SaveSummary()
    first = batch[0]
    doing = f"saving the poll of gateway {first.gateway.serial} at {first.started_at.isoformat()}"
    if len(batch) > 1:
        doing = f"saving {len(batch)} polls"
    txn: Txn | None = None
    try:
        with store.transaction(doing) as txn:
            return _save(txn, batch)
    except DatabaseUnavailable:
        raise
    except (StaleCache, StorageError) as exc:
        # Rows cached from earlier transactions may be gone or changed (another writer, a
        # schema rebuilt): the rollback dropped the caches, so try once more from fresh rows.
        if txn is None or not txn.cached:
            raise
        log.info("store_cache_stale error=%s, saving again from fresh rows", exc)
    with store.transaction(doing) as txn:
        return _save(txn, batch)


def _save(txn: Txn, batch: Sequence[PollResult]) -> SaveSummary:
    """Every statement here serves the whole batch, never one poll or gateway: the store
    worker shares the interpreter with the poll threads, and each round trip waits for
    them to hand the interpreter back (measured: a batch of 100 polls of 100 gateways on
    PostgreSQL beside four busy threads took 38 s with 305 statements, one INSERT polls,
    UPDATE gateways and INSERT meter_readings per gateway)."""
    summary = SaveSummary()
    by_serial: dict[str, list[PollResult]] = {}
    for poll in batch:
        by_serial.setdefault(poll.gateway.serial, []).append(poll)
    events: list[Event] = []
    stored: list[tuple[int, PollResult]] = []
    readings = ReadingBatch()
    groups = list(by_serial.values())
    for group in groups:
        group.sort(key=lambda p: p.started_at)
    states = []
    for state, group in zip(gateway_states(txn, [g[0] for g in groups]), groups, strict=True):
        summary.gateways += state.created
        states.append((state, snapshot(state), group))
    new_polls = _insert_polls(txn, [(state.id, group) for state, _, group in states])
    changed: list[tuple[GatewayState, dict[str, Any]]] = []
    configs: dict[int, list[tuple[datetime, bool, MeterConfig]]] = {}
    for state, before, group in states:
        mine = new_polls.get(state.id, [])
        summary.skipped_polls += len(group) - len(mine)
        mine_configs = configs.setdefault(state.id, [])
        for poll_id, poll in mine:
            # One pass over the records: readings to the batch, the rest kept here.
            info: tuple[datetime, GatewayInfo] | None = None
            home: HomeInfo | None = None
            poll_configs: list[tuple[datetime, MeterConfig]] = []
            for result in poll.endpoints:
                if not result.records:
                    continue
                group_ = RecordGroup(state.id, result.endpoint, result.fetched_at, result.records)
                for record in readings.add(group_):
                    if isinstance(record, MeterConfig):
                        poll_configs.append((result.fetched_at, record))
                    elif isinstance(record, GatewayInfo):
                        info = (result.fetched_at, record)
                    elif isinstance(record, HomeInfo):
                        home = record
            newest = apply_poll(state, poll, info, home, events)
            mine_configs.extend((at, newest, config) for at, config in poll_configs)
            stored.append((poll_id, poll))
        changed.append((state, before))
    summary.meters += save_meter_configs(txn, configs, events)
    save_gateways(txn, changed)
    summary.polls = len(stored)
    if not stored:
        return summary
    _insert_endpoints(txn, stored, summary)
    summary.add(readings.write(txn))
    summary.gateway_events += insert_events(txn, events)
    return summary


def _insert_polls(
    txn: Txn, groups: list[tuple[int, list[PollResult]]]
) -> dict[int, list[tuple[int, PollResult]]]:
    """Insert the polls not stored yet, every gateway's in one statement; return (id, poll)
    of those by gateway id, oldest first."""
    # (gateway id, started_at: the same instant in any zone) -> poll
    unique: dict[tuple[int, datetime], PollResult] = {}
    for gateway_id, group in groups:
        for poll in group:
            unique.setdefault((gateway_id, poll.started_at), poll)
    rows = [
        {
            "gateway_id": gateway_id,
            "started_at": started_at,
            "finished_at": poll.finished_at,
            "status": poll.status.value,
        }
        for (gateway_id, started_at), poll in unique.items()
    ]
    statement = insert_new(
        txn.dialect, polls, ("gateway_id", "started_at"), ("id", "gateway_id", "started_at")
    )
    found: dict[int, list[tuple[int, PollResult]]] = {}
    for poll_id, gateway_id, started_at in txn.conn.execute(statement, rows):
        poll = unique[(gateway_id, started_at)]
        found.setdefault(gateway_id, []).append((poll_id, poll))
    for mine in found.values():
        mine.sort(key=lambda item: item[1].started_at)
    return found


_ENDPOINT_INSERT = insert(poll_endpoints)
_BODY_INSERT = insert(raw_bodies)


def _insert_endpoints(txn: Txn, stored: list[tuple[int, PollResult]], summary: SaveSummary) -> None:
    options = txn.store.options
    keep_bodies = options.raw_body_days > 0
    lifetime = txn.store.raw_body_lifetime
    endpoint_rows: list[dict[str, Any]] = []
    body_rows: list[dict[str, Any]] = []
    for poll_id, poll in stored:
        seen: set[str] = set()
        for result in poll.endpoints:
            name = result.endpoint
            if name in seen:
                continue
            seen.add(name)
            failed = result.parse_failed
            endpoint_rows.append(
                {
                    "poll_id": poll_id,
                    "endpoint": name,
                    "http_status": result.http_status,
                    "duration_ms": result.duration_ms,
                    "error": result.error,
                    "parse_failed": failed,
                }
            )
            if result.body is None or not (failed or keep_bodies):
                continue
            body_rows.append(
                {
                    "poll_id": poll_id,
                    "endpoint": name,
                    "fetched_at": result.fetched_at,
                    "content_type": result.content_type,
                    "body_zlib": zlib.compress(result.body, options.zlib_level),
                    # A body no parser understood is kept until a fixed parser has read it.
                    "expires_at": None if failed else result.fetched_at + lifetime,
                }
            )
    summary.poll_endpoints += txn.written(_ENDPOINT_INSERT, endpoint_rows)
    summary.raw_bodies += txn.written(_BODY_INSERT, body_rows)
