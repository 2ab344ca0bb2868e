"""Polls stored in batches: one transaction for what is queued, each gateway's polls in
arrival order with those waiting in the spool, a refused poll costing that poll only, and
no listing of the spool folder per write (what made a 2,000-gateway fleet fall behind)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from factories import at, make_poll, with_count
from sqlalchemy import event
from sqlalchemy.engine import Engine

from envoylog.db import Spool, Store, Writer, WriteResult, WriteStatus, open_store, save_polls
from envoylog.db.types import stored_instant
from envoylog.energy.rollup import store_gateways
from envoylog.records import PollResult
from envoylog.service.worker import StoreWorker, _Round

BEYOND_64_BITS = 9223372036854775808


@pytest.fixture
def commits() -> Iterator[list[int]]:
    """Every commit any engine makes while the test runs."""
    made: list[int] = []

    def count(_conn: object) -> None:
        made.append(1)

    event.listen(Engine, "commit", count)
    try:
        yield made
    finally:
        event.remove(Engine, "commit", count)


def stored(url: str) -> list[datetime]:
    """The start of every stored poll, in the order they were stored."""
    with open_store(url) as store, store.reading("listing") as conn:
        found = conn.exec_driver_sql("SELECT started_at FROM polls ORDER BY id").scalars()
        return [stored_instant(value) for value in found]


def handed(spool: Spool, *minutes: int) -> list[tuple[int, PollResult]]:
    return [(spool.arrival(), make_poll(at(m), inverters=2)) for m in minutes]


def test_queued_polls_are_stored_in_one_transaction(
    db_url: str, tmp_path: Path, commits: list[int]
) -> None:
    writer = Writer(db_url, tmp_path / "spool")
    writer.write(make_poll(at(0), inverters=2))  # the schema is made and the store opened
    commits.clear()
    result = writer.write_many(handed(writer.spool, *range(1, 11)))
    writer.close()
    assert [fate for fate, _ in result.fates] == [WriteStatus.STORED] * 10
    assert len(commits) == 1
    assert stored(db_url) == [at(m) for m in range(11)]


def statements_per_batch(url: str, gateways: int, batteries: int) -> tuple[int, int, int]:
    """Statements sent to store one poll of each of ``gateways`` gateways: when they are
    new, when they are known, and when they are known but the store was just opened (a
    restart: nothing cached)."""
    sent: list[str] = []

    def count(*args: object) -> None:
        sent.append(str(args[2]))

    serials = [f"12{gateways:03d}{i:07d}" for i in range(gateways)]

    def polls(minute: int) -> list[PollResult]:
        return [
            make_poll(at(minute), serial=serial, inverters=3, batteries=batteries)
            for serial in serials
        ]

    def counted(store: Store, minute: int) -> int:
        sent.clear()
        event.listen(Engine, "before_cursor_execute", count)
        try:
            save_polls(store, polls(minute))
        finally:
            event.remove(Engine, "before_cursor_execute", count)
        return len(sent)

    with open_store(url) as store:
        new, known = counted(store, 0), counted(store, 1)
    with open_store(url) as store:
        return new, known, counted(store, 2)


@pytest.mark.parametrize("batteries", [0, 2])
def test_a_batch_costs_the_same_statements_for_one_gateway_or_many(
    db_url: str, batteries: int
) -> None:
    """The store worker waits for the interpreter after every round trip while poll threads
    run: a statement per gateway made a fleet's batches take seconds, and its first minute
    (every gateway new, or every gateway read after a restart) far longer."""
    assert statements_per_batch(db_url, 1, batteries) == statements_per_batch(db_url, 12, batteries)


def test_a_batch_larger_than_batch_is_split(tmp_path: Path, commits: list[int]) -> None:
    url = f"sqlite:///{tmp_path / 'e.sqlite'}"
    writer = Writer(url, tmp_path / "spool", batch=4)
    writer.write(make_poll(at(0), inverters=2))
    commits.clear()
    result = writer.write_many(handed(writer.spool, *range(1, 11)))
    writer.close()
    assert len(result.fates) == 10 and len(commits) == 3  # 4 + 4 + 2
    assert stored(url) == [at(m) for m in range(11)]


def test_a_refused_poll_in_a_batch_costs_that_poll_only(db_url: str, tmp_path: Path) -> None:
    writer = Writer(db_url, tmp_path / "spool")
    spool = writer.spool
    polls = handed(spool, 0, 1, 2, 3)
    polls[2] = (polls[2][0], with_count(polls[2][1], BEYOND_64_BITS))
    result = writer.write_many(polls)
    writer.close()
    fates = [fate for fate, _ in result.fates]
    stored_, aside = WriteStatus.STORED, WriteStatus.SET_ASIDE
    assert fates == [stored_, stored_, aside, stored_]
    assert result.fates[2][1]  # the reason
    [bad] = spool.set_aside_files()
    assert spool.reason(bad) == result.fates[2][1]
    assert stored(db_url) == [at(0), at(1), at(3)]


def test_spooled_polls_are_stored_in_arrival_order_among_handed_over_ones(
    tmp_path: Path,
) -> None:
    """A full queue sends a poll to the spool while older ones wait in the queue: each is
    stored in the order it was made, and a spooled poll newer than every handed-over one
    waits for a later write."""
    url = f"sqlite:///{tmp_path / 'e.sqlite'}"
    writer = Writer(url, tmp_path / "spool")
    spool = writer.spool
    made = [(spool.arrival(), make_poll(at(m), inverters=2)) for m in range(6)]
    for arrival, poll in (made[1], made[3], made[5]):  # spilled past a full queue
        spool.put(poll, arrival=arrival)
    result = writer.write_many([made[0], made[2], made[4]])
    assert [fate for fate, _ in result.fates] == [WriteStatus.STORED] * 3
    assert result.replayed == 2 and result.pending == 1  # made[5] is newer than all
    assert stored(url) == [at(m) for m in range(5)]
    writer.replay()
    writer.close()
    assert stored(url) == [at(m) for m in range(6)] and not spool.pending()


def test_writes_do_not_list_the_spool_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'e.sqlite'}"
    writer = Writer(url, tmp_path / "spool")
    listed: list[int] = []
    real = Spool.pending

    def pending(self: Spool) -> list[Path]:
        listed.append(1)
        return real(self)

    monkeypatch.setattr(Spool, "pending", pending)
    for minute in range(30):
        assert writer.write(make_poll(at(minute), inverters=2)).status is WriteStatus.STORED
    writer.close()
    assert listed == []


def test_a_poll_another_process_spooled_is_found_within_the_rescan_time(tmp_path: Path) -> None:
    class Clock:
        now = 0.0

        def __call__(self) -> float:
            return self.now

    clock = Clock()
    url = f"sqlite:///{tmp_path / 'e.sqlite'}"
    writer = Writer(url, tmp_path / "spool", clock=clock)
    other = Spool(tmp_path / "spool", url)  # a `envoylog poll` by hand, say
    other.put(make_poll(at(0), inverters=2))
    writer.write(make_poll(at(1), inverters=2))
    assert stored(url) == [at(1)]  # not looked for yet
    clock.now += 31
    result = writer.write(make_poll(at(2), inverters=2))
    writer.close()
    assert result.replayed == 1 and sorted(stored(url)) == [at(0), at(1), at(2)]


def test_the_worker_does_not_spool_its_queue_while_the_spool_holds_polls(tmp_path: Path) -> None:
    """Once a full queue had spilled one poll, every later write used to put the whole
    queue through the spool (fsync per poll): a store that could never catch up."""
    url = f"sqlite:///{tmp_path / 'e.sqlite'}"
    worker = StoreWorker(Writer(url, tmp_path / "spool"), rollup_interval_s=None)
    spool = worker.writer.spool
    for minute in range(20):
        worker.submit(make_poll(at(minute), inverters=2))
    spool.put(make_poll(at(100), inverters=2))  # newer than all queued: waits till idle
    worker.start()
    worker.queue.join()
    written_by_queue = spool.written
    worker.stop()
    worker.join(30)
    assert written_by_queue == 1  # the one put above, none of the queue
    assert worker.written == 20
    assert stored(url) == [*(at(m) for m in range(20)), at(100)]


def test_a_spooled_poll_another_process_stored_meanwhile_is_forgotten(tmp_path: Path) -> None:
    """The service knows of a spooled poll; a poll run by hand replays the spool first.
    The service's next write goes on without an error and stores its own poll."""
    url = f"sqlite:///{tmp_path / 'e.sqlite'}"
    service = Writer(url, tmp_path / "spool")
    service.spool.put(make_poll(at(0), inverters=2))
    by_hand = Writer(url, tmp_path / "spool")
    assert by_hand.write(make_poll(at(1), inverters=2)).replayed == 1
    by_hand.close()
    result = service.write(make_poll(at(2), inverters=2))
    service.close()
    assert result.status is WriteStatus.STORED and result.pending == 0
    assert stored(url) == [at(0), at(1), at(2)]


