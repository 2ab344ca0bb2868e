"""The spool: bounded, atomic, survives restarts, replayed in order before new polls."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from db_queries import counts, rows
from factories import at, make_poll
from pg_server import PostgresServer

from envoylog.db import Spool, Writer, WriteStatus, open_store
from envoylog.errors import SchemaError
from envoylog.records import poll_from_json, poll_to_json


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def small_poll(minute: float) -> object:
    return make_poll(at(minute), inverters=2)


def test_files_are_whole_polls_named_in_arrival_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    polls = [small_poll(m) for m in (3, 1, 2)]
    for poll in polls:
        spool.put(poll)  # type: ignore[arg-type]
    files = spool.pending()
    assert [p.name for p in files] == sorted(p.name for p in files)
    assert [poll_from_json(p.read_bytes()) for p in files] == polls
    assert not list((tmp_path / "spool").glob(".*.tmp"))


def test_a_full_spool_drops_the_oldest_counts_and_warns_once_a_minute(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    size = len(poll_to_json(small_poll(0)).encode())  # type: ignore[arg-type]
    clock = Clock()
    spool = Spool(tmp_path / "spool", max_bytes=int(size * 3.5), clock=clock)
    with caplog.at_level(logging.WARNING, logger="envoylog.db.spool"):
        for minute in range(6):
            spool.put(small_poll(minute))  # type: ignore[arg-type]
        clock.now += 61
        spool.put(small_poll(6))  # type: ignore[arg-type]
    assert spool.dropped == 4
    kept = [poll_from_json(p.read_bytes()).started_at for p in spool.pending()]
    assert kept == [at(4), at(5), at(6)]
    warnings = [r for r in caplog.records if "spool full" in r.getMessage()]
    assert len(warnings) == 2  # the first drop, and one more after a minute
    assert "total_dropped=4" in warnings[1].getMessage()


def test_spooled_polls_survive_a_new_writer(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    first = Spool(spool_dir)
    first.put(make_poll(at(0)))
    first.put(make_poll(at(1)))
    url = f"sqlite:///{tmp_path / 'e.sqlite'}"
    writer = Writer(url, Spool(spool_dir))  # a restart: a new Spool and Writer on the folder
    result = writer.write(make_poll(at(2)))
    writer.close()
    assert result.status is WriteStatus.STORED and result.replayed == 2 and result.pending == 0
    with open_store(url) as store:
        assert counts(store)["polls"] == 3


def test_a_corrupt_spool_file_is_set_aside_and_the_rest_replayed(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.put(make_poll(at(0)))
    broken = spool.put(make_poll(at(1)))
    spool.put(make_poll(at(2)))
    broken.write_text('{"__type__": "PollResult", "gatew')
    url = f"sqlite:///{tmp_path / 'e.sqlite'}"
    writer = Writer(url, spool)
    result = writer.write(make_poll(at(3)))
    writer.close()
    assert result.replayed == 2 and result.pending == 0
    assert broken.with_suffix(".bad").exists()
    with open_store(url) as store:
        assert counts(store)["polls"] == 3


def test_a_database_that_is_not_sqlite_raises_and_keeps_the_poll(tmp_path: Path) -> None:
    path = tmp_path / "e.sqlite"
    path.write_bytes(b"not a database at all" * 10)
    spool = Spool(tmp_path / "spool")
    with pytest.raises(SchemaError):
        Writer(f"sqlite:///{path}", spool).write(make_poll())
    assert len(spool) == 1


@pytest.mark.postgres
def test_postgres_outage_spools_then_replays_in_order_without_loss_or_duplicates(
    tmp_path: Path,
) -> None:
    with PostgresServer.start(durable=True) as server:
        url = server.create_database("outage")
        writer = Writer(url, Spool(tmp_path / "spool"))
        assert writer.write(make_poll(at(0))).status is WriteStatus.STORED

        server.stop("immediate")
        outage = [writer.write(make_poll(at(m))) for m in range(1, 5)]
        assert {r.status for r in outage} == {WriteStatus.SPOOLED}
        assert "127.0.0.1:" in (outage[0].error or "")
        assert len(writer.spool) == 4

        server.start_again()
        back = writer.write(make_poll(at(5)))
        assert back.status is WriteStatus.STORED and back.replayed == 4 and back.pending == 0
        writer.write(make_poll(at(3)))  # a duplicate arriving late changes nothing
        writer.close()

        with open_store(url) as store:
            ids = rows(store, "SELECT started_at FROM polls ORDER BY id")
            assert [r[0] for r in ids] == [at(m) for m in range(6)]
            assert counts(store)["meter_readings"] == 6 * 12
