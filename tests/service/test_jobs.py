"""GatewayJob: cadences, quiet window, back-off and recovery, on a manual clock."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta

import pytest
from fakes import INFO, PRODUCTION, Answer, FakeGateway
from support import SAMPLE_DATA, fetched_at

from envoylog.errors import GatewayUnreachable, TokenError
from envoylog.records import PollResult
from envoylog.service.jobs import GatewayJob, Outcome, QuietWindow

START = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
HOME = b'{"timezone": "Europe/Berlin", "network": {}}'
THREE_PHASE, NO_CTS = "metered-three-phase-device-data", "metered-no-cts"


class Clock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def healthy_gateway() -> FakeGateway:
    return FakeGateway(
        {
            "/info": Answer(200, INFO, "text/xml"),
            "/home": Answer(200, HOME),
            "/production.json?details=1": Answer(200, PRODUCTION),
        }
    )


def make_job(gateway: FakeGateway, clock: Clock, **kwargs: object) -> tuple[GatewayJob, list]:
    stored: list[PollResult] = []
    job = GatewayJob(
        name="roof",
        client=gateway,
        submit=stored.append,
        cadences={},
        clock=clock,
        **kwargs,  # type: ignore[arg-type]
    )
    return job, stored


def test_each_endpoint_follows_its_own_cadence() -> None:
    clock, gateway = Clock(), healthy_gateway()
    job, _ = make_job(gateway, clock)
    asked: list[list[str]] = []
    for _ in range(6):  # six one-minute ticks
        gateway.asked.clear()
        job.run()
        asked.append(list(gateway.asked))
        clock.advance(60)
    assert "/home" in asked[0] and all("/home" not in a for a in asked[1:])
    assert all("/production.json?details=1" in a for a in asked)
    inverters = [i for i, a in enumerate(asked) if "/api/v1/production/inverters" in a]
    assert inverters == [0, 5]  # every five minutes


def test_cadence_override_and_zero_turns_an_endpoint_off() -> None:
    clock, gateway = Clock(), healthy_gateway()
    job, _ = make_job(gateway, clock)
    job.cadences = {"home": 0, "production_json": 120}
    job.run()
    clock.advance(60)
    gateway.asked.clear()
    job.run()
    assert "/home" not in gateway.asked and "/production.json?details=1" not in gateway.asked


def sample_clock(site: str) -> Clock:
    """A clock at the time the sample site was recorded: its instants are then on time."""
    return Clock(fetched_at(SAMPLE_DATA / site))


def sample_gateway(site: str) -> FakeGateway:
    """A gateway answering every endpoint with the files of a sample_data/ site."""
    folder = SAMPLE_DATA / site
    files = {
        "/info": "info",
        "/home": "home",
        "/ivp/meters": "ivp_meters",
        "/ivp/meters/readings": "ivp_meters_readings",
        "/production.json?details=1": "production.json_details_1",
        "/api/v1/production": "api_v1_production",
        "/api/v1/production/inverters": "api_v1_production_inverters",
    }
    return FakeGateway(
        {path: Answer(200, (folder / name).read_bytes()) for path, name in files.items()}
    )


def minutes_asking(job: GatewayJob, gateway: FakeGateway, clock: Clock, path: str) -> list[int]:
    """The minutes (of ten one-minute ticks, from minute 0) in which `job` asked for `path`."""
    asked = []
    for minute in range(10):
        gateway.asked.clear()
        job.run()
        if path in gateway.asked:
            asked.append(minute)
        clock.advance(60)
    return asked


def test_production_json_every_5_minutes_while_ct_readings_answer() -> None:
    clock, gateway = sample_clock(THREE_PHASE), sample_gateway(THREE_PHASE)
    job, stored = make_job(gateway, clock)
    assert minutes_asking(job, gateway, clock, "/production.json?details=1") == [0, 5]
    # The CT readings themselves are read, and answer, every minute.
    readings = [
        e for poll in stored for e in poll.endpoints if e.endpoint == "meter_readings" and e.ok
    ]
    assert len(readings) == 10


def test_production_json_every_minute_when_no_ct_is_read() -> None:
    # A metered gateway whose CTs are all disabled: its meter readings give nothing.
    clock, gateway = sample_clock(NO_CTS), sample_gateway(NO_CTS)
    job, _ = make_job(gateway, clock)
    assert minutes_asking(job, gateway, clock, "/production.json?details=1") == list(range(10))


def test_production_json_back_to_every_minute_when_ct_readings_fail() -> None:
    clock, gateway = sample_clock(THREE_PHASE), sample_gateway(THREE_PHASE)
    job, _ = make_job(gateway, clock)
    job.run()  # minute 0: everything, CT readings included
    clock.advance(60)
    gateway.table["/ivp/meters/readings"] = Answer(500, b"")
    # The first tick after the failure still counts on the CTs (production.json read a
    # minute ago); every later one reads production.json again.
    assert minutes_asking(job, gateway, clock, "/production.json?details=1") == list(range(1, 10))


def test_production_json_with_cts_cadence_can_be_set() -> None:
    clock, gateway = sample_clock(THREE_PHASE), sample_gateway(THREE_PHASE)
    job, _ = make_job(gateway, clock)
    job.cadences = {"production_json_with_cts": 120}
    assert minutes_asking(job, gateway, clock, "/production.json?details=1") == [0, 2, 4, 6, 8]
    clock, gateway = sample_clock(THREE_PHASE), sample_gateway(THREE_PHASE)
    job, _ = make_job(gateway, clock)
    job.cadences = {"production_json": 0}  # off stays off, CTs or not
    assert minutes_asking(job, gateway, clock, "/production.json?details=1") == []


def test_quiet_window_uses_the_gateways_own_timezone() -> None:
    clock, gateway = Clock(), healthy_gateway()
    job, stored = make_job(gateway, clock)
    assert job.run() is Outcome.POLLED  # learns Europe/Berlin from /home
    clock.now = datetime(2024, 6, 1, 21, 0, tzinfo=UTC)  # 23:00 in Berlin (CEST)
    assert job.run() is Outcome.QUIET
    clock.now = datetime(2024, 6, 1, 22, 0, tzinfo=UTC)  # 00:00 in Berlin
    assert job.run() is Outcome.POLLED
    assert len(stored) == 2


def test_quiet_window_across_midnight() -> None:
    window = QuietWindow(start=time(23, 50), end=time(0, 10))
    assert window.contains(time(23, 55)) and window.contains(time(0, 5))
    assert not window.contains(time(0, 10)) and not window.contains(time(12, 0))


def test_failures_back_off_exponentially_and_recover() -> None:
    clock = Clock()
    gateway = healthy_gateway()
    job, _ = make_job(gateway, clock, base_backoff_s=60, max_backoff_s=300)
    assert job.run() is Outcome.POLLED
    gateway.table["/production.json?details=1"] = GatewayUnreachable("connection refused")
    waits = []
    for _ in range(5):
        clock.advance(60)
        while job.run() is Outcome.BACKING_OFF:
            clock.advance(60)
        waits.append((job.health.retry_at - clock.now).total_seconds())
    assert waits == [60, 120, 240, 300, 300]  # doubling, capped
    assert job.health.consecutive_failures == 5
    gateway.table["/production.json?details=1"] = Answer(200, PRODUCTION)
    clock.advance(300)
    assert job.run() is Outcome.POLLED
    assert job.health.consecutive_failures == 0 and job.health.retry_at is None


def test_firmware_change_makes_every_endpoint_due_again() -> None:
    clock, gateway = Clock(), healthy_gateway()
    job, _ = make_job(gateway, clock)
    job.run()
    clock.advance(3600)
    gateway.table["/info"] = Answer(200, INFO.replace(b"D7.6.175", b"D8.2.4345"), "text/xml")
    job.run()
    assert job.state.firmware == "8.2.4345"
    clock.advance(60)
    gateway.asked.clear()
    job.run()
    assert "/home" in gateway.asked  # daily endpoint re-read after the change


def test_token_expiry_warns_once_a_day(caplog: pytest.LogCaptureFixture) -> None:
    clock, gateway = Clock(), healthy_gateway()
    expires = START + timedelta(days=10)
    job, _ = make_job(gateway, clock, token_expires_at=lambda: expires)
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            job.run()
            clock.advance(60)
    warnings = [r for r in caplog.records if "token_expiring" in r.getMessage()]
    assert len(warnings) == 1 and "days_left=10" in warnings[0].getMessage()
    assert job.health.token_expires_at == expires


def test_a_refused_token_backs_off_even_though_info_answers() -> None:
    clock = Clock()
    gateway = healthy_gateway()
    gateway.table["/home"] = TokenError("Gateway envoy.test refused the token")
    job, stored = make_job(gateway, clock)
    assert job.run() is Outcome.FAILED
    assert stored and job.health.retry_at == START + timedelta(seconds=60)
    assert "refused the token" in (job.health.last_error or "")


def test_a_held_first_poll_waits_a_tick_and_moves_the_grid_with_it() -> None:
    clock, gateway = Clock(), healthy_gateway()
    behind = [True, True, False]
    asked: list[bool] = []

    def hold() -> bool:
        asked.append(behind.pop(0))
        return asked[-1]

    job, stored = make_job(gateway, clock, hold_first=hold)
    job.first_tick_at = START
    outcomes, asked_of_gateway = [], []
    for _ in range(4):
        outcomes.append(job.run())
        asked_of_gateway.append(len(gateway.asked))
        clock.advance(60)
    assert outcomes == [Outcome.HELD, Outcome.HELD, Outcome.POLLED, Outcome.POLLED]
    assert asked_of_gateway[:2] == [0, 0] and asked_of_gateway[2] > 0  # nothing asked held
    assert len(stored) == 2 and job.started and job.held == 2
    assert job.first_tick_at == START + timedelta(minutes=2)  # the tick it first polled at
    assert len(asked) == 3  # once started, never asked again: only a first poll waits
