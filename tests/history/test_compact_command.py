"""`envoylog compact`: what it says, running it twice, and a SIGKILL midway."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from exactness import differences, snapshot
from sqlalchemy import select
from week import local_days

from envoylog.cli import cli
from envoylog.db import Store, open_store
from envoylog.db.models import compacted_days, inverter_readings, meter_readings, system_readings

BERLIN = ZoneInfo("Europe/Berlin")


def per_day(store: Store) -> Counter[date]:
    """Readings per local day."""
    found: Counter[date] = Counter()
    with store.reading("counting") as conn:
        for table, column in (
            (meter_readings, "measured_at"),
            (system_readings, "measured_at"),
            (inverter_readings, "reported_at"),
        ):
            for (at,) in conn.execute(select(table.c[column])):
                found[at.astimezone(BERLIN).date()] += 1
    return found


def test_compact_says_what_it_did_and_then_that_nothing_is_left(week_sqlite: Path) -> None:
    args = ["compact", "--before", "2024-04-01", "--db", f"sqlite:///{week_sqlite}"]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert first.output.startswith("Compacted 4 gateway-day(s): ")
    second = CliRunner().invoke(cli, args)
    assert second.output.startswith("Nothing to compact")


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_compaction_killed_midway_loses_nothing_and_a_second_run_finishes_it(
    week_sqlite: Path, jobs: str
) -> None:
    url = f"sqlite:///{week_sqlite}"
    with open_store(url) as store:
        before, counts = snapshot(store), per_day(store)
    command = [sys.executable, "-m", "envoylog", "-v", "compact", "--before", "2030-01-01"]
    command += ["--jobs", jobs]  # 2: days planned in other processes as this one writes
    child = subprocess.Popen(
        [*command, "--db", url], stderr=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    assert child.stderr is not None
    for line in child.stderr:  # the first gateway-day committed: kill it within the next
        if "compacted gateway=" in line:
            child.send_signal(signal.SIGKILL)
            break
    child.wait(60)
    assert child.returncode == -signal.SIGKILL
    with open_store(url) as store:
        with store.reading("checking") as conn:
            done = {r.day: r for r in conn.execute(select(compacted_days))}
        now = per_day(store)
        assert 1 <= len(done) < len(local_days())  # midway
        for day, count in counts.items():  # every day whole: compacted, or as it was
            assert now[day] == (done[day].readings_after if day in done else count)
        second = CliRunner().invoke(cli, [*command[3:], "--db", url])
        assert second.exit_code == 0, second.output
        assert differences(before, snapshot(store)) == []


def children(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; its parent has not collected it yet


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_the_planning_processes_end_with_a_killed_compaction(week_sqlite: Path) -> None:
    """SIGKILL gives the command no chance to stop its pool: its planning processes must
    notice on their own (they used to wait for work forever, 90 MB each)."""
    command = [sys.executable, "-m", "envoylog", "-v", "compact", "--before", "2030-01-01"]
    command += ["--jobs", "2", "--db", f"sqlite:///{week_sqlite}"]
    child = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    assert child.stderr is not None
    for line in child.stderr:  # a day written: the pool is planning the next ones
        if "compacted gateway=" in line:
            started = children(child.pid)
            child.send_signal(signal.SIGKILL)
            break
    child.wait(60)
    assert child.returncode == -signal.SIGKILL
    assert len(started) >= 2  # the two planners (and multiprocessing's resource tracker)
    waited = time.monotonic() + 30
    while any(running(pid) for pid in started):
        assert time.monotonic() < waited, [pid for pid in started if running(pid)]
        time.sleep(0.1)
