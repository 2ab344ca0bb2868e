"""What exports read: the energy tables joined to their gateway, in one ordered query each."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import sqlalchemy as sa

from envoylog.db.engine import describe, parse_url, sqlite_path
from envoylog.db.models import (
    EnergyColumns,
    EnergyDaily,
    EnergyHourly,
    EnergyMonthly,
    Gateway,
    Inverter,
    InverterDaily,
)
from envoylog.db.store import Store, StoreOptions, open_store
from envoylog.errors import StorageError

Table = Literal["hourly", "daily", "monthly", "inverters"]

# The energy columns of the gateway tables, as the model declares them (keys and
# bookkeeping aside), so an export always carries every figure the schema has.
ENERGY_COLUMNS = tuple(name for name in EnergyColumns.__annotations__ if name != "computed_at")
INVERTER_COLUMNS = ("wh", "peak_w", "coverage", "source", "corrections")

# Rows fetched per round trip; the progress callback is told after each.
CHUNK_ROWS = 5000


@dataclass(frozen=True, slots=True)
class Rows:
    """Query result: column names and row tuples, in export order."""

    columns: tuple[str, ...]
    rows: Sequence[Sequence[Any]]


def open_existing(url: str, options: StoreOptions | None = None) -> Store:
    """Open a database for reading; a SQLite file that does not exist is an error, not created."""
    path = sqlite_path(parse_url(url))
    if path is not None and not path.exists():
        raise StorageError(f"no database at {path}: check --db, $ENVOYLOG_DB or the config file")
    return open_store(url, options)


def _query(
    table: Table, gateway_ids: Sequence[int] | None, start: date | None, end: date | None
) -> tuple[sa.Select[Any], sa.Select[Any]]:
    """The ordered row query and its count, filtered by gateway and inclusive local dates."""
    gateway_cols = (
        Gateway.name.label("gateway_name"),
        Gateway.serial.label("gateway_serial"),
        Gateway.timezone,
    )
    label = sa.func.coalesce(Gateway.name, Gateway.serial)
    period: Any
    head: tuple[Any, ...]
    order: tuple[Any, ...]
    if table == "inverters":
        period = InverterDaily.day
        values = [getattr(InverterDaily, c) for c in INVERTER_COLUMNS]
        source: Any = InverterDaily.__table__
        joined = source.join(Inverter, Inverter.id == InverterDaily.inverter_id).join(
            Gateway, Gateway.id == Inverter.gateway_id
        )
        head = (*gateway_cols, Inverter.serial.label("inverter_serial"), period)
        order = (label, Gateway.serial, period, Inverter.serial)
    elif table == "hourly":
        # Filtered by the local date its local start names, ordered by the instant.
        period = sa.func.substr(EnergyHourly.local_start, 1, 10)
        values = [getattr(EnergyHourly, c) for c in ENERGY_COLUMNS]
        joined = EnergyHourly.__table__.join(Gateway, Gateway.id == EnergyHourly.gateway_id)
        head = (*gateway_cols, EnergyHourly.local_start)
        order = (label, Gateway.serial, EnergyHourly.start_at)
    else:
        model: Any = EnergyDaily if table == "daily" else EnergyMonthly
        period = model.day if table == "daily" else model.month
        values = [getattr(model, c) for c in ENERGY_COLUMNS]
        joined = model.__table__.join(Gateway, Gateway.id == model.gateway_id)
        head = (*gateway_cols, period)
        order = (label, Gateway.serial, period)
    conditions: list[sa.ColumnElement[bool]] = []
    if gateway_ids is not None:
        conditions.append(Gateway.id.in_(gateway_ids))
    text = table == "hourly"  # its period is ISO text: compared as text
    if start is not None:
        # A month is exported when any of its days is in the range.
        first = start.replace(day=1) if table == "monthly" else start
        conditions.append(period >= (first.isoformat() if text else first))
    if end is not None:
        conditions.append(period <= (end.isoformat() if text else end))
    rows = sa.select(*head, *values).select_from(joined).where(*conditions).order_by(*order)
    count = sa.select(sa.func.count()).select_from(joined).where(*conditions)
    return rows, count


def fetch_rows(
    store: Store,
    table: Table,
    *,
    gateway_ids: Sequence[int] | None = None,
    start: date | None = None,
    end: date | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Rows:
    """Read one export's rows; ``progress(done, total)`` is called after each chunk when given."""
    rows_query, count_query = _query(table, gateway_ids, start, end)
    doing = f"reading {table} energy for an export"
    with store.reading(doing) as conn:
        if progress is None:
            result = conn.execute(rows_query)
            return Rows(tuple(result.keys()), result.all())
        total = int(conn.execute(count_query).scalar_one())
        result = conn.execution_options(stream_results=True, yield_per=CHUNK_ROWS).execute(
            rows_query
        )
        rows: list[Sequence[Any]] = []
        progress(0, total)
        for chunk in result.partitions():
            rows.extend(chunk)
            progress(len(rows), max(total, len(rows)))
        return Rows(tuple(result.keys()), rows)


def database_name(store: Store) -> str:
    """The database as messages name it (no password)."""
    return describe(store.engine.url)
