"""The spool: bounded, atomic, survives restarts, replayed in order before new polls, and
bound to one database and one replaying process."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

import pytest
from db_queries import counts, rows
from factories import at, make_poll
from pg_server import PostgresServer

import envoylog.db.spool as spool_module
from envoylog.db import Spool, Writer, WriteStatus, open_store
from envoylog.db.types import stored_instant
from envoylog.errors import SchemaError
from envoylog.records import poll_from_json, poll_to_json


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def small_poll(minute: float) -> object:
    return make_poll(at(minute), inverters=2)


DOWN = "postgresql+psycopg://envoylog@127.0.0.1:9/nowhere"  # nothing listens on port 9


def sqlite_url(tmp_path: Path, name: str = "e.sqlite") -> str:
    return f"sqlite:///{tmp_path / name}"


def stored_polls(url: str) -> list[datetime]:
    """The start of every poll in the database, in the order they were stored."""
    with open_store(url) as store:
        return [
            stored_instant(r[0]) for r in rows(store, "SELECT started_at FROM polls ORDER BY id")
        ]


def test_files_are_whole_polls_named_in_arrival_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", sqlite_url(tmp_path))
    polls = [small_poll(m) for m in (3, 1, 2)]
    for poll in polls:
        spool.put(poll)  # type: ignore[arg-type]
    files = spool.pending()
    assert [p.name for p in files] == sorted(p.name for p in files)
    assert [poll_from_json(p.read_bytes()) for p in files] == polls
    assert not list(spool.directory.glob(".*.tmp"))


def test_a_full_spool_drops_the_oldest_counts_and_warns_once_a_minute(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    size = len(poll_to_json(small_poll(0)).encode())  # type: ignore[arg-type]
    clock = Clock()
    spool = Spool(tmp_path / "spool", sqlite_url(tmp_path), max_bytes=int(size * 3.5), clock=clock)
    with caplog.at_level(logging.WARNING, logger="envoylog.db.spool"):
        for minute in range(6):
            spool.put(small_poll(minute))  # type: ignore[arg-type]
        clock.now += 61
        spool.put(small_poll(6))  # type: ignore[arg-type]
    assert spool.dropped == 4
    kept = [poll_from_json(p.read_bytes()).started_at for p in spool.pending()]
    assert kept == [at(4), at(5), at(6)]
    warnings = [r for r in caplog.records if "spool_full" in r.getMessage()]
    assert len(warnings) == 2  # the first drop, and one more after a minute
    assert "total_dropped=4" in warnings[1].getMessage()


def test_a_full_spool_drops_by_arrival_whatever_order_files_came_and_went_in(
    tmp_path: Path,
) -> None:
    size = len(poll_to_json(small_poll(0)).encode())  # type: ignore[arg-type]
    spool = Spool(tmp_path / "spool", sqlite_url(tmp_path), max_bytes=int(size * 3.5))
    keys = [spool.arrival() for _ in range(3)]
    written = {}
    for minute in (2, 0, 1):  # threads finish writing out of their arrival order
        written[minute] = spool.put(small_poll(minute), keys[minute])  # type: ignore[arg-type]
    spool.remove(written[0])  # replayed
    Spool(tmp_path / "spool", sqlite_url(tmp_path)).put(small_poll(3))  # type: ignore[arg-type]
    spool.rescan()  # another process spooled here
    spool.put(small_poll(4))  # type: ignore[arg-type]
    assert spool.dropped == 1
    kept = [poll_from_json(p.read_bytes()).started_at for p in spool.pending()]
    assert kept == [at(2), at(3), at(4)]


def test_a_spool_replayed_as_fast_as_it_fills_keeps_its_drop_order_small(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", sqlite_url(tmp_path))
    poll = small_poll(0)
    for _ in range(300):  # a long-running service: each poll spooled, then replayed
        spool.remove(spool.put(poll))  # type: ignore[arg-type]
    assert len(spool) == 0
    assert len(spool._oldest) <= 64  # the files gone are not remembered for ever


def test_every_drop_of_a_full_spool_is_counted_and_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    size = len(poll_to_json(small_poll(0)).encode())  # type: ignore[arg-type]
    spool = Spool(tmp_path / "spool", sqlite_url(tmp_path), max_bytes=int(size * 3.5))
    with caplog.at_level(logging.WARNING, logger="envoylog.db.spool"):
        for minute in range(36):  # 33 dropped within a minute
            spool.put(small_poll(minute))  # type: ignore[arg-type]
        spool.report_drops(now=True)  # at stop
    assert spool.dropped == 33
    said = [re.search(r" dropped=(\d+) ", r.getMessage()) for r in caplog.records]
    assert sum(int(m[1]) for m in said if m) == 33


def test_spooled_polls_survive_a_new_writer(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    url = sqlite_url(tmp_path)
    first = Spool(spool_dir, url)
    first.put(make_poll(at(0)))
    first.put(make_poll(at(1)))
    writer = Writer(url, spool_dir)  # a restart: a new Spool and Writer on the folder
    result = writer.write(make_poll(at(2)))
    writer.close()
    assert result.status is WriteStatus.STORED and result.replayed == 2 and result.pending == 0
    with open_store(url) as store:
        assert counts(store)["polls"] == 3


def test_a_corrupt_spool_file_is_set_aside_and_the_rest_replayed(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    writer = Writer(url, tmp_path / "spool")
    spool = writer.spool
    spool.put(make_poll(at(0)))
    broken = spool.put(make_poll(at(1)))
    spool.put(make_poll(at(2)))
    broken.write_text('{"__type__": "PollResult", "gatew')
    result = writer.write(make_poll(at(3)))
    writer.close()
    assert result.replayed == 2 and result.pending == 0
    assert broken.with_suffix(".bad").exists()
    with open_store(url) as store:
        assert counts(store)["polls"] == 3


def test_a_database_that_is_not_sqlite_raises_and_keeps_the_poll(tmp_path: Path) -> None:
    path = tmp_path / "e.sqlite"
    path.write_bytes(b"not a database at all" * 10)
    writer = Writer(f"sqlite:///{path}", tmp_path / "spool")
    with pytest.raises(SchemaError):
        writer.write(make_poll())
    assert len(writer.spool) == 1


@pytest.mark.postgres
def test_postgres_outage_spools_then_replays_in_order_without_loss_or_duplicates(
    tmp_path: Path,
) -> None:
    with PostgresServer.start(durable=True) as server:
        url = server.create_database("outage")
        clock = Clock()
        writer = Writer(url, tmp_path / "spool", clock=clock)
        assert writer.write(make_poll(at(0))).status is WriteStatus.STORED

        server.stop("immediate")
        outage = [writer.write(make_poll(at(m))) for m in range(1, 5)]
        assert {r.status for r in outage} == {WriteStatus.SPOOLED}
        assert "127.0.0.1:" in (outage[0].error or "")
        assert len(writer.spool) == 4

        server.start_again()
        assert writer.write(make_poll(at(5))).status is WriteStatus.SPOOLED  # no probe due yet
        clock.now += writer.probe_every_s
        back = writer.write(make_poll(at(6)))
        assert back.status is WriteStatus.STORED and back.replayed == 5 and back.pending == 0
        writer.write(make_poll(at(3)))  # a duplicate arriving late changes nothing
        writer.close()

        with open_store(url) as store:
            ids = rows(store, "SELECT started_at FROM polls ORDER BY id")
            assert [r[0] for r in ids] == [at(m) for m in range(7)]
            assert counts(store)["meter_readings"] == 7 * 12


def test_a_poll_spooled_for_one_database_is_never_replayed_into_another(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"  # one state folder, shared by every command
    down = Writer(DOWN, spool_dir)
    assert down.write(make_poll(at(0))).status is WriteStatus.SPOOLED
    url = sqlite_url(tmp_path)
    later = Writer(url, spool_dir)
    result = later.write(make_poll(at(1)))
    later.close()
    assert result.status is WriteStatus.STORED and result.replayed == 0
    assert len(Spool(spool_dir, DOWN)) == 1  # still waiting for its own database
    assert stored_polls(url) == [at(1)]


def test_polls_of_a_mistyped_database_stay_out_of_the_services(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    typo = tmp_path / "typo.sqlite"
    typo.mkdir()  # a path SQLite cannot open: "unable to open database file"
    mistyped = Writer(f"sqlite:///{typo}", spool_dir)
    for minute in range(4):  # four polls by hand with a bad --db
        assert mistyped.write(make_poll(at(minute))).status is WriteStatus.SPOOLED
    service = Writer(sqlite_url(tmp_path), spool_dir)
    assert service.write(make_poll(at(10))).replayed == 0
    service.close()
    with open_store(sqlite_url(tmp_path)) as store:
        assert counts(store)["polls"] == 1
    assert len(mistyped.spool) == 4


def test_a_new_database_at_the_same_address_never_gets_the_old_ones_polls(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url, spool_dir = sqlite_url(tmp_path), tmp_path / "spool"
    first = Writer(url, spool_dir)
    first.write(make_poll(at(0)))  # the spool learns the database's id
    first.spool.put(make_poll(at(1)))  # left waiting when the database went away
    first.close()
    (tmp_path / "e.sqlite").unlink()  # a new, empty database at the same path
    second = Writer(url, spool_dir)
    with caplog.at_level(logging.ERROR, logger="envoylog.db.spool"):
        result = second.write(make_poll(at(2)))
    second.close()
    assert result.status is WriteStatus.STORED and result.replayed == 0
    assert stored_polls(url) == [at(2)]
    [kept] = [f for f in spool_dir.iterdir() if "-id-" in f.name]
    assert [poll_from_json(p.read_bytes()).started_at for p in kept.glob("*-*.json")] == [at(1)]
    [line] = [r.getMessage() for r in caplog.records]
    assert "not replayed into the database now at that address" in line and str(kept) in line


def test_an_empty_spool_follows_a_new_database_at_its_address_without_a_word(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url, spool_dir = sqlite_url(tmp_path), tmp_path / "spool"
    first = Writer(url, spool_dir)
    first.write(make_poll(at(0)))  # the spool learns the database's id, and holds nothing
    first.close()
    (tmp_path / "e.sqlite").unlink()  # a new database at the same path (a demo run again)
    second = Writer(url, spool_dir)
    with caplog.at_level(logging.INFO, logger="envoylog.db.spool"):
        assert second.write(make_poll(at(1))).status is WriteStatus.STORED
    second.close()
    assert not [f for f in spool_dir.iterdir() if "-id-" in f.name]
    assert not caplog.records
    assert second.spool.database_id == Spool(spool_dir, url).database_id  # tied to the new one


SPOOL_TEN = """
import sys
from factories import at, make_poll
from envoylog.db import Spool
spool = Spool(__import__("pathlib").Path(sys.argv[1]), sys.argv[2])
for minute in range(10):
    spool.put(make_poll(at(100 + minute), inverters=2))
