"""Queries the storage tests share."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from envoylog.db import Store

TABLES = (
    "gateways",
    "polls",
    "poll_endpoints",
    "raw_bodies",
    "system_readings",
    "phase_readings",
    "meters",
    "meter_readings",
    "inverters",
    "inverter_readings",
    "gateway_events",
    "batteries",
    "battery_readings",
    "battery_system_readings",
)


def counts(store: Store) -> dict[str, int]:
    """Rows per table."""
    with store.reading("counting rows") as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def rows(store: Store, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with store.reading("test query") as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def dump(store: Store, table: str, order: str) -> list[tuple[Any, ...]]:
    """A whole table in a stable order, for comparing two databases."""
    return rows(store, f"SELECT * FROM {table} ORDER BY {order}")
