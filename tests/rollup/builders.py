"""Polls of a small site for rollup tests: CT or inverter-built counters at given instants."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text

from envoylog.db import Store, save_polls
from envoylog.records import (
    Battery,
    BatteryKind,
    BatteryReading,
    BatterySystemReading,
    EndpointResult,
    GatewayIdentity,
    GatewayInfo,
    HomeInfo,
    Measurement,
    MeterConfig,
    MeterReading,
    PollResult,
    ReadingFlag,
    Record,
    Source,
    SystemReading,
)

SERIAL = "122200000001"
PRODUCTION_EID, NET_EID = 704643328, 704643584
CT_METERS = (
    MeterConfig(PRODUCTION_EID, "production", "enabled", "single", 1, "normal"),
    MeterConfig(NET_EID, "net-consumption", "enabled", "single", 1, "normal"),
)


def _endpoint(name: str, records: tuple[Record, ...], at: datetime) -> EndpointResult:
    return EndpointResult(name, f"/{name}", at, 10, 200, None, records, b"{}", "application/json")


def poll(when: datetime, timezone: str, parts: dict[str, tuple[Record, ...]]) -> PollResult:
    base = {
        "info": (GatewayInfo(SERIAL, "8.2.4345", "800-00654-r08", True),),
        "home": (HomeInfo(timezone=timezone),),
    }
    endpoints = tuple(_endpoint(n, r, when) for n, r in {**base, **parts}.items())
    return PollResult(GatewayIdentity(SERIAL, "192.0.2.1", "roof"), when, when, endpoints)


def ct_poll(when: datetime, timezone: str, production: float, imported: float, exported: float,
            watts: float = 0.0) -> PollResult:  # fmt: skip
    """A poll of a site with a production CT and a net-consumption CT."""
    readings = (
        MeterReading(PRODUCTION_EID, 0, when, watts=watts, wh_delivered=production, wh_received=0),
        MeterReading(NET_EID, 0, when, watts=0.0, wh_delivered=imported, wh_received=exported),
    )
    return poll(when, timezone, {"meters": CT_METERS, "meter_readings": readings})


def inverters_poll(
    when: datetime,
    timezone: str,
    wh: float,
    watts: float = 0.0,
    flags: tuple[ReadingFlag, ...] = (),
    eim: float | None = None,
) -> PollResult:
    """A non-metered site: production.json's inverters entry (and an eim entry when given)."""
    records: list[Record] = [
        SystemReading(Source.INVERTERS, Measurement.PRODUCTION, when, watts, wh, 10)
    ]
    if eim is not None:
        records.append(
            SystemReading(Source.EIM, Measurement.PRODUCTION, when, watts, eim, 1, flags=flags)
        )
    return poll(when, timezone, {"production_json": tuple(records)})


BATTERIES = ("492320000140", "492320000148")
POWER_FLAGS = (ReadingFlag.SOC_FROM_POWER, ReadingFlag.NO_READING_TIME)


def battery_poll(
    when: datetime,
    timezone: str,
    soc_pct: float,
    watts: float = 0.0,
    *,
    aggregate: bool = True,
    capacity_wh: float = 5000.0,
) -> PollResult:
    """A poll of two IQ Batteries: each at ``watts`` (+ = discharging) and ``soc_pct`` now, and
    the gateway's aggregate (secctrl) unless ``aggregate`` is false."""
    inventory: list[Record] = []
    power: list[Record] = []
    for serial in BATTERIES:
        inventory.append(Battery(serial, BatteryKind.ENCHARGE, "836-01826-r76", capacity_wh))
        power.append(Battery(serial, BatteryKind.ENCHARGE))
        power.append(BatteryReading(serial, when, soc_pct, watts, watts, flags=POWER_FLAGS))
    parts: dict[str, tuple[Record, ...]] = {
        "ensemble_inventory": tuple(inventory),
        "ensemble_power": tuple(power),
    }
    if aggregate:
        system = BatterySystemReading(when, soc_pct, 2 * capacity_wh, flags=POWER_FLAGS[1:])
        parts["ensemble_secctrl"] = (system,)
    return poll(when, timezone, parts)


def merged(first: PollResult, second: PollResult) -> PollResult:
    """One poll with the endpoints of both (the second's /info and /home left out)."""
    extra = tuple(e for e in second.endpoints if e.endpoint not in ("info", "home"))
    return replace(first, endpoints=(*first.endpoints, *extra))


def every(start: datetime, end: datetime, step: timedelta) -> Iterator[datetime]:
    at = start
    while at <= end:
        yield at
        at += step


def log_ct(store: Store, zone: str, start: datetime, end: datetime, *, step_min: float = 10,
           production_w: float = 1000, import_w: float = 500, export_w: float = 200,
           skip: Callable[[datetime], bool] = lambda at: False) -> None:  # fmt: skip
    """Constant flows read every `step_min` minutes from start to end (except skipped instants)."""
    polls = []
    for at in every(start, end, timedelta(minutes=step_min)):
        if skip(at):
            continue
        hours = (at - start).total_seconds() / 3600
        polls.append(
            ct_poll(
                at,
                zone,
                5e6 + production_w * hours,
                2e6 + import_w * hours,
                1e6 + export_w * hours,
                production_w,
            )
        )
    save_polls(store, polls)


def table(
    store: Store, name: str, order: str, drop: tuple[str, ...] = ("computed_at",)
) -> list[dict[str, Any]]:
    with store.reading("test") as conn:
        rows = [
            dict(r._mapping) for r in conn.execute(text(f"SELECT * FROM {name} ORDER BY {order}"))
        ]
    return [{k: v for k, v in r.items() if k not in drop} for r in rows]


def daily(store: Store) -> dict[Any, dict[str, Any]]:
    return {str(r["day"]): r for r in table(store, "energy_daily", "day")}


def events(store: Store, kind: str = "counter-%") -> list[tuple[Any, ...]]:
    with store.reading("test") as conn:
        query = text(
            "SELECT at, kind, detail FROM gateway_events WHERE kind LIKE :k ORDER BY at, detail"
        )
        return [tuple(r) for r in conn.execute(query, {"k": kind})]
