"""PostgreSQL partitions: the migration keeps every row both ways, months are made ahead,
and a reading of any month, however far off, is stored and lands in its month."""

from __future__ import annotations

import contextlib
import itertools
import shutil
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from factories import make_poll
from pg_server import PostgresServer
from sqlalchemy import Table, create_engine, insert, select, text

from envoylog.db import downgrade, open_store, save_polls, upgrade
from envoylog.db.energy import energy_daily, energy_hourly, inverter_daily
from envoylog.db.migrate import alembic_config
from envoylog.db.models import Base
from envoylog.db.partitions import (
    PARTITIONED,
    add_months,
    drop_month,
    ensure_months,
    month_of,
    partition_name,
    partitions,
)
from envoylog.energy.rollup import rollup
from envoylog.history.compact import compact

sys.path.insert(0, str(Path(__file__).parents[2]))  # benchmarks/
from benchmarks.yeardata import YearGenerator

pytestmark = pytest.mark.postgres

FIRST = datetime(2025, 11, 15, 9, 0, tzinfo=UTC)  # one morning a month for 13 months
MONTHS = 13
MORNING = 180  # polls (minutes) of each morning
FULL_DAY = datetime(2026, 1, 20, tzinfo=UTC)  # a whole day, compacted before the migration
MONTH_END = datetime(2026, 3, 31, 23, 0, tzinfo=UTC)  # two hours across a month's end
LAST = datetime(2026, 11, 16, tzinfo=UTC)
# Columns the newest schema has and revision 0006 has not (revision 0008's runs of polls).
LATER = {
    "polls": {"samples", "last_started_at"},
    "poll_endpoints": {"samples", "first_started_at", "last_started_at"},
}
_names = itertools.count()


def columns_0006(table: Table) -> list[str]:
    return [c.key for c in table.c if c.key not in LATER.get(table.name, set())]


def _polls() -> Iterator[Any]:
    """Stretches of the 36-inverter year, counters running on between them."""
    generator = YearGenerator(FIRST, 1)
    stretches = [(add_months(month_of(FIRST), n) + (FIRST - month_of(FIRST)), MORNING)
                 for n in range(MONTHS)]  # fmt: skip
    stretches += [(FULL_DAY, 1440), (MONTH_END, 120)]
    for start, minutes in sorted(stretches):
        generator.start = start
        yield from itertools.islice(generator, minutes)


@pytest.fixture(scope="module")
def year_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database of the stretches, rolled up, its full day compacted."""
    path = tmp_path_factory.mktemp("year") / "year.sqlite"
    store = open_store(f"sqlite:///{path}")
    try:
        batch: list[Any] = []
        for poll in _polls():
            batch.append(poll)
            if len(batch) == 200:
                save_polls(store, batch)
                batch = []
        save_polls(store, batch)
        rollup(store, now=LAST)
        summary = compact(
            store,
            now=LAST,
            window_days=0,
            step=timedelta(minutes=15),
            before=(FULL_DAY + timedelta(days=1)).date(),
        )
        assert summary.days >= 1
    finally:
        store.close()
    return path


@pytest.fixture(scope="module")
def at_0006(pg_server: PostgresServer, year_sqlite: Path) -> Iterator[str]:
    """A PostgreSQL template database at revision 0006 holding the SQLite file's rows, as
    that file reads taken back to revision 0006 itself."""
    name = f"partitions_0006_{next(_names)}"
    url = pg_server.create_database(name)
    _alembic(url, "upgrade", "0006")
    older = year_sqlite.with_name("year-0006.sqlite")
    shutil.copyfile(year_sqlite, older)
    downgrade(f"sqlite:///{older}", "0006")
    source, target = create_engine(f"sqlite:///{older}"), create_engine(url)
    try:
        with source.connect() as read, target.begin() as write:
            for table in Base.metadata.sorted_tables:
                if table.name == "envoylog_database":
                    continue  # made by the migrations
                columns = [table.c[c] for c in columns_0006(table)]
                rows = [dict(r) for r in read.execute(select(*columns)).mappings()]
                for start in range(0, len(rows), 5000):
                    write.execute(insert(table), rows[start : start + 5000])
                if "id" in table.c and rows:
                    write.execute(
                        text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), :n)"),
                        {"n": max(r["id"] for r in rows)},
                    )
    finally:
        source.dispose()
        target.dispose()
    yield name
    pg_server.drop_database(name)


@pytest.fixture
def copy_0006(pg_server: PostgresServer, at_0006: str) -> Iterator[str]:
    """A database of the test's own at revision 0006, copied from the template."""
    name = f"partitions_copy_{next(_names)}"
    url = pg_server.create_database(name, template=at_0006)
    yield url
    pg_server.drop_database(name)


