"""The store worker's hourly rollups recompute only the days new readings reach back to;
its 6-hourly pass over the last two days leaves the tables as a full recompute would."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from support import simulated_job

from envoylog.db import Spool, Writer, open_store
from envoylog.energy.rollup import rollup
from envoylog.records import PollResult
from envoylog.service import worker as worker_module
from envoylog.service.worker import FULL_ROLLUP_EVERY_S, ROLLUP_INTERVAL_S, StoreWorker
from envoylog.simulator import ManualClock, SimulatedGateway

TABLES = ("energy_hourly", "energy_daily", "energy_monthly", "inverter_daily")
TICK_S = 600


def energy_rows(db_url: str) -> dict[str, list[tuple[object, ...]]]:
    engine = sa.create_engine(db_url)
    found = {}
    with engine.connect() as conn:
        for table in TABLES:
            result = conn.execute(sa.text(f"SELECT * FROM {table}"))
            keep = [i for i, name in enumerate(result.keys()) if name != "computed_at"]
            found[table] = sorted(tuple(row[i] for i in keep) for row in result)
    engine.dispose()
    return found


def recomputed(db_file: Path) -> dict[str, list[tuple[object, ...]]]:
    """The energy tables after a full recompute of every day, done on a copy."""
    copy = db_file.with_name("recomputed.sqlite")
    copy.unlink(missing_ok=True)
    with closing(sqlite3.connect(db_file)) as source, closing(sqlite3.connect(copy)) as target:
        source.backup(target)  # what the WAL holds too
    with open_store(f"sqlite:///{copy}") as store:
        rollup(store)
    return energy_rows(f"sqlite:///{copy}")


def test_rolling_rollups_across_a_night_gap_match_a_full_recompute(tmp_path: Path) -> None:
    # metered-split-phase is in New York: polls 20:00-22:00 on 10 June, none until
    # 04:00 on 11 June, then until 06:00. The 04:00 poll's energy reaches back into
    # 10 June, which the hourly rollup after it must recompute.
    sim_clock = ManualClock(datetime(2026, 6, 11, 0, 0, tzinfo=UTC))
    monotonic = [0.0]
    db_file = tmp_path / "rolling.sqlite"
    db_url = f"sqlite:///{db_file}"
    worker = StoreWorker(Writer(db_url, tmp_path / "spool"), monotonic=lambda: monotonic[0])
    with SimulatedGateway("metered-split-phase", clock=sim_clock) as gateway:
        client, job = simulated_job(gateway, sim_clock, worker.submit, tick_s=TICK_S)

        def poll(then_wait_s: float) -> None:
            job.run()
            worker.queue.join()  # written, and rolled up when due
            sim_clock.advance(TICK_S)
            monotonic[0] += then_wait_s

        worker.start()
        try:
            for _ in range(2):
                for _ in range(13):
                    poll(TICK_S)  # a rolling rollup every 6 polls
                sim_clock.advance(6 * 3600 - TICK_S)
            poll(ROLLUP_INTERVAL_S)
            poll(0)
            assert worker.rollups == 26 * TICK_S // ROLLUP_INTERVAL_S + 1
            rolling = energy_rows(db_url)
            after_rolling = recomputed(db_file)
            poll(FULL_ROLLUP_EVERY_S)
            poll(0)
            after_full_pass = energy_rows(db_url)
        finally:
            worker.stop()
            worker.join(60)
            client.close()

    assert {row[1] for row in rolling["energy_daily"]} >= {"2026-06-10", "2026-06-11"}
    # The gateway's counters (CT meters) reach back only: the rolling rollups are exact.
    for table in ("energy_hourly", "energy_daily", "energy_monthly"):
        assert rolling[table] == after_rolling[table]
    # An inverter's last day can still move with the reports after it: the pass settles it.
    assert after_full_pass == recomputed(db_file)


def test_a_retired_inverter_does_not_pull_each_rollup_back_years(tmp_path: Path) -> None:
    # The three-phase site lists a removed inverter whose last report is years old
    # (QUIRKS 23), in every device_data poll. Hourly rollups must recompute the days new
    # readings reach (today, and the day before across a gap) and no more, and write no
    # energy rows for days before the first poll.
    sim_clock = ManualClock(datetime(2026, 6, 10, 10, 0, tzinfo=UTC))  # noon in Berlin
    monotonic = [0.0]
    db_url = f"sqlite:///{tmp_path / 'retired.sqlite'}"
    worker = StoreWorker(Writer(db_url, tmp_path / "spool"), monotonic=lambda: monotonic[0])
    engine = sa.create_engine(db_url)

    def computed_at() -> dict[str, object]:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT day, computed_at FROM energy_daily"))
            return {str(day): at for day, at in rows}

    with SimulatedGateway("metered-three-phase-device-data", clock=sim_clock) as gateway:
        client, job = simulated_job(gateway, sim_clock, worker.submit, tick_s=TICK_S)

        def polls(count: int) -> None:
            for _ in range(count):
                job.run()
                worker.queue.join()  # written, and rolled up when due
                sim_clock.advance(TICK_S)
                monotonic[0] += TICK_S

        worker.start()
        try:
            polls(12)  # two hours of 10 June: two rollups
            sim_clock.advance(3 * 86400)
            polls(7)  # 13 June: the first poll reaches back into 10 June, rolled up once
            before = computed_at()
            polls(6)  # another hour of 13 June: one more rollup, of 13 June alone
            after = computed_at()
        finally:
            worker.stop()
            worker.join(60)
            client.close()
            engine.dispose()

    assert worker.rollups == 4
    assert min(before) == "2026-06-10"  # no rows for the years since the retired report
    with closing(sqlite3.connect(tmp_path / "retired.sqlite")) as conn:
        [first_inverter_day] = conn.execute("SELECT min(day) FROM inverter_daily").fetchone()
    assert first_inverter_day == "2026-06-10"
    assert after["2026-06-13"] != before["2026-06-13"]
    assert {day: at for day, at in after.items() if day != "2026-06-13"} == {
        day: at for day, at in before.items() if day != "2026-06-13"
    }


SITES = ("metered-split-phase", "metered-three-phase-device-data", "modern-7.6-nonmetered")


def two_polls_each(sites: tuple[str, ...]) -> dict[str, list[PollResult]]:
    """Two polls, ten minutes apart, of each site's simulated gateway, by serial."""
    sim_clock = ManualClock(datetime(2026, 6, 10, 16, 0, tzinfo=UTC))
    made: dict[str, list[PollResult]] = {}
    for site in sites:
        with SimulatedGateway(site, clock=sim_clock) as gateway:
            submit = made.setdefault(gateway.profile.serial, []).append
            client, job = simulated_job(gateway, sim_clock, submit, tick_s=TICK_S)
            for _ in range(2):
                job.run()
                sim_clock.advance(TICK_S)
            client.close()
    return made


