"""`envoylog now`: what each gateway is doing, from the database: power, today so far, last poll.

Power is each flow's latest reading (db.power: one series per flow, never spliced);
today's energy is the local day so far, computed from the counters as the rollup
would, without storing it; the battery's state of charge comes from the battery
tables where a database has them (db.battery).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from envoylog.db import Store
from envoylog.db.battery import battery_now
from envoylog.db.energy import last_poll_start, select_gateways
from envoylog.db.power import PowerFlow, latest
from envoylog.energy.rollup import day_so_far, gateway_zone
from envoylog.energy.tables import WH_COLUMNS

# A reading older than this is no longer "now": shown with its age, not as current power.
RECENT = timedelta(minutes=15)
TODAY = tuple(WH_COLUMNS.values())  # production_wh, consumption_wh, ... battery_discharge_wh


@dataclass(frozen=True, slots=True)
class Power:
    watts: float
    at: datetime
    source: str


@dataclass(frozen=True, slots=True)
class GatewayNow:
    """One gateway's state as the database knows it."""

    serial: str
    name: str
    timezone: str
    last_poll_at: datetime | None
    power: Mapping[str, Power]  # production, consumption, net (+ import), storage (+ discharge)
    soc_pct: float | None
    day: date
    today_wh: Mapping[str, float | None]

    def age_s(self, now: datetime) -> float | None:
        return None if self.last_poll_at is None else (now - self.last_poll_at).total_seconds()


def current(
    store: Store,
    now: datetime,
    *,
    gateways: Sequence[str] = (),
    timezone_override: Mapping[str, str] | None = None,
) -> list[GatewayNow]:
    """Every (or each named) gateway's power now, energy today so far and last poll."""
    found = []
    for row in select_gateways(store, gateways):
        zone = gateway_zone(row, timezone_override)
        with store.reading("reading the latest power") as conn:
            power = latest(conn, row.id, now - RECENT)
            battery = battery_now(conn, row.id)
        today = day_so_far(store, row, now, timezone_override) or {}
        found.append(
            GatewayNow(
                serial=row.serial,
                name=row.name or row.serial,
                timezone=zone,
                last_poll_at=last_poll_start(store, row.serial, now + timedelta(seconds=1)),
                power={
                    flow.value: Power(s.points[-1][1], s.points[-1][0], s.source)
                    for flow, s in power.items()
                },
                soc_pct=None if battery is None or battery[0] < now - RECENT else battery[1],
                day=now.astimezone(ZoneInfo(zone)).date(),
                today_wh={k: today.get(k) for k in TODAY},
            )
        )
    return found


def _watts(value: float) -> str:
    return f"{value:,.0f} W"


def _kwh(value: float | None) -> str:
    return "-" if value is None else f"{value / 1000:,.2f} kWh"


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.0f} h ago"


def render(items: Sequence[GatewayNow], now: datetime) -> str:
    """A screen for a person: a block per gateway."""
    if not items:
        return "No gateway logged yet."
    lines = []
    for g in items:
        zone = ZoneInfo(g.timezone)
        last = "" if g.last_poll_at is None else f" ({g.last_poll_at.astimezone(zone):%H:%M:%S %Z})"
        lines.append(f"{g.name} ({g.serial}, {g.timezone})  last poll {_ago(g.age_s(now))}{last}")
        p = g.power
        parts = []
        if PowerFlow.PRODUCTION in p:
            parts.append(f"production {_watts(max(p[PowerFlow.PRODUCTION].watts, 0.0))}")
        if PowerFlow.CONSUMPTION in p:
            parts.append(f"consumption {_watts(p[PowerFlow.CONSUMPTION].watts)}")
        if PowerFlow.NET in p:
            net = p[PowerFlow.NET].watts
            parts.append(f"grid {_watts(abs(net))} {'importing' if net >= 0 else 'exporting'}")
        if PowerFlow.STORAGE in p or g.soc_pct is not None:
            text = "battery"
            if PowerFlow.STORAGE in p:
                w = p[PowerFlow.STORAGE].watts
                text += f" {_watts(abs(w))} {'discharging' if w >= 0 else 'charging'}"
            if g.soc_pct is not None:
                text += f" {g.soc_pct:.0f} %"
            parts.append(text)
        lines.append("  power now     " + ("   ".join(parts) if parts else "no recent reading"))
        t = g.today_wh
        today = [
            f"{label} {_kwh(t[key])}"
            for key, label in (
                ("production_wh", "production"),
                ("consumption_wh", "consumption"),
                ("import_wh", "import"),
                ("export_wh", "export"),
                ("battery_charge_wh", "battery charge"),
                ("battery_discharge_wh", "battery discharge"),
            )
            if t[key] is not None
        ]
        lines.append(f"  today {g.day}  " + ("   ".join(today) if today else "nothing logged yet"))
    return "\n".join(lines)


def as_json(items: Sequence[GatewayNow], now: datetime) -> list[dict[str, Any]]:
    """The same for machines: instants in ISO 8601 UTC, power in W, energy in Wh."""
    return [
        {
            "serial": g.serial,
            "name": g.name,
            "timezone": g.timezone,
            "last_poll_at": None if g.last_poll_at is None else g.last_poll_at.isoformat(),
            "last_poll_age_s": g.age_s(now),
            "power_w": {k: v.watts for k, v in g.power.items()},
            "power_at": {k: v.at.isoformat() for k, v in g.power.items()},
            "battery_soc_pct": g.soc_pct,
            "day": g.day.isoformat(),
            "today_wh": dict(g.today_wh),
        }
        for g in items
    ]
