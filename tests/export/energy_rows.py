"""Small builders of energy table rows, written through SQLAlchemy Core (no rollup needed)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from envoylog.db import Store
from envoylog.db.models import (
    EnergyDaily,
    EnergyHourly,
    EnergyMonthly,
    InverterDaily,
    gateways,
    inverters,
)

SEEN = datetime(2024, 1, 1, tzinfo=UTC)
COMPUTED = datetime(2025, 1, 1, tzinfo=UTC)


def add_gateway(
    store: Store, serial: str, name: str | None = None, timezone: str | None = "Europe/Berlin"
) -> int:
    """Insert a gateway; return its id."""
    row = {"serial": serial, "name": name, "host": f"envoy-{serial}.local", "timezone": timezone}
    with store.transaction("adding a test gateway") as txn:
        result = txn.conn.execute(
            insert(gateways).returning(gateways.c.id),
            [{**row, "first_seen_at": SEEN, "last_seen_at": SEEN}],
        )
        return int(result.scalar_one())


def energy(**values: Any) -> dict[str, Any]:
    """One gateway energy period: every flow NULL unless given; full coverage, no corrections."""
    row: dict[str, Any] = {
        "production_wh": None,
        "consumption_wh": None,
        "import_wh": None,
        "export_wh": None,
        "net_grid_wh": None,
        "battery_charge_wh": None,
        "battery_discharge_wh": None,
        "self_consumption_wh": None,
        "self_sufficiency": None,
        "peak_production_w": None,
        "coverage": 1.0,
        "estimated_wh": 0.0,
        "corrections": 0,
        "production_source": None,
        "consumption_source": None,
        "grid_source": None,
        "battery_source": None,
        "soc_min_pct": None,
        "soc_max_pct": None,
        "soc_end_pct": None,
        "computed_at": COMPUTED,
    }
    row.update(values)
    return row


def add_daily(store: Store, gateway_id: int, day: date, **values: Any) -> None:
    insert_rows(store, "daily", [{"gateway_id": gateway_id, "day": day, **energy(**values)}])


def add_monthly(store: Store, gateway_id: int, month: date, **values: Any) -> None:
    insert_rows(store, "monthly", [{"gateway_id": gateway_id, "month": month, **energy(**values)}])


def add_inverter(store: Store, gateway_id: int, serial: str) -> int:
    """Insert a microinverter; return its id."""
    row = {"gateway_id": gateway_id, "serial": serial, "device_type": "pcu", "active": True}
    with store.transaction("adding a test inverter") as txn:
        result = txn.conn.execute(
            insert(inverters).returning(inverters.c.id),
            [{**row, "first_seen_at": SEEN, "last_seen_at": SEEN}],
        )
        return int(result.scalar_one())


def inverter_day(inverter_id: int, day: date, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "inverter_id": inverter_id,
        "day": day,
        "wh": None,
        "peak_w": None,
        "coverage": 1.0,
        "source": "lifetime",
        "corrections": 0,
        "computed_at": COMPUTED,
    }
    row.update(values)
    return row


def add_inverter_daily(store: Store, inverter_id: int, day: date, **values: Any) -> None:
    insert_rows(store, "inverters", [inverter_day(inverter_id, day, **values)])


TABLES: dict[str, Any] = {
    "hourly": EnergyHourly.__table__,
    "daily": EnergyDaily.__table__,
    "monthly": EnergyMonthly.__table__,
    "inverters": InverterDaily.__table__,
}


def insert_rows(store: Store, table: str, rows: Iterable[dict[str, Any]]) -> None:
    """Insert many rows of one energy table in one transaction."""
    batch = list(rows)
    if batch:
        with store.transaction(f"adding test {table} energy") as txn:
            txn.conn.execute(insert(TABLES[table]), batch)


def days(first: date, count: int) -> list[date]:
    return [first + timedelta(days=i) for i in range(count)]


HOUSE = "122233445566"
BARN = "202400000001"


def tiny_site(store: Store) -> dict[str, int]:
    """Two gateways, three days: full figures, missing ones, a battery, the Berlin DST day."""
    house = add_gateway(store, HOUSE, "house", "Europe/Berlin")
    barn = add_gateway(store, BARN, None, "America/New_York")
    add_daily(
        store,
        house,
        date(2024, 3, 30),
        production_wh=21456.7,
        consumption_wh=15000.0,
        import_wh=4000.0,
        export_wh=10456.7,
        net_grid_wh=-6456.7,
        self_consumption_wh=11000.0,
        self_sufficiency=11000.0 / 15000.0,
        peak_production_w=4523.4,
        production_source="production-ct-delivered",
        consumption_source="total-ct-delivered",
        grid_source="net-ct",
    )
    add_daily(
        store,
        house,
        date(2024, 3, 31),  # 23 hours long in Berlin
        production_wh=18000.0,
        coverage=22.0 / 23.0,
        estimated_wh=120.5,
        corrections=1,
        production_source="eim-production",
    )
    add_daily(
        store,
        barn,
        date(2024, 3, 30),
        production_wh=5000.0,
        battery_charge_wh=1200.0,
        battery_discharge_wh=800.0,
        battery_source="storage-ct",
        soc_min_pct=12.0,
        soc_max_pct=96.46,
        soc_end_pct=80.0,
    )
    return {"house": house, "barn": barn}
