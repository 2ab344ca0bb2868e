"""Every fault, seen through envoylog's own client and poller as the error or flag it is."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
import requests
from support import peak_memory

from envoylog.client.bounds import MAX_BODY_BYTES
from envoylog.errors import ConfigError, GatewayTimeout, TokenError
from envoylog.records import MeterReading, ReadingFlag, SystemReading
from envoylog.simulator import SimulatedGateway, make_token, parse_fault
from envoylog.simulator.clock import ManualClock

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
METERED = "metered-split-phase"


@pytest.mark.parametrize("fault", ["html200", "truncated", "malformed", "error-body"])
def test_lying_bodies_fail_to_parse_and_nothing_else(live: Any, poller: Any, fault: str) -> None:
    gateway = live(METERED, faults=[f"{fault}:path=/production.json"])
    result = poller(gateway).poll()
    failed = {e.endpoint for e in result.endpoints if not e.ok}
    assert failed == {"production_json"}
    assert all(e.parse_failed for e in result.endpoints if not e.ok)


def test_html200_says_json_and_status_200(live: Any, poller: Any) -> None:
    gateway = live(METERED, faults=["html200"])
    response = poller(gateway).client.get("/production.json")
    assert (response.status, response.content_type) == (200, "application/json")
    assert response.body.startswith(b"<html>")


def test_a_rate_hits_some_requests_the_same_way_for_a_seed(live: Any, poller: Any) -> None:
    def pattern(seed: int) -> list[int]:
        gateway = live(METERED, faults=["error-body:rate=0.5"], seed=seed)
        client = poller(gateway).client
        return [client.get("/api/v1/production").body.count(b"error") for _ in range(24)]

    first = pattern(3)
    assert first == pattern(3)
    assert 0 < sum(first) < 24


def test_restart_on_modern_firmware_is_503_busy_retried_then_an_error(
    live: Any, poller: Any
) -> None:
    gateway = live(METERED, faults=["restart:at=+10m,for=5m"])
    polling = poller(gateway)
    assert polling.poll().status == "ok"
    gateway.clock.advance(timedelta(minutes=11))
    result = polling.poll()
    production = next(e for e in result.endpoints if e.endpoint == "production_json")
    assert production.http_status == 503 and production.error == "HTTP 503 from " + production.path
    assert b"Resource busy" in (production.body or b"")
    tries = [r for r in gateway.requests if r.path == "/production.json?details=1"]
    assert len(tries) == 1 + 3  # the first poll, then one try and two retries
    gateway.clock.advance(timedelta(minutes=5))
    assert polling.poll().status == "ok"


def test_restart_on_old_firmware_answers_zeros(live: Any, poller: Any) -> None:
    gateway = live("legacy-5.0-nonmetered", "2024-06-01T12:00", faults=["restart:at=+1m"])
    gateway.clock.advance(timedelta(minutes=2))
    result = poller(gateway).endpoint("api_v1_production")
    (reading,) = result.records
    assert isinstance(reading, SystemReading)
    assert (reading.wh_lifetime, reading.flags) == (0, (ReadingFlag.ZERO_LIFETIME,))


def test_token_expiry_makes_the_client_raise_token_error(live: Any, poller: Any) -> None:
    gateway = live(METERED, faults=["token-expiry:after=600"])
    polling = poller(gateway)
    assert polling.poll().status == "ok"
    gateway.clock.advance(timedelta(minutes=11))
    with pytest.raises(TokenError, match="refused the token"):
        polling.client.get("/production.json")


def test_an_expired_token_is_refused_and_a_future_one_accepted(live: Any) -> None:
    gateway = live(METERED)
    now = gateway.clock.now()
    for expires_at, status in ((now - 1, 401), (now + 60, 200)):
        token = make_token("any", expires_at=expires_at)
        answer = requests.get(
            gateway.url + "/auth/check_jwt",
            headers={"Authorization": f"Bearer {token}"},
            verify=False,
            timeout=5,
        )
        assert answer.status_code == status


def test_a_token_that_is_not_a_jwt_is_refused(live: Any) -> None:
    gateway = live(METERED)
    answer = requests.get(
        gateway.url + "/auth/check_jwt",
        headers={"Authorization": "Bearer not.a-jwt"},
        verify=False,
        timeout=5,
    )
    assert answer.status_code == 401


def test_nightly_hang_times_out_after_23_local(live: Any, poller: Any) -> None:
    gateway = live(METERED, "2024-06-01T22:59", faults=["nightly-hang:seconds=5"])
    client = poller(gateway, deadline_s=0.2, retries=0).client
    assert client.get("/production.json").status == 200
    gateway.clock.advance(timedelta(seconds=90))
    with pytest.raises(GatewayTimeout):
        client.get("/production.json")
    gateway.clock.advance(timedelta(minutes=2))
    assert client.get("/production.json").status == 200


def test_a_hang_is_a_timeout_and_the_rest_of_the_poll_goes_on(live: Any, poller: Any) -> None:
    gateway = live(METERED, faults=["hang:path=/home"])
    result = poller(gateway, deadline_s=0.2, retries=0).poll()
    assert {e.endpoint for e in result.endpoints if not e.ok} == {"home"}
    started = time.monotonic()
    gateway.close()  # a hung request must not keep the server from stopping
    assert time.monotonic() - started < 2


def test_slow_answers_take_their_time(live: Any, poller: Any) -> None:
    gateway = live(METERED, faults=["slow:0.3,path=/home"])
    client = poller(gateway).client
    started = time.monotonic()
    assert client.get("/home").status == 200
    assert time.monotonic() - started >= 0.3


def test_zero_lifetime_is_flagged(live: Any, poller: Any) -> None:
    gateway = live(METERED, faults=["zero-lifetime:path=/production.json"])
    records = poller(gateway).endpoint("production_json").records
    readings = [r for r in records if isinstance(r, SystemReading)]
    assert readings and all(ReadingFlag.ZERO_LIFETIME in r.flags for r in readings)


def test_zero_lifetime_on_meter_readings_is_zero_counters(live: Any, poller: Any) -> None:
    gateway = live(METERED, faults=["zero-lifetime:path=/ivp/meters/readings"])
    records = poller(gateway).endpoint("meter_readings").records
    assert {r.wh_delivered for r in records if isinstance(r, MeterReading)} == {0}


def test_active_count_flicker_marks_the_ct_inactive(live: Any, poller: Any) -> None:
    gateway = live(METERED, faults=["active-count-flicker:rate=1"])
    records = poller(gateway).endpoint("production_json").records
    eim = [r for r in records if isinstance(r, SystemReading) and r.source == "eim"]
    assert eim and all(ReadingFlag.CT_INACTIVE in r.flags for r in eim)


def test_firmware_change_mid_run_brings_device_data(live: Any, poller: Any) -> None:
    gateway = live(METERED, faults=["firmware-change:at=+1h:to=8.2.4345"])
    polling = poller(gateway)
    assert polling.poll().status == "ok"
    assert "device_data" not in {e.endpoint for e in polling.poll().endpoints}
    gateway.clock.advance(timedelta(hours=2))
    polling.poll()  # planned with the old firmware, learns the new one from /info
    assert polling.state.firmware == "8.2.4345"
    result = polling.poll()
    assert result.status == "ok" and "device_data" in {e.endpoint for e in result.endpoints}


def test_counter_reset_restarts_the_meter_counters(live: Any, poller: Any) -> None:
    gateway = live(METERED, "2024-06-01T10:00", faults=["counter-reset:at=2024-06-01T11:00"])
    polling = poller(gateway)

    def delivered() -> float:
        records = polling.endpoint("meter_readings").records
        return next(r.wh_delivered for r in records if isinstance(r, MeterReading)) or 0.0

    assert delivered() > 1_000_000
    gateway.clock.advance(timedelta(hours=2))
    after = delivered()
    assert (
        0
        < after
        < gateway.truth(gateway.clock.now() - 3600, gateway.clock.now())["production"] * 1.01
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("sloww", "Unknown fault 'sloww'"),
        ("slow:rate=2", "rate must be a number from 0 to 1"),
        ("html200:speed=1", "unknown key 'speed'"),
        ("restart", "needs at="),
        ("restart:at=noon", "not an ISO-8601 time"),
        ("firmware-change:at=+1h,to=5.0.62", "same side of firmware 7"),
        ("hang:seconds=soon", "not a duration"),
        ("huge-body:size=60MB", "size must be a whole number of bytes"),
    ],
)
def test_bad_fault_specs_are_one_sentence(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_fault(spec, start=0, timezone="UTC", firmware="7.6.175")
    assert "\n" not in str(caught.value)


def test_faults_are_checked_before_anything_listens() -> None:
    with pytest.raises(ConfigError):
        SimulatedGateway(METERED, clock=ManualClock(0), faults=["nope"])


def test_iso_times_keep_their_colons() -> None:
    fault = parse_fault(
        "firmware-change:at=2024-06-01T12:00:30:to=8.2.4345",
        start=0,
        timezone="Europe/Berlin",
        firmware="7.6.175",
    )
    assert (fault.start, fault.to) == (1717236030.0, "8.2.4345")
    assert json.dumps(fault.spec)


def failures(result: Any) -> dict[str, str]:
    return {e.endpoint: e.error for e in result.endpoints if not e.ok}


def test_a_broken_chunk_framing_costs_that_endpoint_only_in_this_poll_and_the_next(
    live: Any, poller: Any
) -> None:
    gateway = live(METERED, faults=["bad-chunk:path=/production.json"])
    polling = poller(gateway)

    polls = [polling.poll(), polling.poll()]

    for result in polls:
        names = [e.endpoint for e in result.endpoints]
        assert names.index("production_json") < len(names) - 2  # endpoints follow it
        assert list(failures(result)) == ["production_json"]
        assert (
            "sent a broken answer to /production.json?details=1 (bad chunk size b'zz')"
            in (failures(result)["production_json"])
        )


def test_a_body_at_one_byte_a_second_ends_at_the_deadline_and_the_poll_goes_on(
    live: Any, poller: Any
) -> None:
    gateway = live(METERED, faults=["trickle:path=/production.json"])
    started = time.monotonic()

    result = poller(gateway, deadline_s=2.0).poll()

    assert list(failures(result)) == ["production_json"]
    assert (
        "did not answer /production.json?details=1 within 2 s"
        in failures(result)["production_json"]
    )
    assert time.monotonic() - started < 5  # the other endpoints answer at once


def test_a_content_length_that_lies_ends_at_the_deadline(live: Any, poller: Any) -> None:
    gateway = live(METERED, faults=["lying-length:path=/home"])
    started = time.monotonic()

    result = poller(gateway, deadline_s=1.0).poll()

    assert list(failures(result)) == ["home"]
    assert "did not answer /home within 1 s" in failures(result)["home"]
    assert time.monotonic() - started < 4


def test_an_oversized_body_is_refused_with_bounded_memory(live: Any, poller: Any) -> None:
    gateway = live(METERED, faults=["huge-body:path=/api/v1/production/inverters"])
    polling = poller(gateway)

    with peak_memory() as peak:
        result = polling.poll()

    assert list(failures(result)) == ["api_v1_inverters"]
    assert (
        "answered /api/v1/production/inverters with more than 4 MiB"
        in (failures(result)["api_v1_inverters"])
    )
    assert peak.bytes < 3 * MAX_BODY_BYTES  # 60 MB offered; the client and the simulator together
