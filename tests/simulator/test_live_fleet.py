"""Many independent gateways from one process."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest
import requests

from envoylog.errors import ConfigError
from envoylog.simulator import ManualClock, SimulatedFleet

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
CLOCK_START = datetime(2024, 6, 1, 12, tzinfo=UTC)


def test_a_fleet_serves_distinct_serials_sizes_and_wiring() -> None:
    with SimulatedFleet(8, clock=ManualClock(CLOCK_START)) as fleet:
        serials = set()
        for gateway in fleet:
            info = requests.get(gateway.url + "/info", timeout=5, verify=False)
            serials.add(info.text.split("<sn>")[1].split("</sn>")[0])
        assert serials == {g.serial for g in fleet} and len(serials) == 8
        assert len({g.profile.phase_count for g in fleet}) == 3
        assert len({g.profile.inverters for g in fleet}) > 4


def test_two_halves_of_a_fleet_serve_the_gateways_of_one_fleet() -> None:
    clock = ManualClock(CLOCK_START)
    with (
        SimulatedFleet(6, clock=clock) as whole,
        SimulatedFleet(3, clock=clock) as first,
        SimulatedFleet(3, clock=clock, first=3) as second,
    ):
        halves = [g.serial for g in first] + [g.serial for g in second]
        assert halves == [g.serial for g in whole]
        assert [g.profile.name for g in second] == [g.profile.name for g in whole][3:]


def test_a_fleet_listens_on_consecutive_ports() -> None:
    for _ in range(5):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        try:
            fleet = SimulatedFleet(
                3, profile="legacy-5.0-nonmetered", port=base, clock=ManualClock(CLOCK_START)
            )
        except ConfigError:
            continue  # another process took one of the ports: try elsewhere
        with fleet:
            assert [g.port for g in fleet] == [base, base + 1, base + 2]
            assert requests.get(fleet[2].url + "/info", timeout=5).status_code == 200
        return
    pytest.fail("no three consecutive free ports found")