def test_polls_arriving_apart_at_a_fleets_rate_share_transactions(tmp_path: Path) -> None:
    """A fleet's polls arrive milliseconds apart: each found the queue empty and took a
    transaction of its own, twice the CPU per poll of a batch."""
    worker = StoreWorker(Writer(f"sqlite:///{tmp_path / 'e.sqlite'}", tmp_path / "spool"))
    batches: list[int] = []
    write_many = worker.writer.write_many

    def counted(polls: list[tuple[int, PollResult]], **kwargs: Any) -> WriteResult:
        batches.append(len(polls))
        return write_many(polls, **kwargs)

    worker.writer.write_many = counted  # type: ignore[method-assign]
    worker.start()
    arrived = threading.Event()
    for minute in range(30):
        worker.submit(make_poll(at(minute), serial=f"1222{minute:08d}", inverters=2))
        arrived.wait(0.02)  # 50 polls a second, a 3,000-gateway fleet's pace
    worker.queue.join()
    worker.stop()
    worker.join(30)
    assert worker.written == 30 and sum(batches) == 30
    assert len(batches) <= 6, batches  # one each: 30


@pytest.mark.parametrize(
    ("gaps_s", "wait_s"),
    [
        ((60.0,) * 10, 0.0),  # a home's gateway: stored at once
        ((0.1,) * 10, 1.0),  # 10 a second: up to GATHER_S
        ((0.001,) * 10, 0.1),  # 1,000 a second: the time a batch of 100 takes to arrive
        ((0.001,) * 3, 0.0),  # too few to tell a rate
    ],
)
def test_a_poll_waits_for_others_only_at_a_fleets_rate(
    tmp_path: Path, gaps_s: tuple[float, ...], wait_s: float
) -> None:
    worker = StoreWorker(Writer(f"sqlite:///{tmp_path / 'e.sqlite'}", tmp_path / "spool"))
    now = time.monotonic()
    for at_s in itertools.accumulate((0.0, *gaps_s)):
        worker._arrivals.append(now - sum(gaps_s) + at_s)
    assert worker._gather_s() == pytest.approx(wait_s, rel=0.05)


