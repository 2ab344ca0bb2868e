"""`envoylog compact --jobs N`: on PostgreSQL, days compacted at once in N processes; on
SQLite (one writer at a time), days planned in N processes while this one writes each.
Either way the rollups come out the same, a process that dies costs one sentence and no
day, and on SQLite a day another program changed after its plan was made is planned
again."""

from __future__ import annotations

import os
import sqlite3
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from exactness import LATER, STEP, differences, snapshot
from sqlalchemy import select
from week import fill, local_days

from envoylog.cli import cli
from envoylog.db import open_store
from envoylog.db.models import (
    compacted_days,
    inverter_readings,
    meter_readings,
    phase_table,
    poll_endpoints,
    polls,
    system_readings,
)
from envoylog.db.types import sqlite_text
from envoylog.energy.periods import local_midnight
from envoylog.history import compact as compact_module
from envoylog.history.compact import compact

ZONE = "Europe/Berlin"


@pytest.fixture
def week_url(backend: str, request: pytest.FixtureRequest) -> str:
    """The faulted week, in a database of the backend's own."""
    if backend == "sqlite":
        return f"sqlite:///{request.getfixturevalue('week_sqlite')}"
    url: str = request.getfixturevalue("pg_url")
    with open_store(url) as store:
        fill(store)  # a wrap, restart zeros, a reset, a gap across midnight, a DST day
    return url


def compacted(url: str) -> set[date]:
    with open_store(url) as store, store.reading("compacted days") as conn:
        return set(conn.execute(select(compacted_days.c.day)).scalars())


