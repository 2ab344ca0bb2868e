"""A day's compaction and the hourly rollup search the reading tables by instant, so
their cost does not grow with the years of history before them (docs/performance.md,
section 8).

SQLite's query plan is the witness: a search of a reading table whose key names the
series but not the instant reads that series' whole history for every day compacted.
On PostgreSQL, the partitions a statement executes are: a search that does not bound
the instant looks in every month's partition.
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from exactness import compact_all, snapshot
from sqlalchemy import event, insert
from week import START, fill

from envoylog.db import Store, open_store
from envoylog.db.battery import battery_now
from envoylog.db.energy import last_poll_starts, list_gateways, reading_span
from envoylog.db.models import batteries, battery_readings, battery_system_readings, gateways
from envoylog.db.partitions import add_months, ensure_months, month_of
from envoylog.db.status import gateway_statuses
from envoylog.energy.rollup import rollup_recent

INSTANTS = {  # reading table -> the instant in its key
    "meter_readings": "measured_at",
    "system_readings": "measured_at",
    "inverter_readings": "reported_at",
}
NOON = START + timedelta(days=1, hours=12)  # the second of the two days
SEARCH = re.compile(r"\b(?:SEARCH|SCAN) (\w+)(.*)")


def plans_of(path: Path, work: Callable[[Store], int]) -> list[tuple[str, str, str]]:
    """(statement, table, plan line) of each reading-table search that ``work`` makes on
    two days of the three-phase site, rolled up, for every one of the n units it returns
    (a search made once a compaction run, such as the list of a gateway's series, is not
    a day's cost)."""
    store = open_store(f"sqlite:///{path}")
    statements: dict[str, Any] = {}
    made: Counter[str] = Counter()
    try:
        fill(store, days=2)  # CTs, system readings with phases, 36 inverters
        snapshot(store)  # rolled up: compaction takes rolled-up days only

        def seen(
            _conn: Any, _cursor: Any, statement: str, params: Any, _ctx: Any, many: bool
        ) -> None:
            statements[statement] = params[0] if many else params
            made[statement] += 1

        event.listen(store.engine, "before_cursor_execute", seen)
        units = work(store)
    finally:
        store.close()
    assert units >= 1
    found = []
    with sqlite3.connect(path) as conn:
        for statement, params in statements.items():
            if made[statement] < units or not statement.lstrip().upper().startswith(
                ("SELECT", "DELETE", "UPDATE")
            ):
                continue
            for *_, line in conn.execute(f"EXPLAIN QUERY PLAN {statement}", params):
                match = SEARCH.search(line)
                if match and match.group(1) in (*INSTANTS, "polls"):
                    found.append((statement, match.group(1), line))
    return found


def unbounded(found: list[tuple[str, str, str]]) -> str:
    return "\n".join(
        f"{line}\n    in {statement.split(' WHERE ')[0][:80]} ..."
        for statement, table, line in found
        if INSTANTS.get(table, "started_at") not in line and "(rowid=?)" not in line
    )


def test_every_search_of_a_reading_table_names_its_instant(tmp_path: Path) -> None:
    def days(store: Store) -> int:
        done = compact_all(store).days
        assert done >= 2
        return done

    found = plans_of(tmp_path / "envoylog.sqlite", days)
    assert {table for _, table, _ in found} >= set(INSTANTS)
    assert not unbounded(found), "searches that read a series' whole history"


def test_a_compaction_run_reads_no_series_whole_even_once(tmp_path: Path) -> None:
    """Listing a gateway's system series, once a run, read its whole system history: on a
    generated year, 153 ms a gateway each time the service looked for days to compact."""

    def run(store: Store) -> int:
        assert compact_all(store).days >= 2
        return 1  # every statement of the run, not only those made once a day

    found = plans_of(tmp_path / "envoylog.sqlite", run)
    assert not unbounded(found), "searches that read a series' whole history"


def test_the_hourly_rollup_searches_the_reading_tables_by_instant(tmp_path: Path) -> None:
    """It chose each day's sources by the growth of every system series over the gateway's
    whole history (the key's series were not named)."""

    def hourly(store: Store) -> int:
        rollup_recent(store, NOON, days=2)
        return 1

    found = plans_of(tmp_path / "envoylog.sqlite", hourly)
    assert {table for _, table, _ in found} >= set(INSTANTS)
    assert not unbounded(found), "searches that read a series' whole history"


def steps(
    folder: Path,
    days: int,
    call: Callable[[Store], object],
    make: Callable[[Store, int], object] = lambda store, days: fill(store, days=days),
) -> int:
    """Tens of SQLite's steps ``call`` takes on ``days`` generated days."""
    store = open_store(f"sqlite:///{folder / f'{days}.sqlite'}")
    counted = [0]

    def counting(dbapi: Any, _record: Any) -> None:
        dbapi.set_progress_handler(lambda: counted.__setitem__(0, counted[0] + 1) or 0, 10)

    try:
        make(store, days)
        store.engine.dispose()  # the next connections count
        event.listen(store.engine, "connect", counting)
        assert call(store)
    finally:
        store.close()
    return counted[0]


def test_the_span_of_a_gateways_readings_costs_the_same_whatever_its_history(
    tmp_path: Path,
) -> None:
    """Its system series' first and last instants were one select with both ends: SQLite
    then scanned each series (348 ms on a generated year) instead of reading one row."""

    def span(store: Store) -> object:
        return reading_span(store, 1)

    one, three = steps(tmp_path, 1, span), steps(tmp_path, 3, span)
    assert 0 < three <= one * 1.3, (one, three)  # a scan would have grown threefold


def test_the_last_poll_before_a_restart_costs_the_same_whatever_the_history(
    tmp_path: Path,
) -> None:
    """Each gateway's latest start was a maximum grouped by gateway, which read every poll
    before the instant (75.3 ms a gateway on a generated year, at every service start)."""

    def last(store: Store) -> object:
        serials = [gateway.serial for gateway in list_gateways(store)]
        return last_poll_starts(store, serials, START + timedelta(days=5))

    one, three = steps(tmp_path, 1, last), steps(tmp_path, 3, last)
    assert 0 < three <= one * 1.3, (one, three)


def test_the_status_searches_the_readings_and_errors_by_instant(tmp_path: Path) -> None:
    """`envoylog status` counted a day's readings by gateway alone and looked for the last
    error through every poll ever made: 1.7 s a gateway over a generated year."""

    def status(store: Store) -> int:
        assert gateway_statuses(store, NOON)
        return 1

    found = plans_of(tmp_path / "envoylog.sqlite", status)
    assert {table for _, table, _ in found} >= {"polls", "meter_readings", "system_readings"}
    # The last poll and the last good one: the newest row of the key, read backwards.
    latest = [f for f in found if f[1] == "polls" and "poll_endpoints" not in f[0]]
    assert latest and all("DESC" in statement for statement, _, _ in latest)
    assert not unbounded([f for f in found if f not in latest]), "searches of the whole history"


def battery_minutes(store: Store, days: int) -> None:
    """A gateway whose two batteries and their aggregate reported every minute for days."""
    at = [START + timedelta(minutes=k) for k in range(days * 1440)]
    with store.transaction("battery history") as txn:
        gateway = txn.conn.execute(
            insert(gateways).values(serial="g", host="h", first_seen_at=START, last_seen_at=START)
        ).inserted_primary_key[0]
        for serial in ("b1", "b2"):
            battery = txn.conn.execute(
                insert(batteries).values(
                    gateway_id=gateway,
                    serial=serial,
                    kind="encharge",
                    capacity_wh=3360.0,
                    first_seen_at=START,
                    last_seen_at=START,
                )
            ).inserted_primary_key[0]
            rows = [{"battery_id": battery, "measured_at": t, "soc_pct": 50.0} for t in at]
            txn.conn.execute(insert(battery_readings), rows)
        rows = [{"gateway_id": gateway, "measured_at": t, "soc_pct": 50.0} for t in at]
        txn.conn.execute(insert(battery_system_readings), rows)


def test_the_latest_state_of_charge_costs_the_same_whatever_the_history(tmp_path: Path) -> None:
    """`envoylog status` and `now` took the newest state of charge as a maximum with
    conditions, which SQLite answers by reading every battery reading ever stored."""

    def latest(store: Store) -> object:
        with store.reading("latest state of charge") as conn:
            return battery_now(conn, 1)

    one = steps(tmp_path, 1, latest, battery_minutes)
    three = steps(tmp_path, 3, latest, battery_minutes)
    assert 0 < three <= one * 1.3, (one, three)


PARTITION = re.compile(r" on (\w+)_p(\d{6})\b")


def test_a_days_compaction_on_postgresql_looks_in_its_own_months_partitions_alone(
    pg_url: str,
) -> None:
    """Phase rows were read and deleted by their reading's id alone, so PostgreSQL looked
    for each in every month's partition: a year of history, 15 indexes a reading."""
    store = open_store(pg_url)
    statements: dict[str, Any] = {}
    try:
        with store.transaction("a year of months") as txn:
            for n in range(-6, 7):
                ensure_months(txn.conn, add_months(month_of(START), n), ahead=0)
        fill(store, days=2)
        snapshot(store)

        def seen(
            _conn: Any, _cursor: Any, statement: str, params: Any, _ctx: Any, many: bool
        ) -> None:
            if not many and statement.lstrip().upper().startswith(("SELECT", "DELETE")):
                statements[statement] = params

        event.listen(store.engine, "before_cursor_execute", seen)
        assert compact_all(store).days >= 2
        event.remove(store.engine, "before_cursor_execute", seen)
        wide = []
        with store.engine.connect() as conn:
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            for statement, params in statements.items():
                # ANALYZE runs the statement (a DELETE too): rolled back below.
                cursor.execute(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {statement}", params)
                months: dict[str, set[str]] = defaultdict(set)
                for (line,) in cursor.fetchall():
                    if "never executed" not in line:
                        for table, month in PARTITION.findall(line):
                            months[table].add(month)
                conn.connection.dbapi_connection.rollback()  # type: ignore[union-attr]
                # A day at a month's end reads two months.
                if any(len(m) > 2 for m in months.values()):
                    wide.append(f"{dict(months)}: {statement[:120]}")
    finally:
        store.close()
    assert len(statements) > 10
    assert not wide, "statements that look in every month:\n" + "\n".join(wide)