def a_round_begins(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    made: dict[str, list[PollResult]],
    arriving: list[PollResult],
) -> tuple[list[tuple[str, str]], StoreWorker]:
    """What a store worker writes and rolls up from the start of a round on, to its stop.

    Each gateway's first poll is stored, then the second gateway's second poll, whose
    write starts the round; ``arriving`` is handed over while the round's first gateway
    is rolled up.
    """
    second = list(made)[1]
    monotonic = [0.0]
    worker = StoreWorker(
        Writer(f"sqlite:///{tmp_path / 'round.sqlite'}", tmp_path / "spool"),
        monotonic=lambda: monotonic[0],
    )
    events: list[tuple[str, str]] = []
    real_rollup, real_write = worker_module.rollup_recent, worker.writer.write_many

    def rollup_recent(*args: object, **kwargs: object) -> object:
        [serial] = kwargs["since"]  # type: ignore[misc]
        events.append(("rollup", serial))
        while arriving:
            worker.submit(arriving.pop(0))
        return real_rollup(*args, **kwargs)  # type: ignore[arg-type]

    def write_many(polls: list[tuple[int, PollResult]], **kwargs: Any) -> object:
        events.extend(("write", poll.gateway.serial) for _, poll in polls)
        return real_write(polls, **kwargs)

    monkeypatch.setattr(worker_module, "rollup_recent", rollup_recent)
    monkeypatch.setattr(worker.writer, "write_many", write_many)
    worker.start()
    try:
        for serial in made:
            worker.submit(made[serial][0])
        worker.queue.join()
        assert [kind for kind, _ in events] == ["write"] * len(made)  # no rollup due yet
        monotonic[0] = ROLLUP_INTERVAL_S
        worker.submit(made[second][1])
        worker.queue.join()
    finally:
        worker.stop()
        worker.join(60)
    return events[len(made) :], worker


