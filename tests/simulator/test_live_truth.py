"""The simulator's truth and its counters tell the same story, read through envoylog."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from envoylog.records import MeterConfig, MeterReading, SystemReading
from envoylog.simulator.site import JOULE_COUNTER_MODULUS

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
WEEK = timedelta(days=7)
# measurement type -> (truth flow of delivered, truth flow of received)
CT_FLOWS = {
    "production": ("production", "inverter_standby"),
    "net-consumption": ("import", "export"),
    "storage": ("battery_discharge", "battery_charge"),
}


def meter_counters(poll: Any) -> dict[str, tuple[float, float]]:
    """(delivered, received) of each enabled meter's channel 0, by measurement type."""
    records = list(poll.records())
    types = {m.eid: m.measurement_type for m in records if isinstance(m, MeterConfig)}
    return {
        types[r.eid]: (r.wh_delivered, r.wh_received)
        for r in records
        if isinstance(r, MeterReading) and r.channel == 0 and r.eid in types
    }


@pytest.mark.parametrize(
    "profile", ["metered-split-phase", "metered-three-phase-device-data", "eu-single-phase-storage"]
)
def test_a_week_of_counter_deltas_equals_the_truth(live: Any, poller: Any, profile: str) -> None:
    gateway = live(profile, "2024-06-03T00:00")
    polling = poller(gateway)
    start, before = gateway.clock.now(), meter_counters(polling.poll())
    gateway.clock.advance(WEEK)
    end, after = gateway.clock.now(), meter_counters(polling.poll())
    truth = gateway.truth(start, end)
    assert set(after) == {m for m in CT_FLOWS if m in after} and "production" in after
    for measurement, counters in after.items():
        for side, flow in enumerate(CT_FLOWS[measurement]):
            delta = counters[side] - before[measurement][side]
            assert delta == pytest.approx(truth[flow], rel=1e-4, abs=0.01), (measurement, flow)
    assert truth["production"] > 50_000 and truth["import"] > 1_000


def test_the_flows_balance(live: Any) -> None:
    gateway = live("eu-single-phase-storage", "2024-06-03T00:00")
    start = gateway.clock.now()
    gateway.clock.advance(timedelta(days=2))
    t = gateway.truth(start, gateway.clock.now())
    supply = t["production"] - t["inverter_standby"] + t["import"] - t["export"]
    battery = t["battery_discharge"] - t["battery_charge"]
    assert t["consumption"] == pytest.approx(supply + battery, rel=1e-9)
    assert t["battery_charge"] > 0 and t["battery_discharge"] > 0


def test_production_json_lifetimes_follow_the_ct_and_the_net_balance(
    live: Any, poller: Any
) -> None:
    gateway = live("metered-split-phase", "2024-06-03T06:00")
    polling = poller(gateway)

    def eim(poll: Any) -> dict[str, float]:
        return {
            str(r.measurement): r.wh_lifetime
            for r in poll.records()
            if isinstance(r, SystemReading) and r.source == "eim"
        }

    start, before = gateway.clock.now(), eim(polling.poll())
    gateway.clock.advance(timedelta(hours=8))
    end, after = gateway.clock.now(), eim(polling.poll())
    truth = gateway.truth(start, end)
    assert after["production"] - before["production"] == pytest.approx(
        truth["production"], rel=1e-4
    )
    net = after["net-consumption"] - before["net-consumption"]
    assert net == pytest.approx(truth["import"] - truth["export"], rel=1e-4)
    assert net < 0  # a sunny June day: the signed net lifetime falls


def test_an_inverter_counter_wraps_at_32_bits_in_a_long_run(live: Any, poller: Any) -> None:
    gateway = live("metered-three-phase-device-data", "2024-06-03T05:00")
    polling = poller(gateway)

    def lifetimes() -> tuple[dict[str, int], float]:
        body = json.loads(polling.endpoint("device_data").body or b"{}")
        pcus = {
            d["sn"]: d["channels"][0]["lifetime"]["joulesProduced"]
            for d in body.values()
            if isinstance(d, dict) and d.get("devName") == "pcu" and d["active"]
        }
        production = json.loads(polling.client.get("/production.json").body)["production"][0]
        return pcus, production["whLifetime"]

    (before, total_before) = lifetimes()
    gateway.clock.advance(timedelta(days=2))
    (after, total_after) = lifetimes()
    wrapped = [sn for sn in before if after[sn] < before[sn]]
    assert len(wrapped) == 1
    assert max(after.values()) < JOULE_COUNTER_MODULUS
    # production.json sums the raw counters: it steps down by 2**32 J, less the growth.
    growth_wh = sum((after[sn] - before[sn]) % JOULE_COUNTER_MODULUS for sn in before) / 3600
    wrap_wh = JOULE_COUNTER_MODULUS / 3600
    assert total_after == pytest.approx(total_before + growth_wh - wrap_wh, abs=2)


@pytest.mark.parametrize(
    ("day", "hours"), [("2024-03-10", 23), ("2024-11-03", 25), ("2024-06-03", 24)]
)
def test_dst_days_have_23_or_25_hourly_buckets(live: Any, day: str, hours: int) -> None:
    gateway = live("metered-split-phase", f"{day}T00:00")
    start = gateway.clock.now()
    gateway.clock.advance(timedelta(hours=hours))
    report = gateway.truth_report(start, gateway.clock.now())
    assert len(report["hours"]) == hours
    assert [d["date"] for d in report["days"]] == [day]
    summed = sum(h["flows_wh"]["production"] for h in report["hours"])
    assert summed == pytest.approx(report["flows_wh"]["production"], abs=1e-3)


def test_truth_is_served_as_json(live: Any, poller: Any) -> None:
    gateway = live("legacy-5.0-nonmetered", "2024-06-03T10:00")
    gateway.clock.advance(timedelta(hours=3))
    client = poller(gateway).client
    served = json.loads(client.get("/__sim/truth?from=2024-06-03T11:00&to=2024-06-03T13:00").body)
    assert [h["start"] for h in served["hours"]] == [
        "2024-06-03T11:00:00-07:00",
        "2024-06-03T12:00:00-07:00",
    ]
    expected = gateway.truth(gateway.clock.now() - 7200, gateway.clock.now())
    assert served["flows_wh"]["production"] == pytest.approx(expected["production"], abs=1e-5)
    assert client.get("/__sim/truth?from=yesterday").status == 400
