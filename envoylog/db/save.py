"""``save_poll``: one poll (or a batch of spooled polls) in one transaction, idempotently."""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from envoylog.db.devices import (
    apply_poll,
    dialect_insert,
    gateway_state,
    insert_events,
    save_gateway,
    save_meter_configs,
    snapshot,
)
from envoylog.db.models import poll_endpoints, polls, raw_bodies
from envoylog.db.readings import ReadingCounts, RecordGroup, write_readings
from envoylog.db.store import Store, Txn
from envoylog.records import MeterConfig, PollResult


@dataclass(slots=True)
class SaveSummary:
    """Rows written per table (inverter_readings: inserted or gaps filled); polls already stored."""

    gateways: int = 0
    polls: int = 0
    poll_endpoints: int = 0
    raw_bodies: int = 0
    system_readings: int = 0
    phase_readings: int = 0
    meters: int = 0
    meter_readings: int = 0
    inverters: int = 0
    inverter_readings: int = 0
    gateway_events: int = 0
    skipped_polls: int = 0

    @property
    def rows(self) -> int:
        """Every row written, all tables together."""
        return sum(v for k, v in self.as_dict().items() if k != "skipped_polls")

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)

    def add(self, other: SaveSummary | ReadingCounts) -> None:
        for name, value in dataclasses.asdict(other).items():
            setattr(self, name, getattr(self, name) + value)


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
    with store.transaction(doing) as txn:
        return _save(txn, batch)


def _save(txn: Txn, batch: Sequence[PollResult]) -> SaveSummary:
    summary = SaveSummary()
    by_serial: dict[str, list[PollResult]] = {}
    for poll in batch:
        by_serial.setdefault(poll.gateway.serial, []).append(poll)
    events: list[dict[str, Any]] = []
    stored: list[tuple[int, int, PollResult]] = []
    for group in by_serial.values():
        group.sort(key=lambda p: p.started_at)
        state = gateway_state(txn, group[0])
        summary.gateways += state.created
        before = snapshot(state)
        new_polls = _insert_polls(txn, state.id, group)
        summary.skipped_polls += len(group) - len(new_polls)
        configs: list[tuple[datetime, bool, MeterConfig]] = []
        for poll_id, poll in new_polls:
            newest = apply_poll(state, poll, events)
            for result in poll.endpoints:
                configs.extend(
                    (result.fetched_at, newest, record)
                    for record in result.records
                    if isinstance(record, MeterConfig)
                )
            stored.append((state.id, poll_id, poll))
        save_gateway(txn, state, before)
        summary.meters += save_meter_configs(txn, state.id, configs, events)
    summary.polls = len(stored)
    if not stored:
        return summary
    _insert_endpoints(txn, stored, summary)
    groups = [
        RecordGroup(gateway_id, result.endpoint, result.fetched_at, result.records)
        for gateway_id, _, poll in stored
        for result in poll.endpoints
        if result.records
    ]
    summary.add(write_readings(txn, groups))
    summary.gateway_events += insert_events(txn, events)
    return summary


_POLL_INSERTS: dict[str, Any] = {}


def _insert_polls(
    txn: Txn, gateway_id: int, group: list[PollResult]
) -> list[tuple[int, PollResult]]:
    """Insert the polls not stored yet; return (id, poll) of those, oldest first."""
    statement = _POLL_INSERTS.get(txn.dialect)
    if statement is None:
        statement = _POLL_INSERTS[txn.dialect] = (
            dialect_insert(txn, polls)
            .on_conflict_do_nothing(index_elements=["gateway_id", "started_at"])
            .returning(polls.c.id, polls.c.started_at)
        )
    unique: dict[datetime, PollResult] = {}
    for poll in group:
        unique.setdefault(poll.started_at, poll)
    rows = [
        {
            "gateway_id": gateway_id,
            "started_at": poll.started_at,
            "finished_at": poll.finished_at,
            "status": poll.status.value,
        }
        for poll in unique.values()
    ]
    inserted = txn.conn.execute(statement, rows).all()
    return sorted(
        ((poll_id, unique[started_at]) for poll_id, started_at in inserted),
        key=lambda item: item[1].started_at,
    )


def _insert_endpoints(
    txn: Txn, stored: list[tuple[int, int, PollResult]], summary: SaveSummary
) -> None:
    options = txn.store.options
    lifetime = txn.store.raw_body_lifetime
    endpoint_rows: list[dict[str, Any]] = []
    body_rows: list[dict[str, Any]] = []
    for _, poll_id, poll in stored:
        seen: set[str] = set()
        for result in poll.endpoints:
            if result.endpoint in seen:
                continue
            seen.add(result.endpoint)
            endpoint_rows.append(
                {
                    "poll_id": poll_id,
                    "endpoint": result.endpoint,
                    "http_status": result.http_status,
                    "duration_ms": result.duration_ms,
                    "error": result.error,
                    "parse_failed": result.parse_failed,
                }
            )
            if result.body is None or not (result.parse_failed or options.raw_body_days > 0):
                continue
            body_rows.append(
                {
                    "poll_id": poll_id,
                    "endpoint": result.endpoint,
                    "fetched_at": result.fetched_at,
                    "content_type": result.content_type,
                    "body_zlib": zlib.compress(result.body, options.zlib_level),
                    # A body no parser understood is kept until a fixed parser has read it.
                    "expires_at": None if result.parse_failed else result.fetched_at + lifetime,
                }
            )
    if endpoint_rows:
        txn.conn.execute(poll_endpoints.insert(), endpoint_rows)
        summary.poll_endpoints += len(endpoint_rows)
    if body_rows:
        txn.conn.execute(raw_bodies.insert(), body_rows)
        summary.raw_bodies += len(body_rows)
