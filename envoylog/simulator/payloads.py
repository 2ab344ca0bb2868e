"""Render every endpoint body of a simulated site, in the shape of its firmware generation.

``render_all(site)`` is a pure function of the site: the same site gives the same
bytes, so a simulator over time only has to produce a new ``Site`` per instant.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Literal
from zoneinfo import ZoneInfo

from envoylog.firmware import DEVICE_DATA_FIRMWARE, ENSEMBLE_FIRMWARE, TOKEN_FIRMWARE
from envoylog.simulator.batteries import (
    render_ensemble_inventory,
    render_ensemble_power,
    render_ensemble_secctrl,
    render_inventory,
)
from envoylog.simulator.device_data import render_device_data
from envoylog.simulator.meters import (
    aggregate,
    flows,
    render_eim_entries,
    render_meter_readings,
    render_meters,
)
from envoylog.simulator.site import Site

# Firmware generations (first version that behaves so).
LINES_ONLY_WITH_DETAILS = (7, 6)  # production.json has per-phase lines only with ?details=1
IMETER_FIRMWARE = (4,)  # older /info has no <imeter>
WH_PER_JOULE = 1 / 3600

Auth = Literal["bearer", "digest"]
_JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Payload:
    """One endpoint's response: status and body as an authorised client gets them."""

    body: bytes
    content_type: str
    auth: Auth | None = None  # what the gateway wants before it answers
    status: int = 200


def _json(value: Any, *, indent: int | None) -> bytes:
    separators = (",", ":") if indent is None else (",", ": ")
    return json.dumps(value, indent=indent, separators=separators).encode() + b"\n"


def _app_version(firmware: str) -> str:
    major, minor, *rest = (int(part) for part in firmware.split("."))
    return f"{major:02d}.{minor:02d}.{rest[0] if rest else 0:02d}"


def _build_id(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:6]


def render_info(site: Site) -> str:
    """``/info``: the gateway's identity as XML."""
    imeter = ""
    if site.version >= IMETER_FIRMWARE:
        imeter = f"\n    <imeter>{'true' if site.metered else 'false'}</imeter>"
    tokens = "\n  <web-tokens>true</web-tokens>" if site.version >= TOKEN_FIRMWARE else ""
    packages = (
        ("app", "500-00002-r01", _app_version(site.firmware)),
        ("devimg", "500-00005-r01", "01.02.371"),
        ("meter", "500-00013-r01", "03.02.08"),
    )
    package_xml = "".join(
        f"\n  <package name='{name}'>\n    <pn>{pn}</pn>\n    <version>{version}</version>"
        f"\n    <build>{_build_id(name + version)}</build>\n  </package>"
        for name, pn, version in packages
    )
    return (
        "<?xml version='1.0' encoding='UTF-8'?>\n<envoy_info>\n"
        f"  <time>{site.instant}</time>\n  <device>\n"
        f"    <sn>{site.serial}</sn>\n    <pn>{site.part_number}</pn>\n"
        f"    <software>D{site.firmware}</software>\n    <euaid>4c8675</euaid>\n"
        f"    <seqnum>0</seqnum>\n    <apiver>1</apiver>{imeter}\n  </device>"
        f"{tokens}{package_xml}\n</envoy_info>\n"
    )


def render_home(site: Site) -> dict[str, Any]:
    """``/home``: timezone, local clock and communication counts."""
    local = datetime.fromtimestamp(site.instant, ZoneInfo(site.timezone))
    mac_tail = ":".join(site.serial[-6:][i : i + 2] for i in range(0, 6, 2))
    pcus = sum(1 for inverter in site.inverters if inverter.active)
    return {
        "software_build_epoch": site.software_built_at,
        "timezone": site.timezone,
        "current_date": local.strftime("%m/%d/%Y"),
        "current_time": local.strftime("%H:%M"),
        "network": {
            "web_comm": True,
            "ever_reported_to_enlighten": True,
            "last_enlighten_report_time": site.instant - site.instant % 300,
            "primary_interface": "eth0",
            "interfaces": [
                {
                    "type": "ethernet",
                    "interface": "eth0",
                    "mac": f"00:1D:C0:{mac_tail}",
                    "dhcp": True,
                    "ip": "192.168.1.50",
                    "signal_strength": 1,
                    "signal_strength_max": 1,
                    "carrier": True,
                }
            ],
        },
        "tariff": "single_rate",
        "comm": {
            "num": pcus + len(site.batteries) + len(site.iq_batteries),
            "level": 5,
            "pcu": {"num": pcus, "level": 5 if pcus else 0},
            "acb": {"num": len(site.batteries), "level": 4 if site.batteries else 0},
            "nsrb": {"num": 0, "level": 0},
            "esub": {"num": 0, "level": 0},
            "encharge": [
                {
                    "num": len(site.iq_batteries),
                    "level": 4 if site.iq_batteries else 0,
                    "level_24g": 4 if site.iq_batteries else 0,
                    "level_subg": 4 if site.iq_batteries else 0,
                }
            ],
        },
    }


def _inverters_entry(site: Site) -> dict[str, Any]:
    active = [inverter for inverter in site.inverters if inverter.active]
    watts = sum(inverter.watts for inverter in active)
    # The gateway sums the inverters' raw 32-bit joule counters, wraps included.
    joules = sum(inverter.joules_counter for inverter in active)
    return {
        "type": "inverters",
        "activeCount": len(active),
        # 0 at night, when no inverter has reported power.
        "readingTime": max((i.last_report_at for i in active), default=0) if watts else 0,
        "wNow": watts,
        "whLifetime": round(joules * WH_PER_JOULE),
    }


