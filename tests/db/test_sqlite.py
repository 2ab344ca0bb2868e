"""SQLite settings: WAL, foreign keys, write lock taken up front, readers never block the writer."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from db_queries import counts
from factories import at, make_poll

from envoylog.db import EngineOptions, StoreOptions, open_store, save_poll
from envoylog.db.types import sqlite_text


def _pragma(store_path: Path, options: StoreOptions, name: str) -> object:
    with open_store(f"sqlite:///{store_path}", options) as store, store.reading("pragma") as conn:
        return conn.exec_driver_sql(f"PRAGMA {name}").scalar()


def test_wal_and_foreign_keys_are_on(tmp_path: Path) -> None:
    path = tmp_path / "e.sqlite"
    assert _pragma(path, StoreOptions(), "journal_mode") == "wal"
    assert _pragma(path, StoreOptions(), "foreign_keys") == 1
    assert _pragma(path, StoreOptions(), "synchronous") == 1  # NORMAL


def test_synchronous_is_configurable(tmp_path: Path) -> None:
    options = StoreOptions(engine=EngineOptions(sqlite_synchronous="FULL"))
    assert _pragma(tmp_path / "e.sqlite", options, "synchronous") == 2


def test_an_open_reader_does_not_break_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "e.sqlite"
    with open_store(f"sqlite:///{path}") as store:
        save_poll(store, make_poll(at(0)))
        reader = sqlite3.connect(path, isolation_level=None)
        try:
            reader.execute("BEGIN")
            seen_before = reader.execute("SELECT count(*) FROM polls").fetchone()[0]
            save_poll(store, make_poll(at(1)))
            save_poll(store, make_poll(at(2)))
            # The reader keeps its snapshot while the writer commits.
            assert reader.execute("SELECT count(*) FROM polls").fetchone()[0] == seen_before
            reader.execute("COMMIT")
            assert reader.execute("SELECT count(*) FROM polls").fetchone()[0] == 3
        finally:
            reader.close()
        assert counts(store)["polls"] == 3


def test_a_write_transaction_takes_the_write_lock_at_begin(tmp_path: Path) -> None:
    path = tmp_path / "e.sqlite"
    fast = StoreOptions(engine=EngineOptions(busy_timeout_s=0.05))
    with open_store(f"sqlite:///{path}", fast) as store, store.transaction("holding the lock"):
        other = sqlite3.connect(path, isolation_level=None, timeout=0.05)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        finally:
            other.close()


def test_a_locked_database_is_an_outage_not_a_bug(tmp_path: Path) -> None:
    from envoylog.errors import DatabaseUnavailable

    path = tmp_path / "e.sqlite"
    fast = StoreOptions(engine=EngineOptions(busy_timeout_s=0.05))
    with open_store(f"sqlite:///{path}", fast) as store:
        locker = sqlite3.connect(path, isolation_level=None)
        try:
            locker.execute("BEGIN IMMEDIATE")
            with pytest.raises(DatabaseUnavailable, match="locked"):
                save_poll(store, make_poll())
        finally:
            locker.close()


def test_instants_are_readable_text_that_sqlite_date_functions_understand(tmp_path: Path) -> None:
    path = tmp_path / "e.sqlite"
    with open_store(f"sqlite:///{path}") as store:
        save_poll(store, make_poll(at(0.25)))
        with store.reading("q") as conn:
            stored, hour = conn.exec_driver_sql(
                "SELECT started_at, strftime('%H:%M:%f', started_at) FROM polls"
            ).one()
    assert stored == "2026-06-01 10:00:15"
    assert hour == "10:00:15.000"
    assert sqlite_text(at(0.0001)) == "2026-06-01 10:00:00.006000"


def test_opening_the_database_again_keeps_the_open_connections_locks(tmp_path: Path) -> None:
    # POSIX locks belong to the process: closing any descriptor of the file drops them
    # all. A second store on the same file (the service's rollups) must not, or another
    # program's reader, closing, takes itself for the last and deletes the WAL, and the
    # commits after it, from under the service.
    path = tmp_path / "e.sqlite"
    count = "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
    count += "print(c.execute('SELECT count(*) FROM polls').fetchone()[0]); c.close()"

    def polls_seen_by_another_program() -> int:
        done = subprocess.run(
            [sys.executable, "-c", count, str(path)], capture_output=True, text=True, timeout=60
        )
        return int(done.stdout)

    with open_store(f"sqlite:///{path}") as store:
        save_poll(store, make_poll(at(0)))
        with open_store(f"sqlite:///{path}") as second:
            assert counts(second)["polls"] == 1
            assert polls_seen_by_another_program() == 1
            save_poll(store, make_poll(at(1)))
        # Before the fix, committed into a deleted WAL: seen by no one, lost on a crash.
        assert polls_seen_by_another_program() == 2