def _alembic(url: str, action: str, revision: str) -> None:
    from alembic import command

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            getattr(command, action)(config, revision)
    finally:
        engine.dispose()


@contextlib.contextmanager
def _later_columns(url: str) -> Iterator[None]:
    """Revision 0008's columns on a database at revision 0006, dropped again after."""
    kinds = {"samples": "integer"}
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for table, names in LATER.items():
                for name in sorted(names):
                    kind = kinds.get(name, "timestamp with time zone")
                    conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
        yield
        with engine.begin() as conn:
            for table, names in LATER.items():
                for name in sorted(names):
                    conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {name}")
    finally:
        engine.dispose()


def fingerprints(url: str) -> dict[str, tuple[int, str]]:
    """Rows and a checksum of their values, per table, over the columns of revision 0006."""
    engine = create_engine(url)
    found = {}
    try:
        with engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                columns = ", ".join(columns_0006(table))
                count, digest = conn.execute(
                    text(
                        "SELECT count(*), md5(coalesce(string_agg(r, '|' ORDER BY r), '')) "
                        f"FROM (SELECT CAST(ROW({columns}) AS text) AS r FROM {table.name}) x"
                    )
                ).one()
                found[table.name] = (int(count), str(digest))
    finally:
        engine.dispose()
    return found


def energy(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every rollup row recomputed from the readings (computed_at left out)."""
    store = open_store(url, migrate=False)
    try:
        rollup(store, now=LAST)
        with store.reading("energy") as conn:
            return {
                table.name: sorted(
                    tuple(v for k, v in row.items() if k != "computed_at")
                    for row in conn.execute(select(table)).mappings()
                )
                for table in (energy_hourly, energy_daily, inverter_daily)
            }
    finally:
        store.close()


def views(url: str) -> dict[str, tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                # In numeric: exact in any order (the partitions are read in another).
                name: tuple(
                    conn.execute(
                        text(f"SELECT count(*), sum(CAST(watts AS numeric)) FROM {name}")
                    ).one()
                )
                for name in (
                    "system_readings_local",
                    "meter_readings_local",
                    "inverter_readings_local",
                    "latest_power",
                )
            }
    finally:
        engine.dispose()


def homes(url: str, table: str, where: str = "true") -> dict[str, int]:
    """Rows of ``table`` (those ``where`` says) per partition holding them."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    f"SELECT CAST(tableoid AS regclass) AS p, count(*) FROM {table} "
                    f"WHERE {where} GROUP BY p"
                )
            )
            return {str(name): int(count) for name, count in rows}
    finally:
        engine.dispose()


def test_the_migration_keeps_every_row(copy_0006: str) -> None:
    before = fingerprints(copy_0006)
    upgrade(copy_0006)
    assert fingerprints(copy_0006) == before
    assert before["phase_readings"][0] > 0 and before["compacted_days"][0] >= 1


