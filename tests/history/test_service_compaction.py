"""The store worker compacts rolled-up days past full_resolution_days, its own gateways only
when it shares the database."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parents[1] / "db"))  # factories.py
from factories import at, make_poll

from envoylog.db import Writer, open_store
from envoylog.energy.rollup import rollup
from envoylog.service.worker import StoreWorker

MINE, THEIRS = "122000000001", "122000000002"
DAY_MINUTES = 24 * 60


def compacted(db_url: str) -> dict[str, int]:
    """Compacted days per gateway serial."""
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT g.serial, count(*) FROM compacted_days c "
                "JOIN gateways g ON g.id = c.gateway_id GROUP BY g.serial"
            )
        ).all()
    engine.dispose()
    return {str(serial): int(n) for serial, n in rows}


def worker_beside_another_process(db_url: str, tmp_path: Path, *, own: bool) -> dict[str, int]:
    """A day of polls of two gateways, rolled up; then a worker storing a poll of one of
    them three days on, with a one-day full-resolution window."""
    writer = Writer(db_url, tmp_path / "their-spool")
    for minute in range(0, 6 * 60, 10):
        for serial in (MINE, THEIRS):
            writer.write(make_poll(at(minute), serial=serial, inverters=4))
    writer.close()
    with open_store(db_url) as store:
        rollup(store, now=datetime(2030, 1, 1, tzinfo=UTC))
    worker = StoreWorker(
        Writer(db_url, tmp_path / "spool"),
        rollup_interval_s=None,
        own_gateways_only=own,
        full_resolution_days=1,
    )
    worker.start()
    try:
        worker.submit(make_poll(at(3 * DAY_MINUTES), serial=MINE, inverters=4))
        worker.queue.join()
    finally:
        worker.stop()
        worker.join(60)
    return compacted(db_url)


def test_a_worker_sharing_its_database_compacts_only_its_own_gateways(
    db_url: str, tmp_path: Path
) -> None:
    assert worker_beside_another_process(db_url, tmp_path, own=True) == {MINE: 1}


def test_a_worker_alone_on_its_database_compacts_every_gateway(db_url: str, tmp_path: Path) -> None:
    assert worker_beside_another_process(db_url, tmp_path, own=False) == {MINE: 1, THEIRS: 1}
