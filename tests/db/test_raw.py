"""Raw bodies: kept compressed for a while (failed parses: until fixed), pruned, reparsed."""

from __future__ import annotations

import json
import zlib
from dataclasses import replace
from datetime import timedelta

import pytest
from db_queries import counts, rows
from factories import T0, at, endpoint, make_poll
from sqlalchemy import text

from envoylog.db import Store, StoreOptions, open_store, prune_raw_bodies, save_poll
from envoylog.errors import ParseError
from envoylog.parse.context import ParseContext
from envoylog.records import MeterReading, PollResult, Record
from envoylog.reparse import reparse

pytestmark = pytest.mark.usefixtures("backend")


def _bodies(store: Store) -> list[bytes]:
    with store.reading("q") as conn:
        found = conn.execute(text("SELECT body_zlib FROM raw_bodies ORDER BY endpoint")).all()
    return [zlib.decompress(bytes(b)) for (b,) in found]


def test_bodies_are_kept_compressed(store: Store) -> None:
    save_poll(store, make_poll())
    assert json.dumps({"endpoint": "device_data"}).encode() in _bodies(store)


def test_prune_deletes_expired_bodies_but_keeps_failed_parses(store: Store) -> None:
    poll = make_poll()
    bad = endpoint("production_json", (), T0, error="not JSON", body=b"<html>", parse_failed=True)
    save_poll(store, replace(poll, endpoints=(*poll.endpoints[:4], bad)))
    assert prune_raw_bodies(store, T0 + timedelta(days=2)) == 0
    assert prune_raw_bodies(store, T0 + timedelta(days=3, minutes=1)) == 4
    assert _bodies(store) == [b"<html>"]
    assert prune_raw_bodies(store, T0 + timedelta(days=3000)) == 0


def test_zero_days_keeps_only_failed_parses(db_url: str) -> None:
    with open_store(db_url, StoreOptions(raw_body_days=0)) as store:
        poll = make_poll()
        bad = endpoint("meters", (), T0, body=b"Error: 401", error="401", parse_failed=True)
        save_poll(store, replace(poll, endpoints=(poll.endpoints[3], bad)))
        assert _bodies(store) == [b"Error: 401"]


def _fake_meter_parser(body: bytes, context: ParseContext) -> tuple[Record, ...]:
    if body.startswith(b"<"):
        raise ParseError("meter_readings", "HTML instead of JSON")
    data = json.loads(body)
    return (MeterReading(data["eid"], 0, context.fetched_at, watts=data["w"], wh_delivered=1.0),)


def _readings_poll(minute: int, body: bytes, parse_failed: bool) -> PollResult:
    poll = make_poll(at(minute))
    result = endpoint(
        "meter_readings",
        (),
        at(minute),
        body=body,
        parse_failed=parse_failed,
        error="parse failed" if parse_failed else None,
    )
    return replace(poll, endpoints=(result,))


def test_reparse_rebuilds_rows_from_kept_bodies_idempotently(store: Store) -> None:
    body = json.dumps({"eid": 704643328, "w": 512.5}).encode()
    save_poll(store, _readings_poll(0, body, parse_failed=True))  # the old parser failed
    save_poll(store, _readings_poll(1, b"<html>", parse_failed=True))
    assert counts(store)["meter_readings"] == 0

    summary = reparse(store, None, {"meter_readings": _fake_meter_parser})
    assert summary.meter_readings == 1
    assert rows(store, "SELECT watts FROM meter_readings") == [(512.5,)]
    fixed = rows(store, "SELECT error, parse_failed FROM poll_endpoints ORDER BY poll_id")
    assert fixed == [(None, False), ("parse failed", True)]

    again = reparse(store, None, {"meter_readings": _fake_meter_parser})
    assert again.rows == 0 and counts(store)["meter_readings"] == 1


def test_reparse_since_skips_older_polls(store: Store) -> None:
    for minute in (0, 10):
        body = json.dumps({"eid": 704643328, "w": float(minute)}).encode()
        save_poll(store, _readings_poll(minute, body, parse_failed=False))
    summary = reparse(store, at(5), {"meter_readings": _fake_meter_parser})
    assert summary.meter_readings == 1
    assert rows(store, "SELECT watts FROM meter_readings") == [(10.0,)]