def test_the_migration_puts_each_reading_in_its_month(copy_0006: str) -> None:
    upgrade(copy_0006)
    months = {
        partition_name("meter_readings", add_months(month_of(FIRST), n)) for n in range(MONTHS)
    }
    found = homes(copy_0006, "meter_readings")
    assert months <= set(found)
    assert "meter_readings_default" not in found
    # The two hours across March's end went half to March, half to April.
    stretch = f"measured_at BETWEEN '{MONTH_END}' AND '{MONTH_END + timedelta(hours=2)}'"
    split = homes(copy_0006, "meter_readings", stretch)
    assert split.keys() == {"meter_readings_p202603", "meter_readings_p202604"}
    assert split["meter_readings_p202603"] == split["meter_readings_p202604"]


def test_phase_rows_take_their_system_readings_instant(copy_0006: str) -> None:
    upgrade(copy_0006)
    engine = create_engine(copy_0006)
    with engine.connect() as conn:
        apart = conn.execute(
            text(
                "SELECT count(*) FROM phase_readings p JOIN system_readings s "
                "ON s.id = p.reading_id WHERE s.measured_at <> p.measured_at"
            )
        ).scalar_one()
    engine.dispose()
    assert apart == 0


def test_rollups_and_views_are_the_same_after_the_migration(copy_0006: str) -> None:
    # Today's rollup reads revision 0008's columns: they are lent to the 0006 database
    # (all NULL, polls as polled, as its rows are) for the reading before the migration.
    with _later_columns(copy_0006):
        before = energy(copy_0006), views(copy_0006)
    upgrade(copy_0006)
    assert (energy(copy_0006), views(copy_0006)) == before


def test_downgrade_keeps_every_row(copy_0006: str) -> None:
    before = fingerprints(copy_0006)
    upgrade(copy_0006)
    downgrade(copy_0006, "0006")
    assert fingerprints(copy_0006) == before
    engine = create_engine(copy_0006)
    with engine.connect() as conn:
        assert not partitions(conn)
    engine.dispose()


def test_a_migrated_database_stores_new_polls(copy_0006: str) -> None:
    upgrade(copy_0006)
    before = fingerprints(copy_0006)
    store = open_store(copy_0006)
    try:
        summary = save_polls(store, [make_poll(LAST + timedelta(days=3))])
    finally:
        store.close()
    after = fingerprints(copy_0006)
    assert summary.phase_readings > 0
    assert after["phase_readings"][0] == before["phase_readings"][0] + summary.phase_readings
    assert after["system_readings"][0] == before["system_readings"][0] + summary.system_readings


def test_months_ahead_are_made_with_the_schema(pg_url: str) -> None:
    open_store(pg_url).close()
    now = month_of(datetime.now(UTC))
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        made = partitions(conn)
    engine.dispose()
    for table in PARTITIONED:
        assert {partition_name(table, add_months(now, n)) for n in range(3)} <= made


def test_a_reading_of_next_month_lands_in_its_partition(pg_url: str) -> None:
    next_month = add_months(month_of(datetime.now(UTC)), 1)
    store = open_store(pg_url)
    try:
        save_polls(store, [make_poll(next_month + timedelta(hours=3), batteries=2)])
    finally:
        store.close()
    for table in PARTITIONED:
        assert set(homes(pg_url, table)) == {partition_name(table, next_month)}, table


@pytest.mark.parametrize("year", [1999, 2061])
def test_a_reading_of_a_month_without_partition_is_kept(pg_url: str, year: int) -> None:
    when = datetime(year, 7, 4, 12, 0, tzinfo=UTC)  # a gateway clock far off
    store = open_store(pg_url)
    try:
        summary = save_polls(store, [make_poll(when, batteries=2)])
    finally:
        store.close()
    assert summary.phase_readings > 0 and summary.battery_readings > 0
    for table in PARTITIONED:
        assert set(homes(pg_url, table)) == {f"{table}_default"}, table