def test_polls_waiting_are_stored_between_the_gateways_of_a_rollup_round(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A round recomputes one gateway at a time: a poll handed over meanwhile is stored
    # before the next gateway's rollup once the round has had its share (none here), so a
    # fleet's hourly round never holds polls back.
    monkeypatch.setattr(worker_module, "ROLL_AT_LEAST_S", 0.0)
    made = two_polls_each(SITES)
    first, second, _ = made
    events, worker = a_round_begins(tmp_path, monkeypatch, made, [made[first][1]])

    assert events[0] == ("write", second)  # this write starts the round
    assert [kind for kind, _ in events[1:5]] == ["rollup", "write", "rollup", "rollup"]
    assert events[2] == ("write", first)  # stored between two gateways' rollups
    assert {serial for kind, serial in events[1:5] if kind == "rollup"} == set(made)
    assert worker.rollups >= 1


def test_a_rollup_round_waits_whole_while_the_store_falls_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Two polls arrive while the round's first gateway is rolled up: the queue is at the
    # mark where the store falls behind (2 here, two batches in the service), so the
    # round stops at once, its share of time left (60 s here) notwithstanding, and goes
    # on only once they are stored.
    monkeypatch.setattr(worker_module, "ROLL_AT_LEAST_S", 60.0)
    monkeypatch.setattr(worker_module, "HOLD_FIRST_POLLS_AT", 2)
    caplog.set_level("INFO", logger="envoylog.service.worker")
    made = two_polls_each(SITES)
    first, second, third = made
    events, _ = a_round_begins(tmp_path, monkeypatch, made, [made[first][1], made[third][1]])

    assert events[0] == ("write", second)  # this write starts the round
    in_round = events[1:6]  # the stop's round, of the two written since, follows
    assert [kind for kind, _ in in_round] == ["rollup", "write", "write", "rollup", "rollup"]
    assert {serial for kind, serial in in_round if kind == "write"} == {first, third}
    assert {serial for kind, serial in in_round if kind == "rollup"} == set(made)
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("rollup_round")]
    assert said[0].startswith("rollup_round_waits gateways_left=2 polls_waiting=2: ")
    assert said[1].startswith("rollup_round_goes_on waited_s=")
    assert len(said) == 2  # once a wait, not once a batch


