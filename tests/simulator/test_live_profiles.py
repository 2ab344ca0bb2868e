"""Every profile, polled over real sockets with envoylog's own client and poller."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from envoylog.endpoints import BY_NAME
from envoylog.records import InverterReading
from envoylog.simulator import PROFILES, ManualClock, SimulatedGateway, render_all
from envoylog.simulator.replay import file_name_for

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")


@pytest.mark.parametrize("profile", PROFILES)
def test_every_endpoint_of_every_profile_polls_ok(live: Any, poller: Any, profile: str) -> None:
    gateway = live(profile, "2024-06-01T11:00")
    polling = poller(gateway)
    first = polling.poll()
    gateway.clock.advance(timedelta(minutes=20))
    second = polling.poll()
    for result in (first, second):
        assert result.status == "ok", [(e.endpoint, e.error) for e in result.endpoints]
        assert result.gateway.serial == PROFILES[profile].serial


@pytest.mark.parametrize("profile", PROFILES)
def test_scheme_and_auth_follow_the_firmware(live: Any, poller: Any, profile: str) -> None:
    gateway = live(profile)
    assert gateway.url.startswith("https://" if PROFILES[profile].modern else "http://")


def test_inverters_report_only_new_instants_staggered(live: Any, poller: Any) -> None:
    gateway = live("metered-split-phase", "2024-06-01T12:00")
    polling = poller(gateway)

    def reports() -> dict[str, float]:
        result = polling.endpoint("api_v1_inverters")
        return {
            r.serial: r.reported_at.timestamp()
            for r in result.records
            if isinstance(r, InverterReading)
        }

    before = reports()
    gateway.clock.advance(timedelta(seconds=90))
    after = reports()
    changed = [serial for serial in before if after[serial] != before[serial]]
    assert 0 < len(changed) < len(before)  # some reported, not all at once
    assert all(after[serial] > before[serial] for serial in changed)


def test_the_device_data_limit_shows_with_many_inverters(live: Any, poller: Any) -> None:
    gateway = live("metered-three-phase-device-data", inverters=120)
    body = json.loads(poller(gateway).endpoint("device_data").body or b"{}")
    assert (body["deviceCount"], body["deviceDataLimit"]) == (50, 50)
    assert sum(1 for key in body if key.isdigit()) == 50


def test_device_data_joules_are_the_report_interval_energy(live: Any, poller: Any) -> None:
    gateway = live("metered-three-phase-device-data", "2024-06-01T13:00")
    body = json.loads(poller(gateway).endpoint("device_data").body or b"{}")
    pcu = next(d for d in body.values() if isinstance(d, dict) and d.get("devName") == "pcu")
    reading = pcu["channels"][0]["lastReading"]
    assert reading["joulesProduced"] == pcu["channels"][0]["watts"]["now"] * reading["duration"]
    assert 700 <= reading["duration"] <= 1000 and reading["joulesProduced"] > 0
    assert reading["acVoltageINmV"] > 200_000 and reading["dcVoltageINmV"] > 20_000


def test_same_seed_same_bodies_other_seed_other_weather() -> None:
    def bodies(seed: int) -> dict[str, bytes]:
        clock = ManualClock(1717236000.0)
        gateway = SimulatedGateway("eu-single-phase-storage", clock=clock, seed=seed)
        try:
            clock.advance(timedelta(hours=30, seconds=17))
            return {k: v.body for k, v in gateway.responder.payloads(clock.now()).items()}
        finally:
            gateway.close()

    assert bodies(7) == bodies(7)
    assert bodies(7)["ivp_meters_readings"] != bodies(8)["ivp_meters_readings"]


def test_clock_endpoint_tells_the_simulated_now(live: Any, poller: Any) -> None:
    gateway = live("legacy-5.0-nonmetered", "2024-06-01T09:00")
    gateway.clock.advance(timedelta(hours=2))
    clock = poller(gateway).client.get("/__sim/clock")
    assert json.loads(clock.body)["now"] == "2024-06-01T11:00:00-07:00"


@pytest.mark.parametrize("profile", ["metered-split-phase", "eu-single-phase-storage"])
def test_each_body_served_is_the_whole_rendering_of_its_instant(
    live: Any, poller: Any, profile: str
) -> None:
    # Bodies are rendered one at a time, as asked; each must be the one the whole
    # rendering of that simulated second has.
    gateway = live(profile, "2024-06-01T12:00")
    gateway.clock.advance(timedelta(seconds=17))
    whole = render_all(gateway.site())
    polled = poller(gateway).poll()
    served = {e.endpoint: e.body for e in polled.endpoints if e.body is not None}
    assert len(served) >= 8, sorted(served)
    for endpoint, body in served.items():
        path = BY_NAME[endpoint].path
        rendered = whole.get(file_name_for(path)) or whole[file_name_for(path.split("?")[0])]
        assert body == rendered.body, endpoint
