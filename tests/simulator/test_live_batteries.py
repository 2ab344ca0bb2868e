"""IQ Batteries in the living simulator: power, state of charge and their truth, over sockets."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest

from envoylog.records import Battery, BatteryReading, BatterySystemReading, MeterReading
from envoylog.simulator.model import BATTERY_EFFICIENCY, SiteModel
from envoylog.simulator.profiles import PROFILES

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
WITH_CT, WITHOUT_CT = "iq-battery-storage-ct", "iq-battery-no-storage-ct"
STORAGE_EID = 704643840


def battery_readings(poll: Any, endpoint: str) -> list[BatteryReading]:
    (result,) = [e for e in poll.endpoints if e.endpoint == endpoint]
    return [r for r in result.records if isinstance(r, BatteryReading)]


@pytest.mark.parametrize("profile", [WITH_CT, WITHOUT_CT])
def test_the_gateway_lists_its_iq_batteries_with_serial_and_capacity(
    live: Any, poller: Any, profile: str
) -> None:
    gateway = live(profile, "2024-06-01T12:00")
    (inventory,) = [
        e for e in poller(gateway).poll().endpoints if e.endpoint == "ensemble_inventory"
    ]
    batteries = {r.serial: r for r in inventory.records if isinstance(r, Battery)}
    expected = {b.serial for b in gateway.site().iq_batteries}
    assert set(batteries) == expected and len(expected) == PROFILES[profile].batteries
    capacity = PROFILES[profile].battery_capacity_wh
    assert {r.capacity_wh for r in batteries.values()} == {capacity}


def test_battery_power_is_the_storage_cts_power(live: Any, poller: Any) -> None:
    gateway = live(WITH_CT, "2024-06-01T08:30")  # charging from the morning surplus
    poll = poller(gateway).poll()
    power = sum(r.watts or 0 for r in battery_readings(poll, "ensemble_power"))
    (ct,) = [
        r
        for r in poll.records()
        if isinstance(r, MeterReading) and r.eid == STORAGE_EID and r.channel == 0
    ]
    assert power < -100
    assert power == pytest.approx(ct.watts, abs=2)


def test_state_of_charge_follows_the_truths_charge_and_discharge(live: Any) -> None:
    gateway = live(WITHOUT_CT, "2024-06-01T00:00")
    start = gateway.clock.now()
    before = gateway.site().iq_batteries[0].soc_pct
    gateway.clock.advance(timedelta(hours=30))
    truth = gateway.truth(start, gateway.clock.now())
    after = gateway.site().iq_batteries[0].soc_pct
    stored = truth["battery_charge"] * BATTERY_EFFICIENCY - truth["battery_discharge"] / (
        BATTERY_EFFICIENCY
    )
    capacity = PROFILES[WITHOUT_CT].battery_capacity_wh
    assert truth["battery_charge"] > 1000 and truth["battery_discharge"] > 1000
    assert after - before == pytest.approx(100 * stored / capacity, abs=0.01)


@pytest.mark.parametrize("profile", [WITH_CT, WITHOUT_CT])
def test_state_of_charge_stays_between_the_reserve_and_full(profile: str) -> None:
    # A battery small enough to be filled each day and emptied each night.
    small = dataclasses.replace(PROFILES[profile], battery_capacity_wh=1500)
    model = SiteModel(small, origin=1_717_200_000)  # 1 June 2024
    seen = []
    for step in range(0, 4 * 86400, 600):
        (battery, *_) = model.site_at(1_717_200_000 + step).iq_batteries
        seen.append(battery.soc_pct)
    assert min(seen) == pytest.approx(small.battery_reserve_pct) and max(seen) == pytest.approx(100)
    assert min(seen) >= small.battery_reserve_pct - 1e-9 and max(seen) <= 100 + 1e-9


def test_the_inventory_reports_a_few_minutes_old_and_never_on_the_minute(
    live: Any, poller: Any
) -> None:
    gateway = live(WITH_CT, "2024-06-01T12:00")
    polling = poller(gateway)
    for _ in range(6):
        (one, two) = battery_readings(polling.poll(), "ensemble_inventory")
        now = polling.now()
        assert timedelta(0) < now - one.measured_at <= timedelta(minutes=5)
        assert one.measured_at.second != 0 and one.measured_at != two.measured_at
        gateway.clock.advance(timedelta(minutes=1))


def test_secctrl_adds_up_the_batteries(live: Any, poller: Any) -> None:
    gateway = live(WITH_CT, "2024-06-01T15:00")
    poll = poller(gateway).poll()
    (aggregate,) = [r for r in poll.records() if isinstance(r, BatterySystemReading)]
    site = gateway.site()
    capacity = sum(b.capacity_wh for b in site.iq_batteries)
    stored = sum(b.capacity_wh * b.soc_pct / 100 for b in site.iq_batteries)
    assert aggregate.max_capacity_wh == aggregate.encharge_capacity_wh == capacity
    assert aggregate.available_wh == round(stored)
    assert aggregate.reserve_pct == PROFILES[WITH_CT].battery_reserve_pct


@pytest.mark.parametrize("fault", ["html200", "truncated", "error-body"])
def test_body_faults_reach_the_battery_endpoints(live: Any, poller: Any, fault: str) -> None:
    gateway = live(WITHOUT_CT, faults=[f"{fault}:path=/ivp/ensemble/power"])
    result = poller(gateway).poll()
    failed = {e.endpoint for e in result.endpoints if not e.ok}
    assert failed == {"ensemble_power"}


def test_a_site_without_batteries_answers_empty_ensemble_bodies(live: Any, poller: Any) -> None:
    gateway = live("metered-split-phase")
    client = poller(gateway).client
    assert client.get("/ivp/ensemble/inventory").body.strip() == b"[]"
    assert b'"devices:": []' in client.get("/ivp/ensemble/power").body