"""


def test_two_processes_spooling_at_once_never_overwrite_each_other(tmp_path: Path) -> None:
    spool_dir, url = tmp_path / "spool", sqlite_url(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    other = subprocess.Popen(
        [sys.executable, "-c", SPOOL_TEN, str(spool_dir), url], env=env, cwd=tmp_path
    )
    mine = Spool(spool_dir, url)
    for minute in range(10):
        mine.put(make_poll(at(minute), inverters=2))
    assert other.wait(60) == 0
    started = sorted(poll_from_json(p.read_bytes()).started_at for p in mine.pending())
    assert started == sorted([at(m) for m in range(10)] + [at(100 + m) for m in range(10)])


HOLD_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
"""


def test_a_spool_another_process_is_replaying_is_left_to_it(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    writer = Writer(url, tmp_path / "spool")
    writer.write(make_poll(at(0)))
    writer.spool.put(make_poll(at(1)))  # waiting from an outage
    lock = writer.spool.directory / ".replay.lock"
    replayer = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(lock)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert replayer.stdout is not None and replayer.stdout.readline() == "locked\n"
        held = writer.write(make_poll(at(2)))
    finally:
        replayer.communicate("", timeout=10)
    assert held.status is WriteStatus.SPOOLED and held.replayed == 0
    assert "another envoylog process is replaying" in (held.error or "")
    assert len(writer.spool) == 2  # the waiting poll, and this one after it
    after = writer.write(make_poll(at(3)))  # the lock is free again
    writer.close()
    assert after.status is WriteStatus.STORED and after.replayed == 2
    assert stored_polls(url) == [at(m) for m in range(4)]


def test_a_slow_spool_write_holds_up_neither_new_polls_nor_other_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the store falls behind, many jobs spill at once: each fsync must not wait for
    the others, nor every new poll's arrival key for them."""
    spool = Spool(tmp_path, "sqlite:////data/e.sqlite")
    real_write = spool_module.write_atomic
    first_writing, release = threading.Event(), threading.Event()

    def slow_first_write(path: Path, *args: object, **kwargs: object) -> None:
        if not first_writing.is_set():
            first_writing.set()
            assert release.wait(30), "the test never released the first write"
        real_write(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(spool_module, "write_atomic", slow_first_write)
    held = threading.Thread(target=spool.put, args=(make_poll(at(0), inverters=2),))
    held.start()
    try:
        assert first_writing.wait(30)
        done: list[Path] = []
        other = threading.Thread(
            target=lambda: done.append(spool.put(make_poll(at(1), inverters=2)))
        )
        other.start()
        other.join(30)
        assert done, "a second write waited for the first one's flush"
        assert spool.arrival() > 0
        assert len(spool) == 1  # the held file is not known before it is durable
    finally:
        release.set()
        held.join(30)
    assert len(spool) == 2 and len(spool.pending()) == 2


def test_a_poll_being_written_when_another_database_appears_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The folder was set aside with a write in flight: its temporary file went with the
    folder, and the poll was lost (`poll_lost ... No such file or directory`)."""
    import envoylog.files as files_module

    spool = Spool(tmp_path, "sqlite:////data/e.sqlite")
    spool.bind("first-database")
    spool.put(make_poll(at(0), inverters=2))  # waiting: the folder will be set aside
    real_replace = os.replace
    renaming, release = threading.Event(), threading.Event()

    def held_rename(src: object, dst: object) -> None:
        if str(src).endswith(".tmp") and not renaming.is_set():  # the poll's temporary file
            renaming.set()
            assert release.wait(30), "the test never released the write"
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(files_module.os, "replace", held_rename)
    failed: list[BaseException] = []

    def put() -> None:
        try:
            spool.put(make_poll(at(1), inverters=2))
        except BaseException as exc:
            failed.append(exc)

    writer = threading.Thread(target=put)
    writer.start()
    assert renaming.wait(30)
    binder = threading.Thread(target=spool.bind, args=("second-database",))
    binder.start()
    binder.join(0.5)  # the set-aside waits for the write
    release.set()
    writer.join(30)
    binder.join(30)
    assert not failed
    kept = [
        poll_from_json(p.read_bytes()).started_at
        for p in tmp_path.glob(f"{spool.directory.name}*/*-*.json")
    ]
    assert sorted(kept) == [at(0), at(1)]
    assert spool.database_id == "second-database"
