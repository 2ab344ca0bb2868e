"""A fleet in several `envoylog run` processes against one PostgreSQL: each polls its own
gateways; a gateway configured in two is polled by one, and by the other within a tick
once the first is killed (simulated gateways over real sockets, 5 s ticks)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from envoylog.simulator import SimulatedFleet, SimulatedGateway

pytestmark = pytest.mark.postgres

PROFILE = "legacy-5.0-nonmetered"  # plain HTTP + digest: no token needed
PRODUCTION = "/production.json?details=1"  # asked once by every poll at these cadences


class Instance:
    """One `envoylog run` process with its own config, state folder and log file."""

    def __init__(self, folder: Path, pg_url: str, gateways: dict[str, SimulatedGateway]):
        self.folder = folder
        folder.mkdir()
        self.config = folder / "envoylog.toml"
        tables = "".join(
            f'\n[[gateway]]\nname = "{name}"\nhost = "{gateway.url}"\n'
            for name, gateway in gateways.items()
        )
        self.config.write_text(
            f'database = "{pg_url}"\nspool_dir = "{folder / "spool"}"\n'
            # No quiet window: the tests run on the real clock, at any hour.
            'quiet_start = "00:00"\nquiet_end = "00:00"\n\n'
            "[cadence]\nproduction_json = 5\napi_v1_inverters = 5\n" + tables
        )
        self.log = folder / "run.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Instance:
        environ = {
            **os.environ,
            "XDG_STATE_HOME": str(self.folder / "state"),
            "ENVOYLOG_CONFIG": str(self.config),
            "WATCHDOG_USEC": "2000000",  # the status file every second
        }
        environ.pop("ENVOYLOG_DB", None)
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "envoylog", "run"], env=environ, stdout=log, stderr=log
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def status(self) -> dict[str, Any]:
        path = self.folder / "state" / "envoylog" / "status.json"
        try:
            document: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        return document

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=40)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def started(tmp_path: Path) -> Iterator[Callable[..., Instance]]:
    instances: list[Instance] = []

    def start(name: str, pg_url: str, gateways: dict[str, SimulatedGateway]) -> Instance:
        instances.append(Instance(tmp_path / name, pg_url, gateways).start())
        return instances[-1]

    yield start
    for instance in instances:
        instance.kill()


def polls_by_serial(pg_url: str) -> dict[str, int]:
    """Polls stored so far, by gateway serial (none while the schema is being made)."""
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT g.serial, count(*) FROM polls p JOIN gateways g "
                    "ON g.id = p.gateway_id GROUP BY g.serial"
                )
            ).all()
    except sa.exc.ProgrammingError:
        return {}
    finally:
        engine.dispose()
    return {str(serial): int(count) for serial, count in rows}


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> float:
    """Wait until ``predicate`` holds; return the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout:g} s")


def asked(gateway: SimulatedGateway) -> int:
    return sum(1 for r in gateway.requests if r.path == PRODUCTION)


def test_disjoint_gateways_are_each_polled_by_their_process_and_stored_once(
    pg_url: str, started: Callable[..., Instance]
) -> None:
    with SimulatedFleet(3, profile=PROFILE) as fleet:
        one = started("one", pg_url, {"g1": fleet[0], "g2": fleet[1]})
        two = started("two", pg_url, {"g3": fleet[2]})
        serials = {g.serial for g in fleet}
        wait_for(
            lambda: all(polls_by_serial(pg_url).get(s, 0) >= 2 for s in serials),
            timeout=40,
            what="two polls of every gateway stored",
        )
        assert (one.stop(), two.stop()) == (0, 0), one.output() + two.output()
        stored = polls_by_serial(pg_url)
        made = {g.serial: asked(g) for g in fleet}
    assert stored == made  # every poll made was stored, once
    assert one.status()["polls_written"] + two.status()["polls_written"] == sum(made.values())
    assert set(one.status()["gateways"]) == {"g1", "g2"}
    assert set(two.status()["gateways"]) == {"g3"}
    assert "gateway_polled_elsewhere" not in one.output() + two.output()


def test_a_gateway_in_two_processes_is_polled_by_one_and_taken_over_when_it_dies(
    pg_url: str, started: Callable[..., Instance]
) -> None:
    with SimulatedGateway(PROFILE) as gateway:
        serial = gateway.serial
        owner = started("owner", pg_url, {"roof": gateway})
        wait_for(lambda: polls_by_serial(pg_url).get(serial), 30, "the owner's first poll")
        other = started("other", pg_url, {"roof": gateway})
        said = f"gateway_polled_elsewhere gateway=roof serial={serial} by=envoylog/"
        wait_for(lambda: said in other.output(), 30, "the other process saying who polls it")
        assert f"/{owner.pid}\n" in other.output().split(said, 1)[1]  # by=envoylog/<host>/<pid>
        polled = polls_by_serial(pg_url)[serial]
        wait_for(lambda: polls_by_serial(pg_url)[serial] >= polled + 2, 30, "two more polls")
        status = other.status()["gateways"]["roof"]
        assert status["polled_elsewhere"].endswith(f"/{owner.pid}")
        assert other.status()["polls_written"] == other.status()["polls_spooled"] == 0

        owner.kill()  # SIGKILL: its session ends, PostgreSQL releases its lock
        killed = polls_by_serial(pg_url)[serial]
        took_s = wait_for(
            lambda: polls_by_serial(pg_url)[serial] >= killed + 2, 60, "polls by the other"
        )
        assert other.stop() == 0, other.output()
    assert took_s < 60
    assert f"gateway_taken_over gateway=roof serial={serial}" in other.output()
    assert other.status()["gateways"]["roof"]["polled_elsewhere"] is None
    assert other.status()["polls_written"] >= 2
