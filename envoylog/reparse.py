"""Rebuild readings from the kept raw bodies with today's parsers (`envoylog reparse`)."""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from envoylog.db import Store
from envoylog.db.raw import load_raw_bodies, mark_parsed
from envoylog.db.readings import RecordGroup, write_readings
from envoylog.db.save import SaveSummary
from envoylog.db.store import Txn
from envoylog.endpoints import BY_NAME
from envoylog.errors import EnvoylogError
from envoylog.parse.context import ParseContext
from envoylog.records import GatewayInfo, MeterConfig, Record

log = logging.getLogger(__name__)

Parser = Callable[[bytes, ParseContext], Sequence[Record]]

# Parsed first so the others get their facts in the ParseContext.
_CONTEXT_ENDPOINTS = ("info", "meters")


def default_parsers() -> dict[str, Parser]:
    """The parsers of the endpoint registry."""
    return {name: endpoint.parser for name, endpoint in BY_NAME.items()}


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
            rows = load_raw_bodies(txn, since, after_poll)
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


def _parse_poll(txn: Txn, rows: list[Any], parsers: Mapping[str, Parser]) -> list[RecordGroup]:
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
            mark_parsed(txn, row)
        groups.append(RecordGroup(row.gateway_id, row.endpoint, row.fetched_at, records))
    return groups
