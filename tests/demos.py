"""`envoylog demo` databases for the report and export tests, made once per test session.

Each demo logs a whole simulated day (about 15 s of CPU); they are made two at a
time in worker processes, the first time a test asks for any of them.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from envoylog.simulator.profiles import PROFILES

PLAIN_DAY = date(2024, 10, 27)  # fall-back day in Europe: 25 local hours in Berlin and London
SUNNY_DAY = date(2024, 6, 21)  # long enough for inverter 3 of the simulator to wrap its counter
# A gateway answering HTML for an hour: a gap of an hour and parse failures.
OUTAGE = "html200:from=2024-06-21T10:00:00,until=2024-06-21T11:00:00"
FAULTED = "metered-three-phase-device-data"


@dataclass(frozen=True, slots=True)
class Demo:
    profile: str
    day: date
    faults: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.profile}-{self.day}{'-faulted' if self.faults else ''}"


DEMOS = (
    *(Demo(profile, PLAIN_DAY) for profile in sorted(PROFILES)),
    Demo(FAULTED, SUNNY_DAY, (OUTAGE,)),
)


def _run(demo: Demo, folder: Path) -> Path:
    from envoylog.demo import run_demo

    path = folder / f"{demo.name}.sqlite"
    run_demo(path, profile=demo.profile, day=demo.day, faults=demo.faults)
    return path


def make_all(folder: Path) -> dict[str, Path]:
    """Every demo database, by name."""
    spawn = multiprocessing.get_context("spawn")  # no fork of a process with threads
    with ProcessPoolExecutor(max_workers=2, mp_context=spawn) as pool:
        paths = pool.map(_run, DEMOS, [folder] * len(DEMOS))
        return {demo.name: path for demo, path in zip(DEMOS, paths, strict=True)}