def test_a_failed_gateway_rollup_is_logged_and_retried_next_round(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    made = two_polls_each(SITES)
    monotonic = [0.0]
    db_url = f"sqlite:///{tmp_path / 'failed.sqlite'}"
    worker = StoreWorker(Writer(db_url, tmp_path / "spool"), monotonic=lambda: monotonic[0])
    failing = [list(made)[-1]]  # the first one the round takes: the others wait too
    rolled: list[str] = []
    real_rollup = worker_module.rollup_recent

    def rollup_recent(*args: object, **kwargs: object) -> object:
        [serial] = kwargs["since"]  # type: ignore[misc]
        if serial in failing:
            failing.remove(serial)
            raise OSError("disk I/O error")
        rolled.append(serial)
        return real_rollup(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(worker_module, "rollup_recent", rollup_recent)
    worker.start()
    try:
        for polls in made.values():
            worker.submit(polls[0])
        worker.queue.join()
        monotonic[0] = ROLLUP_INTERVAL_S  # the next write starts a round, which fails
        for polls in made.values():
            worker.submit(polls[1])
        worker.queue.join()
        after_failure = worker.rollups
        monotonic[0] = 2 * ROLLUP_INTERVAL_S  # stopping rolls up what is left
    finally:
        worker.stop()
        worker.join(60)

    assert worker.written == 6  # every poll stored
    assert after_failure == 0
    assert "rollup_failed gateway=" in caplog.text and "disk I/O error" in caplog.text
    assert set(rolled) == set(made)  # the failed gateway's turn came in the next round
    with closing(sqlite3.connect(tmp_path / "failed.sqlite")) as conn:
        [gateways] = conn.execute("SELECT count(DISTINCT gateway_id) FROM energy_daily").fetchone()
    assert gateways == 3


def log_polls(
    tmp_path: Path, sim_clock: ManualClock, polls: int, **worker_options: Any
) -> StoreWorker:
    """A store worker's whole run, from start to stop, over ``polls`` ticks of a gateway."""
    db_url = f"sqlite:///{tmp_path / 'restart.sqlite'}"
    worker = StoreWorker(Writer(db_url, tmp_path / "spool"), **worker_options)
    worker.replay_spool()
    with SimulatedGateway("metered-split-phase", clock=sim_clock) as gateway:
        client, job = simulated_job(gateway, sim_clock, worker.submit, tick_s=TICK_S)
        worker.start()
        try:
            for _ in range(polls):
                job.run()
                worker.queue.join()
                sim_clock.advance(TICK_S)
        finally:
            worker.stop()
            worker.join(60)
            client.close()
    return worker


def pending_file(tmp_path: Path) -> Path:
    """Where the rollups a stop left wait: in the spool folder of log_polls's database."""
    spool = Spool(tmp_path / "spool", f"sqlite:///{tmp_path / 'restart.sqlite'}")
    return spool.directory / worker_module.PENDING_FILE


def test_a_stop_out_of_time_leaves_its_rollups_to_the_next_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fleet's last hour can take minutes to roll up; systemd kills a slow stop.
    sim_clock = ManualClock(datetime(2026, 6, 10, 16, 0, tzinfo=UTC))
    db_file = tmp_path / "restart.sqlite"
    pending = pending_file(tmp_path)
    monkeypatch.setattr(worker_module, "STOP_ROLLUP_S", 0.0)
    log_polls(tmp_path, sim_clock, 12)
    assert not any(energy_rows(f"sqlite:///{db_file}").values())
    assert pending.exists()

    monkeypatch.setattr(worker_module, "STOP_ROLLUP_S", 30.0)
    restarted = log_polls(tmp_path, sim_clock, 0)  # started and stopped, no poll
    assert restarted.rollups == 1
    assert not pending.exists()
    rolled = energy_rows(f"sqlite:///{db_file}")
    assert {row[1] for row in rolled["energy_daily"]} == {"2026-06-10"}
    assert rolled == recomputed(db_file)


def test_a_rollup_the_stop_cuts_short_is_left_for_the_next_start_without_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A fleet's round under way when systemd stops the service: the stop's deadline cuts
    # the gateway's rollup in its statement. That is no database failure, and no error.
    sim_clock = ManualClock(datetime(2026, 6, 10, 16, 0, tzinfo=UTC))
    monkeypatch.setattr(worker_module, "STOP_ROLLUP_S", 2.0)
    real_rollup = worker_module.rollup_recent

    def slow_rollup(store: Any, *args: Any, **kwargs: Any) -> object:
        with store.engine.connect() as conn:  # a day that takes longer than the stop has
            conn.exec_driver_sql(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 300000000)"
                " SELECT max(x) FROM c"
            )
        return real_rollup(store, *args, **kwargs)

    monkeypatch.setattr(worker_module, "rollup_recent", slow_rollup)
    caplog.set_level("INFO", logger="envoylog.service.worker")
    worker = log_polls(tmp_path, sim_clock, 3)

    assert worker.rollups == 0
    assert "rollup_cut_by_stop gateway=" in caplog.text
    assert "rollups_deferred gateways=1" in caplog.text
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert pending_file(tmp_path).exists()


def test_a_restart_days_later_rolls_up_what_a_crash_left(tmp_path: Path) -> None:
    # Rollups off stands for a crash: the readings stored, their rollup lost.
    sim_clock = ManualClock(datetime(2026, 6, 10, 16, 0, tzinfo=UTC))
    db_file = tmp_path / "restart.sqlite"
    log_polls(tmp_path, sim_clock, 12, rollup_interval_s=None)
    assert not any(energy_rows(f"sqlite:///{db_file}").values())

    sim_clock.advance(3 * 86400)  # down three days, then one poll
    log_polls(tmp_path, sim_clock, 1)
    rolled = energy_rows(f"sqlite:///{db_file}")
    assert "2026-06-10" in {row[1] for row in rolled["energy_daily"]}
    assert rolled == recomputed(db_file)


def test_an_unreadable_pending_file_is_reported_and_logging_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pending_file(tmp_path).write_text('{"latest": "yesterday"}')
    sim_clock = ManualClock(datetime(2026, 6, 10, 16, 0, tzinfo=UTC))
    worker = log_polls(tmp_path, sim_clock, 2)
    assert worker.written == 2
    assert "rollups_pending_unreadable" in caplog.text


def test_a_round_cut_short_at_stop_is_kept_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim_clock = ManualClock(datetime(2026, 6, 10, 16, 0, tzinfo=UTC))
    pending = pending_file(tmp_path)
    monkeypatch.setattr(worker_module, "STOP_ROLLUP_S", 0.0)
    log_polls(tmp_path, sim_clock, 6)
    ((serial, since),) = json.loads(pending.read_text())["gateways"].items()

    db_url = f"sqlite:///{tmp_path / 'restart.sqlite'}"
    worker = StoreWorker(Writer(db_url, tmp_path / "spool"))
    worker.replay_spool()
    worker._begin_round()  # a round under way when the stop comes...
    later = datetime.fromisoformat(since) + timedelta(hours=1)
    worker._mark_dirty(serial, later)  # ...and a poll written since it began
    worker.start()
    worker.stop()
    worker.join(60)
    assert json.loads(pending.read_text())["gateways"] == {serial: since}


def test_after_a_restart_one_query_finds_where_each_gateways_polls_ended(
    tmp_path: Path,
) -> None:
    # A restarted fleet's first minute stores every gateway anew: a query per gateway
    # (each waiting for the poll threads to hand back the interpreter) held the store up.
    made = two_polls_each(SITES)
    db_url = f"sqlite:///{tmp_path / 'restart.sqlite'}"
    queries: list[str] = []

    def count(*args: object) -> None:
        if re.search(r"max\(\w+\.started_at\)", str(args[2])):  # the latest poll's start
            queries.append(str(args[2]))

    for minute, rollups in ((0, None), (1, ROLLUP_INTERVAL_S)):  # a run, then a restart
        worker = StoreWorker(Writer(db_url, tmp_path / "spool"), rollup_interval_s=rollups)
        for polls in made.values():
            worker.submit(polls[minute])  # queued before it starts: one batch
        queries.clear()
        sa.event.listen(sa.engine.Engine, "before_cursor_execute", count)
        try:
            worker.start()
            worker.queue.join()
        finally:
            sa.event.remove(sa.engine.Engine, "before_cursor_execute", count)
            worker.stop()
            worker.join(60)
        assert len(queries) == 1
    # The restart's rollup reached back before the first run's polls. (A retired
    # inverter's years-old report is left to `envoylog rollup`: only the day is compared.)
    day = {t: [r for r in rows if "2026-06-10" in r] for t, rows in energy_rows(db_url).items()}
    full = recomputed(tmp_path / "restart.sqlite")
    assert day["energy_daily"] and day == {
        t: [r for r in rows if "2026-06-10" in r] for t, rows in full.items()
    }
