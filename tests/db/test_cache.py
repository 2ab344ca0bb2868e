"""The Store's row caches: no SELECT per poll, and never a wrong row when they are stale."""

from __future__ import annotations

from typing import Any

import pytest
from db_queries import counts, rows
from factories import EIDS, at, make_poll, meter_configs
from sqlalchemy import delete, event

from envoylog.db import Store, open_store, save_poll
from envoylog.db.models import gateways
from envoylog.records import MeterConfig

pytestmark = pytest.mark.usefixtures("backend")


def _statements(store: Store) -> list[str]:
    """Record the first word of every statement sent to the database from now on."""
    seen: list[str] = []

    def spy(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement.split()[0])

    event.listen(store.engine, "before_cursor_execute", spy)
    return seen


def test_a_known_gateway_is_saved_without_any_select(store: Store) -> None:
    save_poll(store, make_poll(at(0)))
    seen = _statements(store)
    save_poll(store, make_poll(at(1)))
    assert "INSERT" in seen and "SELECT" not in seen
    assert counts(store)["polls"] == 2


def test_another_writer_of_the_same_gateway_is_noticed(db_url: str) -> None:
    with open_store(db_url) as first, open_store(db_url) as second:
        save_poll(first, make_poll(at(0), firmware="7.6.175"))
        save_poll(second, make_poll(at(1), firmware="8.2.4345"))
        # first's cached row still says 7.6.175: without a check it would log a change again.
        save_poll(first, make_poll(at(2), firmware="8.2.4345"))
        events = rows(first, "SELECT detail FROM gateway_events ORDER BY at")
        assert events == [("first seen: 7.6.175",), ("from 7.6.175 to 8.2.4345",)]
        assert counts(first)["polls"] == 3


def test_a_meter_created_by_another_writer_is_reused(db_url: str) -> None:
    extra = MeterConfig(EIDS["production"] + 1, "storage", "enabled", "three", 3, "normal", ())
    with open_store(db_url) as first, open_store(db_url) as second:
        save_poll(first, make_poll(at(0)))
        save_poll(second, make_poll(at(1), meters=(*meter_configs(), extra)))
        save_poll(first, make_poll(at(2), meters=(*meter_configs(), extra)))
        assert counts(first)["meters"] == 4


def test_a_gateway_deleted_behind_the_caches_back_is_created_again(store: Store) -> None:
    save_poll(store, make_poll(at(0)))
    with store.transaction("deleting the gateway behind the cache's back") as txn:
        txn.conn.execute(delete(gateways))
    save_poll(store, make_poll(at(1)))  # the cached gateway row is gone: read afresh
    assert counts(store)["gateways"] == 1 and counts(store)["inverters"] == 36
