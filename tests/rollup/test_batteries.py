"""Battery energy and state of charge in the energy tables: from a storage CT, else from the
batteries' power; consumption derived with the battery flows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

import pytest
from builders import CT_METERS, battery_poll, ct_poll, daily, every, merged, poll, table

from envoylog.db import Store, save_polls
from envoylog.db.power import PowerFlow, day_series
from envoylog.energy import day_range
from envoylog.energy.rollup import rollup
from envoylog.records import MeterConfig, MeterReading

ZONE = "Europe/Berlin"
DAY = date(2024, 6, 1)
START, END = day_range(DAY, DAY, ZONE)


def log_site(
    store: Store,
    start: datetime,
    end: datetime,
    *,
    battery_w: Callable[[datetime], float] = lambda at: -1000.0,
    soc: Callable[[datetime], float] = lambda at: 50.0,
    skip: Callable[[datetime], bool] = lambda at: False,
    zone: str = ZONE,
) -> None:
    """A production CT (1000 W), a net CT (500 W in, 200 W out) and two IQ Batteries each at
    ``battery_w`` (+ = discharging), read each minute."""
    polls = []
    for at in every(start, end, timedelta(minutes=1)):
        hours = (at - start).total_seconds() / 3600
        cts = ct_poll(at, zone, 5e6 + 1000 * hours, 2e6 + 500 * hours, 1e6 + 200 * hours, 1000)
        if skip(at):
            polls.append(cts)
            continue
        polls.append(merged(cts, battery_poll(at, zone, soc(at), battery_w(at))))
    save_polls(store, polls)
    rollup(store)


def test_without_a_storage_ct_charge_is_the_batteries_power_integrated(store: Store) -> None:
    log_site(store, START, START + timedelta(hours=2))
    row = daily(store)[str(DAY)]
    assert row["battery_charge_wh"] == pytest.approx(2 * 1000 * 2)
    assert row["battery_discharge_wh"] == 0
    assert row["battery_source"] == "power-integral"


def test_power_integrated_energy_is_all_counted_as_estimated(store: Store) -> None:
    log_site(store, START, START + timedelta(hours=2))
    assert daily(store)[str(DAY)]["estimated_wh"] == pytest.approx(4000)


def test_consumption_is_derived_with_the_battery_flows(store: Store) -> None:
    log_site(store, START, START + timedelta(hours=2), battery_w=lambda at: -200.0)
    row = daily(store)[str(DAY)]
    # production + import - export - charge: (1000 + 500 - 200 - 2 x 200) W for 2 hours
    assert row["consumption_wh"] == pytest.approx(2 * 900)
    assert row["consumption_source"] == "derived"


def test_no_battery_energy_across_a_gap_longer_than_30_minutes(store: Store) -> None:
    gap = (START + timedelta(minutes=30), START + timedelta(minutes=75))
    log_site(store, START, START + timedelta(hours=2), skip=lambda at: gap[0] < at < gap[1])
    hours = {h["local_start"][11:13]: h for h in table(store, "energy_hourly", "start_at")}
    assert hours["00"]["battery_charge_wh"] == pytest.approx(2 * 1000 / 2)
    assert hours["00"]["coverage"] == pytest.approx(0.5)
    assert daily(store)[str(DAY)]["battery_charge_wh"] == pytest.approx(2 * 1000 * 75 / 60)


def test_the_day_holds_its_lowest_highest_and_last_state_of_charge(store: Store) -> None:
    def soc(at: datetime) -> float:
        minutes = (at - START).total_seconds() / 60
        return 80 - minutes if minutes < 60 else 20 + (minutes - 60) / 3  # 80, 20, then 50

    log_site(store, START, START + timedelta(hours=2, minutes=30), soc=soc)
    row = daily(store)[str(DAY)]
    assert (row["soc_min_pct"], row["soc_max_pct"], row["soc_end_pct"]) == (20, 80, 50)


def test_the_month_holds_the_lowest_highest_and_its_last_days_state_of_charge(
    store: Store,
) -> None:
    log_site(store, START, START + timedelta(hours=1), soc=lambda at: 30.0)
    second = START + timedelta(days=1)
    log_site(store, second, second + timedelta(hours=1), soc=lambda at: 70.0 - at.minute / 10)
    (month,) = table(store, "energy_monthly", "month")
    assert (month["soc_min_pct"], month["soc_max_pct"], month["soc_end_pct"]) == (30, 70, 70)


def test_a_fall_back_day_has_25_hours_of_battery_energy(store: Store) -> None:
    day = date(2024, 10, 27)
    start, end = day_range(day, day, ZONE)
    log_site(store, start, end)
    hours = [
        h for h in table(store, "energy_hourly", "start_at") if h["local_start"][:10] == str(day)
    ]
    assert len(hours) == 25
    assert all(h["battery_charge_wh"] == pytest.approx(2000) for h in hours)
    assert daily(store)[str(day)]["battery_charge_wh"] == pytest.approx(25 * 2000)


def test_a_storage_ct_is_the_battery_source_even_with_battery_power(store: Store) -> None:

    storage = MeterConfig(704643840, "storage", "enabled", "single", 1, "normal")
    polls = []
    for at in every(START, START + timedelta(hours=1), timedelta(minutes=1)):
        minutes = (at - START).total_seconds() / 60
        reading = MeterReading(
            704643840, 0, at, watts=-600, wh_delivered=1e5, wh_received=2e5 + 10 * minutes
        )
        cts = poll(at, ZONE, {"meters": (*CT_METERS, storage), "meter_readings": (reading,)})
        polls.append(merged(cts, battery_poll(at, ZONE, 50.0, -300.0)))
    save_polls(store, polls)
    rollup(store)
    row = daily(store)[str(DAY)]
    assert (row["battery_source"], row["battery_charge_wh"]) == ("storage-ct", pytest.approx(600))


def test_a_days_power_adds_the_batteries_own_to_the_derived_consumption(store: Store) -> None:
    log_site(store, START, START + timedelta(minutes=10), battery_w=lambda at: 200.0)
    with store.reading("test") as conn:
        power = day_series(conn, 1, START, END)
    assert power[PowerFlow.STORAGE].source == "battery"
    assert {w for _, w in power[PowerFlow.STORAGE].points} == {400.0}
    consumption = power[PowerFlow.CONSUMPTION]
    assert consumption.source == "production + net + battery"
    assert {w for _, w in consumption.points} == {1000.0 + 0.0 + 400.0}
