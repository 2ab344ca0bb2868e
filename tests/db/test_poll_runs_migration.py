"""Revision 0008 up and down over a database with compacted days: no poll or fetch lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from factories import T0, make_poll
from sqlalchemy import create_engine, text

from envoylog.db import downgrade, open_store, save_polls, upgrade
from envoylog.db.raw import prune_raw_bodies
from envoylog.energy.rollup import rollup
from envoylog.history.compact import compact
from envoylog.history.settings import STEP_DEFAULT

LATER = datetime(2030, 1, 1, tzinfo=UTC)
GAP = range(40, 45)  # minutes without a poll


def compacted(url: str) -> None:
    """Two hours of minute polls (a failed endpoint every 7th, a 6-minute gap), compacted."""
    minutes = [m for m in range(120) if m not in GAP]
    fail = {m: ("device_data",) for m in minutes if m % 7 == 0}
    with open_store(url) as store:
        polls = [make_poll(T0 + timedelta(minutes=m), fail=fail.get(m, ())) for m in minutes]
        save_polls(store, polls)
        rollup(store, now=LATER)
        prune_raw_bodies(store, LATER)
        assert compact(store, now=LATER, window_days=0, step=STEP_DEFAULT, before=LATER.date()).days


def rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


def poll_log(url: str, runs: bool) -> dict[str, Any]:
    """Polls by status, fetches by endpoint and error, and gaps over two minutes."""
    count = "sum(coalesce(samples, 1))" if runs else "count(*)"
    last = "coalesce(last_started_at, started_at)" if runs else "started_at"
    two = "(2.0 / 1440)" if url.startswith("sqlite") else "interval '2 minutes'"
    before = f"julianday({last})" if url.startswith("sqlite") else last
    after = "julianday(started_at)" if url.startswith("sqlite") else "started_at"
    gaps = rows(url, f"SELECT before, started_at FROM (SELECT started_at, {after} AS a, "
                     f"lag({last}) OVER (ORDER BY started_at) AS before, "
                     f"lag({before}) OVER (ORDER BY started_at) AS b FROM polls) p "
                     f"WHERE a > b + {two} ORDER BY started_at")  # fmt: skip
    fetches = f"SELECT endpoint, error IS NULL, {count} FROM poll_endpoints "
    return {
        "polls": rows(url, f"SELECT status, {count} FROM polls GROUP BY status ORDER BY status"),
        "fetches": rows(url, fetches + "GROUP BY endpoint, error IS NULL ORDER BY 1, 2"),
        "gaps": gaps,
    }


def test_downgrading_puts_every_poll_of_a_run_back(db_url: str) -> None:
    compacted(db_url)
    before = poll_log(db_url, runs=True)
    (folded,) = rows(db_url, "SELECT count(*) FROM polls WHERE samples IS NOT NULL")[0]
    assert folded > 0
    downgrade(db_url, "0007")
    after = poll_log(db_url, runs=False)
    assert after == before
    assert [(str(a)[:16], str(b)[:16]) for a, b in after["gaps"]] == [
        (str(T0 + timedelta(minutes=39))[:16], str(T0 + timedelta(minutes=45))[:16])
    ]


def test_upgrading_again_keeps_every_poll(db_url: str) -> None:
    compacted(db_url)
    before = poll_log(db_url, runs=True)
    downgrade(db_url, "0007")
    upgrade(db_url)
    assert poll_log(db_url, runs=True) == before