def test_days_compacted_with_two_jobs_roll_up_to_the_same_energy(week_url: str) -> None:
    with open_store(week_url) as store:
        before = snapshot(store)
    args = ["compact", "--db", week_url, "--before", "2030-01-01", "--jobs", "2"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    days = compacted(week_url)
    assert len(days) >= len(local_days())
    assert f"Compacted {len(days)} gateway-day(s)" in result.output
    with open_store(week_url) as store:
        assert differences(before, snapshot(store)) == []
    again = CliRunner().invoke(cli, args)
    assert "Nothing to compact" in again.output


def test_a_compacting_process_that_dies_costs_one_sentence_and_no_day(
    week_url: str, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dying

    with open_store(week_url) as store:
        before = snapshot(store)  # rolled up
    if backend == "sqlite":  # the processes plan; this one writes
        monkeypatch.setattr(compact_module, "_worker_plan", dying.plan_or_die)
    else:
        monkeypatch.setattr(compact_module, "_worker_day", dying.compact_or_die)
    args = ["compact", "--db", week_url, "--before", "2030-01-01", "--jobs", "2"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "stopped (killed, or out of memory)" in result.output
    assert "run envoylog compact again" in result.output
    assert "Traceback" not in result.output
    assert dying.DIES_ON not in compacted(week_url)
    monkeypatch.undo()
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert dying.DIES_ON in compacted(week_url)
    with open_store(week_url) as store:
        assert differences(before, snapshot(store)) == []


def stored(path: Path) -> dict[str, list[Any]]:
    """Every row compaction writes, as SQLite holds it (compacted_at aside)."""
    columns = {
        table.name: [c.name for c in table.c if c.name != "compacted_at"]
        for table in (
            meter_readings,
            system_readings,
            phase_table("sqlite"),
            inverter_readings,
            polls,
            poll_endpoints,
            compacted_days,
        )
    }
    with sqlite3.connect(path) as conn:
        return {
            name: sorted(conn.execute(f"SELECT {', '.join(names)} FROM {name}").fetchall())
            for name, names in columns.items()
        }


def test_on_sqlite_two_jobs_write_the_rows_one_process_writes(
    week_sqlite: Path, tmp_path: Path
) -> None:
    alone = tmp_path / "alone.sqlite"
    alone.write_bytes(week_sqlite.read_bytes())
    for path, jobs in ((alone, "1"), (week_sqlite, "2")):
        args = ["compact", "--db", str(path), "--before", "2030-01-01", "--jobs", jobs]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
    assert stored(week_sqlite) == stored(alone)
    assert len(stored(alone)["compacted_days"]) >= len(local_days())


def change_a_reading(path: Path, day: date) -> None:
    """What a late poll's upsert does, from another program: the production CT's power
    at the day's local noon, 500 W more."""
    noon = sqlite_text(local_midnight(day, ZONE) + timedelta(hours=12))
    with sqlite3.connect(path) as conn:
        changed = conn.execute(
            "UPDATE meter_readings SET watts = watts + 500, watts_max = watts + 500 "
            "WHERE measured_at = ? AND channel = 0 AND meter_id = "
            "(SELECT id FROM meters WHERE measurement_type = 'production')",
            (noon,),
        ).rowcount
    assert changed == 1


def test_on_sqlite_a_day_changed_after_its_plan_was_made_is_planned_again(
    week_sqlite: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import marking

    url = f"sqlite:///{week_sqlite}"
    with open_store(url) as store:
        targets = compact_module.pending(store, now=LATER, window_days=0, before=date(2030, 1, 1))
    # The second day written, the pool has planned (or is planning) the next four.
    day = targets[3].day
    alone = tmp_path / "alone.sqlite"  # the same change, compacted by a lone process
    alone.write_bytes(week_sqlite.read_bytes())
    change_a_reading(alone, day)
    with open_store(f"sqlite:///{alone}") as store:
        compact(store, now=LATER, window_days=0, step=STEP, before=date(2030, 1, 1))

    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setenv("ENVOYLOG_TEST_MARKS", str(marks))
    monkeypatch.setattr(compact_module, "_worker_plan", marking.plan_and_mark)

    def progress(done: int, total: int) -> None:
        if done == 2:  # the day's plan made, another program changes the day
            waited = time.monotonic() + 120
            while not (marks / day.isoformat()).exists():
                assert time.monotonic() < waited, "the day was never planned"
                time.sleep(0.05)
            change_a_reading(week_sqlite, day)

    with open_store(url) as store:
        summary = compact(
            store,
            now=LATER,
            window_days=0,
            step=STEP,
            before=date(2030, 1, 1),
            progress=progress,
            jobs=2,
        )
    assert summary.days == len(targets) and summary.changed == 0
    assert stored(week_sqlite) == stored(alone)


def compact_beside_another_program(url: str, jobs: int) -> None:
    """Compact the week; once its first day is written, another program (the service, a
    second `envoylog compact`) compacts the rest."""
    with open_store(url) as store:
        before = snapshot(store)

        def progress(done: int, total: int) -> None:
            if done == 1:
                with open_store(url) as other:
                    assert compact(other, now=LATER, window_days=0, step=STEP).days == total - 1

        summary = compact(store, now=LATER, window_days=0, step=STEP, progress=progress, jobs=jobs)
        assert summary.days == 1 and summary.elsewhere >= len(local_days()) - 1
        assert summary.changed == summary.skipped == 0
        assert differences(before, snapshot(store)) == []


def test_days_another_program_compacted_meanwhile_are_left_to_it(week_url: str) -> None:
    compact_beside_another_program(week_url, jobs=1)


def test_on_sqlite_days_compacted_meanwhile_are_left_to_it_with_two_jobs(
    week_sqlite: Path,
) -> None:
    # On PostgreSQL the processes compact days at once, racing the other program (a day
    # both take is left to the next run: test_concurrent_writes.py).
    compact_beside_another_program(f"sqlite:///{week_sqlite}", jobs=2)


def test_compact_plans_in_as_many_processes_as_cores_unless_told(
    week_sqlite: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --jobs a year's compaction uses the machine (two cores here): the days
    after the first are planned in other processes. --jobs 1 plans every day here."""
    import marking

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setenv("ENVOYLOG_TEST_MARKS", str(marks))
    monkeypatch.setattr(compact_module, "_worker_plan", marking.plan_and_mark)
    alone = tmp_path / "alone.sqlite"
    alone.write_bytes(week_sqlite.read_bytes())
    for path, extra in ((alone, ["--jobs", "1"]), (week_sqlite, [])):
        args = ["compact", "--db", f"sqlite:///{path}", "--before", "2030-01-01", *extra]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        if extra:
            assert not any(marks.iterdir())
    days = compacted(f"sqlite:///{week_sqlite}")
    assert {m.name for m in marks.iterdir()} == {d.isoformat() for d in sorted(days)[1:]}
    assert stored(week_sqlite) == stored(alone)


@pytest.mark.parametrize(("cores", "jobs"), [(1, 1), (2, 2), (4, 4), (16, 4)])
def test_the_default_jobs_are_the_usable_cores_at_most_four(
    cores: int, jobs: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    assert compact_module.default_jobs() == jobs
