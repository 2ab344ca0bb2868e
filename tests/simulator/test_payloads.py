"""The payload renderer: every body of one site tells the same story."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from envoylog.simulator.payloads import render_all
from envoylog.simulator.samples import SAMPLES, metered_split_phase, modern_nonmetered
from envoylog.simulator.site import JOULE_COUNTER_MODULUS, Site

SITES = {name: make() for name, make in SAMPLES.items()}
WITH_CTS = [name for name, site in SITES.items() if site.production_ct is not None]
METERED = [name for name, site in SITES.items() if site.metered]
WRAP_WH = JOULE_COUNTER_MODULUS / 3600


def body(site: Site, name: str) -> Any:
    return json.loads(render_all(site)[name].body)


def eim(site: Site, measurement: str, *, details: bool = True) -> dict[str, Any]:
    production = body(site, "production.json_details_1" if details else "production.json")
    entries = production["production"] + production.get("consumption", [])
    return next(e for e in entries if e.get("measurementType") == measurement)


def meter(site: Site, measurement: str) -> dict[str, Any]:
    eids = {m["measurementType"]: m["eid"] for m in body(site, "ivp_meters")}
    return next(r for r in body(site, "ivp_meters_readings") if r["eid"] == eids[measurement])


@pytest.mark.parametrize("name", SITES)
def test_inverter_watts_add_up_to_the_inverters_entry(name: str) -> None:
    site = SITES[name]
    inverters = body(site, "production.json")["production"][0]
    reported = body(site, "api_v1_production_inverters")
    assert inverters["wNow"] == sum(i["lastReportWatts"] for i in reported if i["devType"] == 1)
    assert inverters["activeCount"] == sum(1 for i in site.inverters if i.active)


@pytest.mark.parametrize("name", WITH_CTS)
def test_production_ct_delivered_equals_eim_production_lifetime(name: str) -> None:
    site = SITES[name]
    assert meter(site, "production")["actEnergyDlvd"] == eim(site, "production")["whLifetime"]


@pytest.mark.parametrize("name", WITH_CTS)
def test_net_lifetime_is_the_signed_import_minus_export(name: str) -> None:
    site = SITES[name]
    reading = meter(site, "net-consumption")
    balance = reading["actEnergyDlvd"] - reading["actEnergyRcvd"]
    assert eim(site, "net-consumption")["whLifetime"] == pytest.approx(balance, abs=1e-6)


def test_a_net_exporter_has_a_negative_balance() -> None:
    assert eim(metered_split_phase(), "net-consumption")["whLifetime"] < 0


@pytest.mark.parametrize("name", WITH_CTS)
def test_total_consumption_is_production_plus_net(name: str) -> None:
    site = SITES[name]
    total, production, net = (
        eim(site, m) for m in ("total-consumption", "production", "net-consumption")
    )
    for key in ("wNow", "whLifetime"):
        assert total[key] == pytest.approx(production[key] + net[key], abs=1e-6)


@pytest.mark.parametrize("name", WITH_CTS)
@pytest.mark.parametrize("measurement", ["production", "total-consumption", "net-consumption"])
def test_lines_add_up_to_the_entry(name: str, measurement: str) -> None:
    site = SITES[name]
    entry = eim(site, measurement)
    assert len(entry["lines"]) == site.phase_count
    for key in ("wNow", "whLifetime", "rmsVoltage", "rmsCurrent", "apprntPwr"):
        assert entry[key] == pytest.approx(sum(line[key] for line in entry["lines"]), abs=1e-6)


@pytest.mark.parametrize("name", WITH_CTS)
def test_meter_channels_add_up_to_the_meter(name: str) -> None:
    site = SITES[name]
    for reading in body(site, "ivp_meters_readings"):
        assert len(reading["channels"]) == 3
        for key in ("activePower", "actEnergyDlvd", "actEnergyRcvd", "voltage", "current"):
            total = sum(channel[key] for channel in reading["channels"])
            assert reading[key] == pytest.approx(total, abs=1e-6)


@pytest.mark.parametrize("name", METERED)
def test_channels_beyond_phase_count_are_zero(name: str) -> None:
    site = SITES[name]
    for reading in body(site, "ivp_meters_readings"):
        for channel in reading["channels"][site.phase_count :]:
            values = {k: v for k, v in channel.items() if k not in ("eid", "timestamp", "freq")}
            assert set(values.values()) == {0.0}


def test_multi_phase_voltage_is_the_sum_of_phases() -> None:
    reading = meter(SITES["metered-three-phase-device-data"], "production")
    assert reading["voltage"] == pytest.approx(230.1 + 231.4 + 229.7)


def test_device_data_lifetime_is_the_raw_wrapped_counter() -> None:
    site = SITES["metered-three-phase-device-data"]
    wrapped = next(i for i in site.inverters if i.joules_lifetime >= JOULE_COUNTER_MODULUS)
    devices = body(site, "ivp_pdm_device_data").values()
    entry = next(d for d in devices if isinstance(d, dict) and d["sn"] == wrapped.serial)
    lifetime = entry["channels"][0]["lifetime"]["joulesProduced"]
    assert lifetime == wrapped.joules_lifetime - JOULE_COUNTER_MODULUS


def test_production_json_inverter_total_wraps_where_api_v1_does_not() -> None:
    site = modern_nonmetered()
    wrapped_total = body(site, "production.json")["production"][0]["whLifetime"]
    true_total = body(site, "api_v1_production")["wattHoursLifetime"]
    assert true_total - wrapped_total == pytest.approx(WRAP_WH, abs=1.5)


def test_device_data_lists_a_removed_inverter_as_gone() -> None:
    devices = body(SITES["metered-three-phase-device-data"], "ivp_pdm_device_data")
    gone = [d for d in devices.values() if isinstance(d, dict) and not d["active"]]
    assert [(d["sn"], d["modGone"], d["channels"][0]["lastReading"]) for d in gone] == [
        ("122344099991", True, {})
    ]
    assert (devices["deviceCount"], devices["deviceDataLimit"]) == (39, 50)


def test_device_data_lists_at_most_fifty_devices() -> None:
    site = SITES["metered-three-phase-device-data"]
    crowded = dataclasses.replace(site, inverters=site.inverters * 2)
    devices = body(crowded, "ivp_pdm_device_data")
    assert devices["deviceCount"] == 50
    assert len([d for d in devices.values() if isinstance(d, dict)]) == 50


def test_a_total_consumption_ct_yields_a_derived_net_balance() -> None:
    site = dataclasses.replace(metered_split_phase(), consumption_kind="total-consumption")
    total, production, net = (
        eim(site, m) for m in ("total-consumption", "production", "net-consumption")
    )
    assert meter(site, "total-consumption")["actEnergyDlvd"] == total["whLifetime"]
    assert net["whLifetime"] == pytest.approx(total["whLifetime"] - production["whLifetime"])


def test_lines_appear_only_with_details_from_7_6() -> None:
    site = SITES["metered-split-phase"]
    assert "lines" not in eim(site, "production", details=False)
    assert "lines" in eim(site, "production", details=True)
    older = dataclasses.replace(site, firmware="7.3.466")
    assert "lines" in eim(older, "production", details=False)
    assert all("lines" not in e for e in body(site, "production")["production"])


def test_metered_gateway_without_cts() -> None:
    site = SITES["metered-no-cts"]
    assert {eim(site, m)["activeCount"] for m in ("production", "net-consumption")} == {0}
    assert set(body(site, "api_v1_production").values()) == {0}
    assert {m["state"] for m in body(site, "ivp_meters")} == {"disabled"}
    assert {r["timestamp"] for r in body(site, "ivp_meters_readings")} == {0}


def test_eu_single_phase_with_storage() -> None:
    site = SITES["eu-single-phase-storage"]
    meters = body(site, "ivp_meters")
    assert {(m["phaseMode"], m["phaseCount"]) for m in meters} == {("three", 1)}
    assert [m["measurementType"] for m in meters][-1] == "storage"
    acb = body(site, "production.json")["storage"][0]
    assert (acb["type"], acb["activeCount"], acb["state"]) == ("acb", 2, "charging")
    dev_types = [i["devType"] for i in body(site, "api_v1_production_inverters")]
    assert dev_types.count(11) == 2


def test_endpoints_follow_the_firmware_generation() -> None:
    legacy = render_all(SITES["legacy-5.0-nonmetered"])
    assert "production.json_details_1" not in legacy
    assert "ivp_pdm_device_data" not in legacy
    assert legacy["api_v1_production_inverters"].auth == "digest"
    modern = render_all(SITES["metered-split-phase"])
    assert {p.auth for n, p in modern.items() if n != "info"} == {"bearer"}
    assert b"<software>D7.6.185</software>" in modern["info"].body


@pytest.mark.parametrize("name", SITES)
def test_rendering_is_a_pure_function_of_the_site(name: str) -> None:
    assert render_all(SAMPLES[name]()) == render_all(SITES[name])