def _acb_entry(site: Site) -> dict[str, Any]:
    if not site.batteries:
        return {
            "type": "acb",
            "activeCount": 0,
            "readingTime": 0,
            "wNow": 0,
            "whNow": 0,
            "state": "idle",
        }
    watts = sum(battery.watts for battery in site.batteries)
    wh_now = sum(battery.wh_now for battery in site.batteries)
    capacity = sum(battery.capacity_wh for battery in site.batteries)
    return {
        "type": "acb",
        "activeCount": len(site.batteries),
        "readingTime": max(battery.last_report_at for battery in site.batteries),
        "wNow": watts,
        "whNow": wh_now,
        "state": "charging" if watts < 0 else "discharging" if watts > 0 else "idle",
        "percentFull": round(100 * wh_now / capacity),
    }


def render_production_json(site: Site, *, details: bool) -> dict[str, Any]:
    """``/production.json`` (``details``: with ``?details=1``)."""
    production: list[dict[str, Any]] = [_inverters_entry(site)]
    body: dict[str, Any] = {"production": production}
    if site.metered:
        lines = details or site.version < LINES_ONLY_WITH_DETAILS
        eim = render_eim_entries(site, lines=lines)
        production.extend(eim["production"])
        body["consumption"] = eim["consumption"]
    body["storage"] = [_acb_entry(site)]
    return body


def render_production_page(site: Site) -> dict[str, Any]:
    """``/production`` (firmware >= 7): production.json without per-phase lines."""
    body = render_production_json(site, details=False)
    for section in body.values():
        for entry in section:
            entry.pop("lines", None)
    return body


def render_api_v1_production(site: Site) -> dict[str, Any]:
    """``/api/v1/production``: the production CT when metered, else the inverters."""
    if site.metered:
        measured = flows(site).get("production")
        if measured is None:  # metered hardware without CTs: all zeros (7.x)
            return dict.fromkeys(
                ("wattHoursToday", "wattHoursSevenDays", "wattHoursLifetime", "wattsNow"), 0
            )
        total = aggregate(measured)
        return {
            "wattHoursToday": int(total.wh_today),
            "wattHoursSevenDays": int(total.wh_last_seven_days),
            "wattHoursLifetime": int(total.wh_delivered),
            "wattsNow": round(total.watts),
        }
    active = [inverter for inverter in site.inverters if inverter.active]
    return {
        "wattHoursToday": sum(inverter.wh_today for inverter in active),
        "wattHoursSevenDays": sum(inverter.wh_week for inverter in active),
        # Unlike production.json, this total does not wrap with the inverter counters.
        "wattHoursLifetime": int(sum(i.joules_lifetime for i in active) * WH_PER_JOULE),
        "wattsNow": sum(inverter.watts for inverter in active),
    }


def render_api_v1_inverters(site: Site) -> list[dict[str, Any]]:
    """``/api/v1/production/inverters``: microinverters (devType 1) and ACBs (devType 11)."""
    listed = [
        {
            "serialNumber": inverter.serial,
            "lastReportDate": inverter.last_report_at,
            "devType": 1,
            "lastReportWatts": inverter.watts if inverter.active else 0,
            "maxReportWatts": inverter.max_watts,
        }
        for inverter in site.inverters
    ]
    listed.extend(
        {
            "serialNumber": battery.serial,
            "lastReportDate": battery.last_report_at,
            "devType": 11,
            # The ACB reports what it delivers; charging shows as 0 here.
            "lastReportWatts": max(battery.watts, 0),
            "maxReportWatts": battery.max_watts,
        }
        for battery in site.batteries
    )
    return listed


def renderers(site: Site) -> dict[str, Callable[[], Payload]]:
    """Every endpoint this firmware serves, keyed by capture file name, each rendered
    only when called: a poll asks for three of a dozen bodies, and rendering them all
    took 2.4 ms of CPU per poll of a split-phase site, most of a fleet simulator's
    work (benchmarks/bench_fleet.py)."""
    modern = site.version >= TOKEN_FIRMWARE
    token: Auth | None = "bearer" if modern else None
    found: dict[str, Callable[[], Payload]] = {
        "info": lambda: Payload(render_info(site).encode(), "text/xml")
    }

    def add(
        name: str,
        render: Callable[[Site], Any],
        *,
        indent: int | None,
        auth: Auth | None = token,
    ) -> None:
        found[name] = lambda: Payload(_json(render(site), indent=indent), _JSON, auth)

    add("home", render_home, indent=2)
    add("production.json", partial(render_production_json, details=False), indent=None)
    if modern:
        add(
            "production.json_details_1",
            partial(render_production_json, details=True),
            indent=None,
        )
        add("production", render_production_page, indent=None)
    add("api_v1_production", render_api_v1_production, indent=2)
    # Firmware < 7 guards only this endpoint, with HTTP Digest.
    add("api_v1_production_inverters", render_api_v1_inverters, indent=2, auth=token or "digest")
    if site.metered:
        add("ivp_meters", render_meters, indent=2)
        add("ivp_meters_readings", render_meter_readings, indent=4)
    if site.version >= DEVICE_DATA_FIRMWARE:
        add("ivp_pdm_device_data", render_device_data, indent=4)
    # /inventory.json?deleted=1 too: the server falls back to the path without its query.
    add("inventory.json", render_inventory, indent=None)
    if site.version >= ENSEMBLE_FIRMWARE:
        add("ivp_ensemble_inventory", render_ensemble_inventory, indent=4)
        add("ivp_ensemble_power", render_ensemble_power, indent=4)
        add("ivp_ensemble_secctrl", render_ensemble_secctrl, indent=4)
    return found


def render_all(site: Site) -> dict[str, Payload]:
    """Every endpoint this firmware serves, keyed by capture file name."""
    return {name: render() for name, render in renderers(site).items()}
