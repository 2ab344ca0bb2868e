"""CT meter payloads: ``/ivp/meters``, ``/ivp/meters/readings`` and production.json ``eim``.

All sums are taken over values already rounded to what the gateway prints, so a
payload's aggregate is exactly the sum of its phases, as a parser test expects.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from envoylog.simulator.site import Ct, CtPhase, Site

METER_EID_BASE = 704643328
CHANNEL_EID_BASE = 1778385169
EID_STEP = 256
METER_CHANNELS = 3  # /ivp/meters/readings always lists three channels
# Slot of each measurement in the gateway's meter numbering (EIM1, EIM2, ...).
METER_SLOTS = {"production": 0, "net-consumption": 1, "total-consumption": 1, "storage": 2}


def r3(value: float) -> float:
    """Round as the gateway prints (3 decimals), without a negative zero."""
    return round(value, 3) + 0.0


@dataclass(frozen=True, slots=True)
class Channel:
    """One CT channel (or a derived flow) with every value rounded as printed."""

    watts: float = 0.0
    va: float = 0.0
    var: float = 0.0
    power_factor: float = 0.0
    voltage_v: float = 0.0
    current_a: float = 0.0
    wh_delivered: float = 0.0
    wh_received: float = 0.0
    wh_lifetime: float = 0.0  # what production.json shows as whLifetime
    varh_lead: float = 0.0
    varh_lag: float = 0.0
    vah: float = 0.0
    wh_today: float = 0.0
    wh_last_seven_days: float = 0.0


ZERO = Channel()


def _electrical(watts: float, var: float, voltage: float, **counters: float) -> Channel:
    va = math.hypot(watts, var)
    return Channel(
        watts=r3(watts),
        va=r3(va),
        var=r3(var),
        power_factor=r3(watts / va) if va else 0.0,
        voltage_v=r3(voltage),
        current_a=r3(va / voltage) if voltage else 0.0,
        **{name: r3(value) for name, value in counters.items()},
    )


def channel_of(phase: CtPhase, measurement: str) -> Channel:
    """Turn one CT phase into the values the gateway prints for it."""
    va = abs(phase.watts) / phase.power_factor if phase.power_factor else abs(phase.watts)
    var = math.sqrt(max(va * va - phase.watts * phase.watts, 0.0))
    balance = measurement == "net-consumption"
    return _electrical(
        phase.watts,
        var if phase.lagging else -var,
        phase.voltage_v,
        wh_delivered=phase.wh_delivered,
        wh_received=phase.wh_received,
        # A net CT's production.json lifetime is the signed balance import - export.
        wh_lifetime=phase.wh_delivered - phase.wh_received if balance else phase.wh_delivered,
        varh_lead=phase.varh_lead,
        varh_lag=phase.varh_lag,
        vah=phase.vah,
        wh_today=phase.wh_today,
        wh_last_seven_days=phase.wh_last_seven_days,
    )


def combine(a: Channel, b: Channel, sign: int) -> Channel:
    """Derive a flow the gateway computes: a + b (total) or a - b (net from total)."""
    return _electrical(
        a.watts + sign * b.watts,
        a.var + sign * b.var,
        a.voltage_v,
        wh_lifetime=a.wh_lifetime + sign * b.wh_lifetime,
        varh_lead=a.varh_lead + sign * b.varh_lead,
        varh_lag=a.varh_lag + sign * b.varh_lag,
        vah=a.vah + sign * b.vah,
        wh_today=a.wh_today + sign * b.wh_today,
        wh_last_seven_days=a.wh_last_seven_days + sign * b.wh_last_seven_days,
    )


def aggregate(channels: Iterable[Channel]) -> Channel:
    """Sum channels the way the gateway does, voltages included (~240 V split, ~690 V three)."""
    items = list(channels)
    totals = {f.name: r3(sum(getattr(c, f.name) for c in items)) for f in fields(Channel)}
    totals["power_factor"] = r3(totals["watts"] / totals["va"]) if totals["va"] else 0.0
    return Channel(**totals)


def ct_channels(site: Site, ct: Ct | None, measurement: str) -> tuple[Channel, ...]:
    """The used phases of a CT, or zero channels when it is not installed."""
    if ct is None:
        return (ZERO,) * site.phase_count
    return tuple(channel_of(phase, measurement) for phase in ct.phases)


def flows(site: Site) -> dict[str, tuple[Channel, ...]]:
    """Production, net and total consumption per phase, deriving the one not measured."""
    if site.production_ct is None:
        return {}
    production = ct_channels(site, site.production_ct, "production")
    result = {"production": production}
    if site.consumption_ct is None:
        return result
    measured = ct_channels(site, site.consumption_ct, site.consumption_kind)
    if site.consumption_kind == "net-consumption":
        result["net-consumption"] = measured
        result["total-consumption"] = tuple(
            combine(p, n, +1) for p, n in zip(production, measured, strict=True)
        )
    else:
        result["total-consumption"] = measured
        result["net-consumption"] = tuple(
            combine(t, p, -1) for t, p in zip(measured, production, strict=True)
        )
    return result


def _listed_meters(site: Site) -> list[tuple[str, Ct | None]]:
    meters: list[tuple[str, Ct | None]] = [
        ("production", site.production_ct),
        (site.consumption_kind, site.consumption_ct),
    ]
    if site.storage_ct is not None:
        meters.append(("storage", site.storage_ct))
    return meters


def render_meters(site: Site) -> list[dict[str, Any]]:
    """``/ivp/meters``: every CT slot; the ones without a CT are listed disabled."""
    meters = []
    for measurement, ct in _listed_meters(site):
        meter: dict[str, Any] = {
            "eid": METER_EID_BASE + EID_STEP * METER_SLOTS[measurement],
            "state": "enabled" if ct is not None else "disabled",
            "measurementType": measurement,
            "phaseMode": site.phase_mode,
            "phaseCount": site.phase_count,
            "meteringStatus": ct.metering_status if ct is not None else "normal",
        }
        if site.version >= (5,):
            meter["statusFlags"] = list(ct.status_flags) if ct is not None else []
        meters.append(meter)
    return meters


def _reading(eid: int, timestamp: int, channel: Channel, frequency_hz: float) -> dict[str, Any]:
    return {
        "eid": eid,
        "timestamp": timestamp,
        "actEnergyDlvd": channel.wh_delivered,
        "actEnergyRcvd": channel.wh_received,
        "apparentEnergy": channel.vah,
        "reactEnergyLagg": channel.varh_lag,
        "reactEnergyLead": channel.varh_lead,
        "instantaneousDemand": channel.watts,
        "activePower": channel.watts,
        "apparentPower": channel.va,
        "reactivePower": channel.var,
        "pwrFactor": channel.power_factor,
        "voltage": channel.voltage_v,
        "current": channel.current_a,
        "freq": frequency_hz,
    }


def render_meter_readings(site: Site) -> list[dict[str, Any]]:
    """``/ivp/meters/readings``: three channels per meter, zeros beyond phaseCount."""
    readings = []
    for measurement, ct in _listed_meters(site):
        slot = METER_SLOTS[measurement]
        used = ct_channels(site, ct, measurement) if ct is not None else ()
        # Disabled meters still appear, frozen at timestamp 0.
        timestamp = site.instant if ct is not None else 0
        frequency = r3(site.frequency_hz) if ct is not None else 0.0
        channels: Sequence[Channel] = (*used, *(ZERO,) * (METER_CHANNELS - len(used)))
        meter = _reading(METER_EID_BASE + EID_STEP * slot, timestamp, aggregate(used), frequency)
        meter["channels"] = [
            _reading(CHANNEL_EID_BASE + EID_STEP * slot + index, timestamp, channel, frequency)
            for index, channel in enumerate(channels)
        ]
        readings.append(meter)
    return readings


def _eim_values(channel: Channel, *, balance: bool) -> dict[str, Any]:
    lifetime = channel.wh_delivered or channel.wh_lifetime

    def share(counter: float) -> float:
        return r3(channel.wh_today * counter / lifetime) if lifetime else 0.0

    values: dict[str, Any] = {
        "wNow": channel.watts,
        "whLifetime": channel.wh_lifetime,
        "varhLeadLifetime": channel.varh_lead,
        "varhLagLifetime": channel.varh_lag,
        "vahLifetime": channel.vah,
        "rmsCurrent": channel.current_a,
        "rmsVoltage": channel.voltage_v,
        "reactPwr": channel.var,
        "apprntPwr": channel.va,
        "pwrFactor": round(channel.power_factor, 2) + 0.0,
    }
    if balance:  # the gateway keeps no daily figures for the net balance
        values |= dict.fromkeys(
            ("whToday", "whLastSevenDays", "vahToday", "varhLeadToday", "varhLagToday"), 0
        )
    else:
        values |= {
            "whToday": channel.wh_today,
            "whLastSevenDays": channel.wh_last_seven_days,
            "vahToday": share(channel.vah),
            "varhLeadToday": share(channel.varh_lead),
            "varhLagToday": share(channel.varh_lag),
        }
    return values


def _junk(site: Site) -> tuple[Channel, ...]:
    # An absent CT's entry is not zero on a real gateway: it reads induced noise.
    return tuple(Channel(voltage_v=r3(2.5 + 0.7 * index)) for index in range(site.phase_count))


def render_eim_entries(site: Site, *, lines: bool) -> dict[str, list[dict[str, Any]]]:
    """production.json ``eim`` entries for production and both consumption flows."""
    measured = flows(site)
    entries: dict[str, list[dict[str, Any]]] = {"production": [], "consumption": []}
    for measurement in ("production", "total-consumption", "net-consumption"):
        active = measurement in measured
        phases = measured[measurement] if active else _junk(site)
        active_count = 1 if active else 0
        balance = measurement == "net-consumption"
        entry: dict[str, Any] = {
            "type": "eim",
            "activeCount": active_count,
            "measurementType": measurement,
            "readingTime": site.instant,
            **_eim_values(aggregate(phases), balance=balance),
        }
        if lines:
            entry["lines"] = [_eim_values(phase, balance=balance) for phase in phases]
        section = "production" if measurement == "production" else "consumption"
        entries[section].append(entry)
    return entries
