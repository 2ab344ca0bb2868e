"""A gateway's energy rollup reads each kind of series in one query, whatever its number of
inverters: a query per inverter made a 5,000-gateway fleet's rollup round outlast its
interval (docs/performance.md, section 3d)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from factories import at, make_poll
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from envoylog.db import Store, save_polls
from envoylog.energy.rollup import rollup_recent, store_gateways


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """Every statement any engine sends while the test runs."""
    sent: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        sent.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(Engine, "before_cursor_execute", count)


def rolled_up(store: Store, inverters: int, statements: list[str]) -> int:
    """Queries one gateway's rollup sent; the gateway has ``inverters`` microinverters.
    (What it writes depends on the data: a counter event is one more insert.)"""
    serial = f"1222000000{inverters:02d}"
    polls = [make_poll(at(m), serial=serial, inverters=inverters) for m in range(0, 60, 5)]
    save_polls(store, polls)
    row = [g for g in store_gateways(store) if g.serial == serial]
    statements.clear()
    rollup_recent(store, at(60), days=1, since={serial: at(0)}, gateways=row)
    return sum(s.lstrip().upper().startswith("SELECT") for s in statements)


def inverter_days(store: Store, inverters: int) -> int:
    with store.reading("counting") as conn:
        query = text(
            "SELECT count(*) FROM inverter_daily d JOIN inverters i ON i.id = d.inverter_id "
            "JOIN gateways g ON g.id = i.gateway_id WHERE g.serial = :serial"
        )
        return int(conn.execute(query, {"serial": f"1222000000{inverters:02d}"}).scalar_one())


def test_a_gateways_rollup_costs_the_same_queries_for_two_inverters_or_thirty(
    store: Store, statements: list[str]
) -> None:
    few = rolled_up(store, 2, statements)
    many = rolled_up(store, 30, statements)
    assert few == many > 0
    assert (inverter_days(store, 2), inverter_days(store, 30)) == (2, 30)