def test_a_worker_told_not_to_gather_stores_each_poll_at_once(tmp_path: Path) -> None:
    """A caller that waits for each poll to be stored (the benchmarks' driver) makes them
    at a fleet's rate, yet has no other poll to come."""
    writer = Writer(f"sqlite:///{tmp_path / 'e.sqlite'}", tmp_path / "spool")
    worker = StoreWorker(writer, gather_s=0.0)
    now = time.monotonic()
    worker._arrivals.extend(now - 0.1 * k for k in range(10, -1, -1))
    assert worker._gather_s() == 0.0


def test_rollups_give_way_to_a_fleets_polls_only_once_they_have_gathered(tmp_path: Path) -> None:
    """Rollups and compaction used to stop for any poll waiting: at a fleet's pace one
    always was, gathering, and a 1,000-gateway fleet finished no rollup round."""
    worker = StoreWorker(Writer(f"sqlite:///{tmp_path / 'e.sqlite'}", tmp_path / "spool"))
    now = time.monotonic()
    for i in range(20):  # 20 a second
        worker._arrivals.append(now - 1.0 + i * 0.05)
    assert not worker._polls_due()  # none waits
    worker.queue.put_nowait((time.time_ns(), make_poll(at(0), inverters=2)))
    assert not worker._polls_due()  # it has just arrived: the rollups go on
    worker.queue.get_nowait()
    worker.queue.put_nowait((time.time_ns() - 2_000_000_000, make_poll(at(0), inverters=2)))
    assert worker._polls_due()  # it has waited its time
    worker._arrivals.clear()  # a home's pace: a waiting poll goes first at once
    worker.queue.get_nowait()
    worker.queue.put_nowait((time.time_ns(), make_poll(at(0), inverters=2)))
    assert worker._polls_due()


def test_a_rollup_round_goes_on_while_a_fleets_polls_keep_it_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After each stored batch the round gets its share, however soon polls are due again:
    at 5,000 gateways one always was, and a round that only used the gaps never ended."""
    url = f"sqlite:///{tmp_path / 'e.sqlite'}"
    writer = Writer(url, tmp_path / "spool")
    writer.write_many(
        [(writer.spool.arrival(), make_poll(at(0), serial=f"12220000000{i}")) for i in range(3)]
    )
    worker = StoreWorker(writer)
    with open_store(url) as store:
        rows = store_gateways(store)
    worker._round = _Round([(row, at(0)) for row in rows], at(5), days=1)
    overdue = time.time_ns() - 5_000_000_000
    worker.queue.put_nowait((overdue, make_poll(at(1), inverters=2)))
    assert worker._polls_due()
    monkeypatch.setattr("envoylog.service.worker.ROLL_AT_LEAST_S", 0.0)
    worker._roll(until_done=False)
    assert worker._round is not None and len(worker._round.todo) == 2  # one, then the polls
    monkeypatch.setattr("envoylog.service.worker.ROLL_AT_LEAST_S", 60.0)
    worker._roll(until_done=False)
    assert worker._round is None and worker.rollups == 1  # its share: the rest of the round