def test_a_month_made_later_takes_its_readings_from_the_default_partition(pg_url: str) -> None:
    when = datetime(2061, 7, 4, 12, 0, tzinfo=UTC)
    store = open_store(pg_url)
    try:
        later = when + timedelta(days=40)  # the next month's
        save_polls(store, [make_poll(when, batteries=2), make_poll(later, batteries=2)])
        before = fingerprints(pg_url)
        with store.transaction("making partitions") as txn:
            made = ensure_months(txn.conn, when, ahead=0)
        after = fingerprints(pg_url)
    finally:
        store.close()
    assert sorted(made) == sorted(partition_name(t, month_of(when)) for t in PARTITIONED)
    assert after == before
    for table in PARTITIONED:
        found = homes(pg_url, table)
        assert set(found) == {partition_name(table, month_of(when)), f"{table}_default"}, table


def test_making_months_twice_makes_nothing_more(pg_url: str) -> None:
    store = open_store(pg_url)
    try:
        with store.transaction("making partitions") as txn:
            first = ensure_months(txn.conn, datetime(2061, 1, 1, tzinfo=UTC))
        with store.transaction("making partitions") as txn:
            again = ensure_months(txn.conn, datetime(2061, 1, 1, tzinfo=UTC))
    finally:
        store.close()
    assert len(first) == 3 * len(PARTITIONED) and again == []


def _drop_month(url: str, month: datetime) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        drop_month(conn, month)
    engine.dispose()


def _made(url: str, month: datetime) -> bool:
    engine = create_engine(url)
    with engine.connect() as conn:
        found = partitions(conn)
    engine.dispose()
    return all(partition_name(t, month) in found for t in PARTITIONED)


def test_the_service_makes_months_ahead_at_start_and_daily(pg_url: str, tmp_path: Path) -> None:
    from envoylog.db import Writer
    from envoylog.service.worker import PARTITION_INTERVAL_S, StoreWorker

    now = datetime.now(UTC)
    last = add_months(month_of(now), 2)
    open_store(pg_url).close()
    _drop_month(pg_url, last)
    monotonic = [0.0]
    worker = StoreWorker(
        Writer(pg_url, tmp_path / "spool"), rollup_interval_s=None, monotonic=lambda: monotonic[0]
    )

    def store_a_poll(minutes: int) -> bool:
        worker.submit(make_poll(now + timedelta(minutes=minutes)))
        worker.queue.join()
        return _made(pg_url, last)

    worker.start()
    try:
        at_start = store_a_poll(0)
        _drop_month(pg_url, last)
        same_day = store_a_poll(1)
        monotonic[0] = PARTITION_INTERVAL_S
        next_day = store_a_poll(2)
    finally:
        worker.stop()
        worker.join(60)
    assert (at_start, same_day, next_day) == (True, False, True)


def test_dropping_a_month_removes_its_readings_alone(pg_url: str) -> None:
    month = add_months(month_of(datetime.now(UTC)), 1)
    store = open_store(pg_url)
    try:
        polls = [make_poll(month - timedelta(hours=2)), make_poll(month + timedelta(hours=3))]
        save_polls(store, polls)
        before = {t: homes(pg_url, t) for t in PARTITIONED}
        with store.transaction("dropping a month") as txn:
            dropped = drop_month(txn.conn, month)
    finally:
        store.close()
    assert sorted(dropped) == sorted(partition_name(t, month) for t in PARTITIONED)
    for table in ("system_readings", "phase_readings", "meter_readings", "inverter_readings"):
        kept = before[table].copy()
        assert kept.pop(partition_name(table, month)) > 0
        assert homes(pg_url, table) == kept != {}


def test_envoylogs_connections_compile_no_statement_and_leave_the_servers_setting(
    pg_url: str,
) -> None:
    """PostgreSQL compiled the hourly rollup's inverter search over a year of month
    partitions each time (its estimated cost passed jit_above_cost): the statement 146 ms
    with it, 21 ms without (docs/performance.md, section 8)."""
    with open_store(pg_url) as store, store.reading("the jit setting") as conn:
        assert conn.execute(text("SHOW jit")).scalar() == "off"
    engine = create_engine(pg_url)  # a user's own session
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW jit")).scalar() == "on"
    finally:
        engine.dispose()
