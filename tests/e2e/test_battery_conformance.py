"""Every real capture with batteries, polled over a socket and stored: the batteries' serials,
capacities, state of charge and power exactly as its bodies say; captures without batteries
store no battery row and record no failure.

The expected figures are read from the capture files with the json module alone, not with
envoylog's parsers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from support import CAPTURES, capture_folders, poll_folder

from envoylog.db import Store, save_poll
from envoylog.db.types import stored_instant
from envoylog.records import utc_from_epoch

# Read off the capture files by hand: which captures have batteries at all.
WITH_BATTERIES = {
    "7.3.517",
    "7.3.517_legacy_savings_mode",
    "7.6.185_with_cts_and_battery_3t",
    "8.1.41",
    "8.2.127_with_3cts_and_battery_split",
    "8.2.127_with_generator_running",
    "8.2.4286_with_3cts_and_battery_split",
    "8.2.4382_ACB_2",
    "8.3.1598_collar",
    "8.3.5167_3rd-pv",
    "8.3.5169_ACB_inventory",
}
BATTERY_ENDPOINTS = ("ensemble_inventory", "ensemble_power", "ensemble_secctrl", "acb_inventory")


@dataclass
class Facts:
    """What a capture's bodies say about its batteries."""

    kinds: dict[str, str] = field(default_factory=dict)  # serial -> encharge / acb
    capacity: dict[str, float | None] = field(default_factory=dict)
    reported: dict[str, tuple[Any, float]] = field(default_factory=dict)  # (instant, %)
    power: dict[str, tuple[float, float]] = field(default_factory=dict)  # (%, W)
    aggregate_soc: float | None = None


def load(folder: Path, name: str) -> Any:
    try:
        return json.loads((folder / name).read_bytes())
    except (OSError, ValueError):
        return None


def facts(folder: Path) -> Facts:
    found = Facts()
    inventories = [("ENCHARGE", "encharge", load(folder, "ivp_ensemble_inventory"))]
    acb = load(folder, "inventory.json_deleted_1") or load(folder, "inventory")
    inventories.append(("ACB", "acb", acb))
    for section_type, kind, body in inventories:
        for section in body if isinstance(body, list) else []:
            if section.get("type") != section_type:
                continue
            for device in section["devices"]:
                serial = device["serial_num"]
                found.kinds[serial] = kind
                found.capacity[serial] = device.get("encharge_capacity")
                at = utc_from_epoch(int(device["last_rpt_date"]))
                found.reported[serial] = (at, device["percentFull"])
    power = load(folder, "ivp_ensemble_power")
    for device in (power or {}).get("devices:", []) if found.kinds else []:
        found.power[device["serial_num"]] = (device["soc"], device["real_power_mw"] / 1000)
    secctrl = load(folder, "ivp_ensemble_secctrl") or {}
    if found.kinds and isinstance(secctrl, dict):
        found.aggregate_soc = secctrl.get("agg_soc")
    return found


def rows(store: Store, sql: str) -> list[tuple[Any, ...]]:
    with store.reading("conformance query") as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def stored(store: Store, folder: Path) -> Facts:
    """The same facts, from the battery tables after the capture's poll was saved."""
    poll, _ = poll_folder(folder)
    save_poll(store, poll)
    found = Facts()
    for serial, kind, capacity in rows(store, "SELECT serial, kind, capacity_wh FROM batteries"):
        found.kinds[serial] = kind
        found.capacity[serial] = capacity
    readings = rows(
        store,
        "SELECT b.serial, r.measured_at, r.soc_pct, r.watts, r.flags FROM battery_readings r "
        "JOIN batteries b ON b.id = r.battery_id",
    )
    for serial, at, soc, watts, flags in readings:
        if flags & 128:  # soc-from-power
            found.power[serial] = (soc, watts)
        else:
            found.reported[serial] = (stored_instant(at), soc)
    system = rows(store, "SELECT soc_pct FROM battery_system_readings")
    found.aggregate_soc = system[0][0] if system else None
    return found


def test_the_captures_with_batteries_are_the_ones_expected(captures_dir: Path) -> None:
    assert {p.name for p in capture_folders() if facts(p).kinds} == WITH_BATTERIES


@pytest.mark.parametrize("name", sorted(WITH_BATTERIES))
def test_a_capture_with_batteries_is_stored_as_its_bodies_say(
    captures_dir: Path, store: Store, name: str
) -> None:
    expected, found = facts(CAPTURES / name), stored(store, CAPTURES / name)
    assert found.kinds == expected.kinds
    assert found.capacity == expected.capacity
    assert found.reported == expected.reported
    assert found.power == expected.power
    assert found.aggregate_soc == expected.aggregate_soc


@pytest.mark.parametrize(
    "name", [p.name for p in capture_folders() if p.name not in WITH_BATTERIES]
)
def test_a_capture_without_batteries_stores_no_battery_row_and_no_failure(
    captures_dir: Path, store: Store, name: str
) -> None:
    poll, state = poll_folder(CAPTURES / name)
    save_poll(store, poll)
    asked = [e for e in poll.endpoints if e.endpoint in BATTERY_ENDPOINTS]
    assert all(e.ok for e in asked), [(e.endpoint, e.error) for e in asked]
    assert state.iq_batteries is not True and state.ac_batteries is not True
    for table in ("batteries", "battery_readings", "battery_system_readings"):
        assert rows(store, f"SELECT count(*) FROM {table}") == [(0,)]


@pytest.mark.parametrize(
    ("name", "serial", "capacity_wh", "soc_pct", "watts"),
    [  # read off the bodies by hand
        ("7.6.185_with_cts_and_battery_3t", "122249097612", 3500, 15, 0.0),
        ("8.2.127_with_3cts_and_battery_split", "12345678901006", 5000, 21, -136.0),
        ("8.2.127_with_generator_running", "492234001350", 3360, 98, -1250.0),
        ("8.1.41", "492319002593", 4960, 85, 16.0),
    ],
)
def test_hand_read_facts_of_iq_batteries(
    captures_dir: Path,
    store: Store,
    name: str,
    serial: str,
    capacity_wh: float,
    soc_pct: float,
    watts: float,
) -> None:
    found = stored(store, CAPTURES / name)
    assert (found.capacity[serial], found.power[serial]) == (capacity_wh, (soc_pct, watts))


def test_ac_batteries_of_8_2_4382_as_their_inventory_says(captures_dir: Path, store: Store) -> None:
    found = stored(store, CAPTURES / "8.2.4382_ACB_2")
    assert found.kinds == {"122000000001": "acb", "122000000002": "acb"}
    assert {s: soc for s, (_, soc) in found.reported.items()} == {
        "122000000001": 0,
        "122000000002": 1,
    }
    assert found.aggregate_soc == 18
