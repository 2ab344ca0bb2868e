"""save_poll for batteries: each battery once, its readings by instant, the same in any order."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from db_queries import counts, rows
from factories import T0, at, battery_power, battery_serial, make_poll, only

from envoylog.db import Store, save_poll, save_polls
from envoylog.db.models import FLAG_BITS
from envoylog.db.types import stored_instant
from envoylog.records import BatteryReading, ReadingFlag, poll_from_json, poll_to_json

pytestmark = pytest.mark.usefixtures("backend")
BATTERY_ENDPOINTS = ("info", "ensemble_inventory", "ensemble_power", "ensemble_secctrl")


def test_a_poll_with_batteries_fills_the_battery_tables(store: Store) -> None:
    summary = save_poll(store, make_poll(at(7), batteries=2))
    found = counts(store)
    assert (found["batteries"], found["battery_readings"], found["battery_system_readings"]) == (
        2,
        4,  # the power reading now and the inventory's last report, per battery
        1,
    )
    assert (summary.batteries, summary.battery_readings, summary.battery_system_readings) == (
        2,
        4,
        1,
    )


def test_the_battery_row_holds_identity_and_the_last_report(store: Store) -> None:
    save_poll(store, make_poll(at(7), batteries=1))
    ((*identity, reported, communicating),) = rows(
        store,
        "SELECT serial, kind, part_number, capacity_wh, last_report_at, communicating "
        "FROM batteries",
    )
    assert identity == [battery_serial(0), "encharge", "836-01826-r76", 5000.0]
    assert (stored_instant(reported), communicating) == (at(5) - timedelta(seconds=17), True)


def test_the_same_battery_polls_twice_add_nothing(store: Store) -> None:
    polls = [make_poll(at(m), batteries=2) for m in range(3)]
    save_polls(store, polls)
    before = counts(store)
    summary = save_polls(store, polls)
    assert counts(store) == before and summary.skipped_polls == 3


def test_power_readings_are_flagged_as_the_state_of_charge_source(store: Store) -> None:
    save_poll(store, only(make_poll(at(1), batteries=1), *BATTERY_ENDPOINTS))
    flags = rows(store, "SELECT watts IS NULL, flags FROM battery_readings ORDER BY measured_at")
    power = FLAG_BITS[ReadingFlag.SOC_FROM_POWER] | FLAG_BITS[ReadingFlag.NO_READING_TIME]
    assert flags == [(True, FLAG_BITS[ReadingFlag.SOC_FROM_INVENTORY]), (False, power)]


@pytest.mark.parametrize("power_first", [True, False])
def test_at_one_instant_the_power_reading_wins_in_either_order(
    store: Store, power_first: bool
) -> None:
    (battery, power) = battery_power(T0, count=1)
    assert isinstance(power, BatteryReading)
    inventory = replace(
        power, soc_pct=10.0, watts=None, va=None, flags=(ReadingFlag.SOC_FROM_INVENTORY,)
    )
    poll = only(make_poll(T0, batteries=1), "info", "ensemble_power")
    result = poll.endpoints[1]
    records = (
        (battery, power, battery, inventory)
        if power_first
        else (battery, inventory, battery, power)
    )
    save_poll(store, replace(poll, endpoints=(poll.endpoints[0], replace(result, records=records))))
    assert rows(store, "SELECT soc_pct, watts FROM battery_readings") == [(power.soc_pct, -1200.0)]


def test_an_older_poll_replayed_late_moves_nothing_back(store: Store) -> None:
    late, early = make_poll(at(30), batteries=1), make_poll(at(0), batteries=1)
    save_poll(store, late)
    before = rows(store, "SELECT first_seen_at, last_seen_at, last_report_at FROM batteries")
    save_poll(store, early)
    (first, last, report) = rows(
        store, "SELECT first_seen_at, last_seen_at, last_report_at FROM batteries"
    )[0]
    assert (last, report) == before[0][1:]
    assert first < before[0][0]


def test_a_poll_with_batteries_survives_the_spools_json() -> None:
    poll = make_poll(at(7), batteries=2)
    assert poll_from_json(poll_to_json(poll)) == poll
