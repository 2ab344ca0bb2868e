"""Every database call bounded in time: server-side timeouts, and a deadline kept from our
side that cuts a call to a frozen server off, after which polls go straight to the spool."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from factories import at, make_poll
from pg_server import PostgresServer
from sqlalchemy import text

from envoylog.db import EngineOptions, Store, StoreOptions, Writer, WriteStatus, open_store
from envoylog.db.deadline import deadline, hurry
from envoylog.errors import DatabaseUnavailable


@contextlib.contextmanager
def frozen_with_a_pooled_connection(server: PostgresServer) -> Iterator[Store]:
    """A store whose pooled connection (pre-pinged when reused) leads to a frozen server."""
    with open_store(server.create_database("frozen"), bounded(60)) as store:
        with store.reading("warming up") as conn:
            conn.execute(text("SELECT 1"))
        server.freeze()
        try:
            yield store
        finally:
            server.thaw()


def bounded(seconds: float) -> StoreOptions:
    return StoreOptions(engine=EngineOptions(timeout_s=seconds, connect_timeout_s=2))


@pytest.mark.postgres
def test_a_statement_past_the_timeout_is_cancelled_by_postgres(pg_server: PostgresServer) -> None:
    with open_store(pg_server.create_database("sleepy"), bounded(0.5)) as store:
        started = time.monotonic()
        with (
            pytest.raises(DatabaseUnavailable, match="statement timeout"),
            store.reading("sleeping") as conn,
        ):
            conn.execute(text("SELECT pg_sleep(5)"))
        assert time.monotonic() - started < 2


@pytest.mark.postgres
def test_postgres_connections_send_keepalives(pg_server: PostgresServer) -> None:
    url = pg_server.create_database("keepalives")
    with open_store(url) as store, store.reading("reading settings") as conn:
        info = conn.connection.dbapi_connection.info  # type: ignore[union-attr]
        options = {o.keyword: o.val for o in info.pgconn.info}
    assert options[b"keepalives"] == b"1"
    assert int(options[b"keepalives_idle"]) > 0
    assert int(options[b"tcp_user_timeout"]) > 0


def test_a_sqlite_writer_waits_for_a_lock_at_most_the_timeout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'e.sqlite'}"
    open_store(url).close()
    holder = sqlite3.connect(tmp_path / "e.sqlite")
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
    try:
        with open_store(url, bounded(0.5)) as store:
            started = time.monotonic()
            with (
                pytest.raises(DatabaseUnavailable, match="locked"),
                store.transaction("writing") as txn,
            ):
                txn.execute("DELETE FROM gateways")
            assert time.monotonic() - started < 2
    finally:
        holder.close()


def test_a_long_sqlite_call_is_cut_off_at_its_deadline(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'e.sqlite'}") as store:
        endless = (
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT max(i) FROM n"
        )
        started = time.monotonic()
        with (
            pytest.raises(DatabaseUnavailable, match=r"did not answer within 0\.5 s"),
            deadline(store.engine, 0.5, "counting"),
            store.reading("counting") as conn,
        ):
            conn.execute(text(endless))
        assert time.monotonic() - started < 2


@pytest.mark.postgres
def test_a_call_to_a_frozen_postgres_is_cut_off_at_its_deadline(
    private_pg: PostgresServer,
) -> None:
    with frozen_with_a_pooled_connection(private_pg) as store:
        started = time.monotonic()
        with (
            pytest.raises(DatabaseUnavailable, match="did not answer within 1 s"),
            deadline(store.engine, 1, "reading"),
            store.reading("reading") as conn,
        ):
            conn.execute(text("SELECT 1"))
        assert time.monotonic() - started < 1.5  # no reconnection waited for behind it


@pytest.mark.postgres
def test_connecting_to_a_frozen_postgres_takes_no_longer_than_the_deadline(
    private_pg: PostgresServer,
) -> None:
    url = private_pg.create_database("frozen")
    private_pg.freeze()  # the kernel still accepts the connection; nobody answers it
    options = StoreOptions(engine=EngineOptions(timeout_s=60, connect_timeout_s=60))
    with open_store(url, options, migrate=False) as store:
        started = time.monotonic()
        with (
            pytest.raises(DatabaseUnavailable),
            deadline(store.engine, 2, "connecting"),
            store.reading("connecting") as conn,
        ):
            conn.execute(text("SELECT 1"))
        assert time.monotonic() - started < 3.5
    private_pg.thaw()


@pytest.mark.postgres
def test_after_one_write_cut_off_polls_go_straight_to_the_spool(
    private_pg: PostgresServer, tmp_path: Path
) -> None:
    writer = Writer(private_pg.create_database("frozen"), tmp_path / "spool", options=bounded(1))
    assert writer.write(make_poll(at(0))).status is WriteStatus.STORED
    private_pg.freeze()
    durations = []
    for minute in range(1, 4):
        started = time.monotonic()
        assert writer.write(make_poll(at(minute))).status is WriteStatus.SPOOLED
        durations.append(time.monotonic() - started)
    private_pg.thaw()
    writer.close()
    assert 1 <= durations[0] < 1.5  # the first waits its bound, once
    assert max(durations[1:]) < 0.2  # the others do not wait at all
    assert writer.outage is not None and writer.outage.spooled == 3
    assert len(writer.spool) == 3


def test_the_deadline_does_not_cut_a_call_that_finished(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'e.sqlite'}") as store:
        for _ in range(20):
            with deadline(store.engine, 0.05, "reading"), store.reading("reading") as conn:
                conn.execute(text("SELECT 1"))
        threading.Event().wait(0.1)  # every deadline passed after its call ended
        with store.reading("reading") as conn:
            assert conn.execute(text("SELECT 2")).scalar_one() == 2


@pytest.mark.postgres
def test_a_stop_brings_the_deadline_of_a_call_under_way_forward(
    private_pg: PostgresServer,
) -> None:
    with frozen_with_a_pooled_connection(private_pg) as store:
        started = time.monotonic()
        threading.Timer(0.5, hurry, args=(started + 1,)).start()  # the stop, at 0.5 s
        with (
            pytest.raises(DatabaseUnavailable, match="did not answer within 1 s"),
            deadline(store.engine, 60, "reading"),
            store.reading("reading") as conn,
        ):
            conn.execute(text("SELECT 1"))
        assert time.monotonic() - started < 1.5
