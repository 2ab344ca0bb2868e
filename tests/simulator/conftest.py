"""Helpers for the living simulator's tests: a manual clock and envoylog's own client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from envoylog.client import Credentials, GatewayClient
from envoylog.poller import GatewayState, poll_once
from envoylog.records import EndpointResult, PollResult
from envoylog.simulator import ManualClock, SimulatedGateway
from envoylog.simulator.profiles import get_profile

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")


def local(profile: str, iso: str) -> datetime:
    """An instant given in the profile's own local time."""
    zone = ZoneInfo(get_profile(profile).timezone)
    return datetime.fromisoformat(iso).replace(tzinfo=zone)


def client_for(gateway: SimulatedGateway, **options: Any) -> GatewayClient:
    """envoylog's client for a simulated gateway: its token, and no real sleeping."""
    options.setdefault("sleep", lambda seconds: None)
    return GatewayClient(gateway.url, credentials=Credentials(token=gateway.token), **options)


class Poller:
    """Polls one simulated gateway with envoylog's client and poller, state kept, on the
    gateway's own clock (a logger whose clock agrees with the gateway's)."""

    def __init__(self, gateway: SimulatedGateway, **options: Any) -> None:
        self.client = client_for(gateway, **options)
        self.state = GatewayState(host=gateway.url)
        self.gateway = gateway

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.gateway.clock.now(), UTC)

    def poll(self) -> PollResult:
        return poll_once(self.client, self.state, clock=self.now)

    def endpoint(self, name: str) -> EndpointResult:
        return next(e for e in self.poll().endpoints if e.endpoint == name)


@pytest.fixture
def poller() -> type[Poller]:
    """``poller(gateway)`` -> a Poller using envoylog's client."""
    return Poller


@pytest.fixture
def live(request: pytest.FixtureRequest) -> Iterator[Any]:
    """``live(profile, start_iso, **options)`` -> a started gateway on a manual clock."""
    started: list[SimulatedGateway] = []

    def make(profile: str, start: str = "2024-06-01T09:00", **options: Any) -> SimulatedGateway:
        clock = options.pop("clock", None) or ManualClock(local(profile, start))
        gateway = SimulatedGateway(profile, clock=clock, **options).start()
        started.append(gateway)
        return gateway

    yield make
    for gateway in started:
        gateway.close()
