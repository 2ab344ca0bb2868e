"""A day's compaction searches the reading tables by instant, so a day's cost does not
grow with the years of history before it (docs/performance.md, section 8).

SQLite's query plan is the witness: a search of a reading table whose key names the
series but not the instant reads that series' whole history for every day compacted.
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

from exactness import compact_all, snapshot
from sqlalchemy import event
from week import fill

from envoylog.db import open_store

INSTANTS = {  # reading table -> the instant in its key
    "meter_readings": "measured_at",
    "system_readings": "measured_at",
    "inverter_readings": "reported_at",
}
SEARCH = re.compile(r"\b(?:SEARCH|SCAN) (\w+)(.*)")


def plans_of_a_compaction(path: Path) -> list[tuple[str, str, str]]:
    """(statement, table, plan line) of each reading-table search that a compaction of two
    days of the three-phase site makes for every day it compacts (a search made once a
    run, such as the list of a gateway's series, is not a day's cost)."""
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
        days = compact_all(store).days
    finally:
        store.close()
    assert days >= 2
    found = []
    with sqlite3.connect(path) as conn:
        for statement, params in statements.items():
            if made[statement] < days or not statement.lstrip().upper().startswith(
                ("SELECT", "DELETE", "UPDATE")
            ):
                continue
            for *_, line in conn.execute(f"EXPLAIN QUERY PLAN {statement}", params):
                match = SEARCH.search(line)
                if match and match.group(1) in INSTANTS:
                    found.append((statement, match.group(1), line))
    return found


def test_every_search_of_a_reading_table_names_its_instant(tmp_path: Path) -> None:
    found = plans_of_a_compaction(tmp_path / "envoylog.sqlite")
    assert {table for _, table, _ in found} == set(INSTANTS)
    unbounded = [
        f"{line}\n    in {statement.split(' WHERE ')[0][:80]} ..."
        for statement, table, line in found
        if INSTANTS[table] not in line
    ]
    assert not unbounded, "searches that read a series' whole history:\n" + "\n".join(unbounded)
