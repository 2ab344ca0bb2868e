"""No silent death: a poll that cannot be stored costs that poll only, and a dead or stuck
store worker makes the service unhealthy (so systemd's watchdog restarts it)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "db"))  # factories.py

from factories import at, make_poll, with_count

from envoylog.db import Writer, WriteStatus, open_store
from envoylog.service.scheduler import Service
from envoylog.service.worker import StoreWorker

BEYOND_64_BITS = 9223372036854775808  # the activeCount


def test_a_value_beyond_64_bits_costs_that_poll_only(db_url: str, tmp_path: Path) -> None:
    writer = Writer(db_url, tmp_path / "spool")
    refused = writer.write(with_count(make_poll(at(0)), BEYOND_64_BITS))
    after = [writer.write(make_poll(at(m))) for m in (1, 2)]
    writer.close()
    assert refused.status is WriteStatus.SET_ASIDE
    assert {r.status for r in after} == {WriteStatus.STORED}
    [bad] = writer.spool.set_aside_files()
    assert writer.spool.reason(bad) == refused.error and refused.error
    assert writer.spool.kept_aside == 1
    with open_store(db_url) as store, store.reading("counting") as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM polls").scalar_one() == 2


def test_the_store_worker_survives_and_stores_the_next_polls(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'e.sqlite'}"
    worker = StoreWorker(Writer(db_url, tmp_path / "spool"), rollup_interval_s=None)
    worker.start()
    worker.submit(with_count(make_poll(at(0)), BEYOND_64_BITS))
    for minute in range(1, 4):
        worker.submit(make_poll(at(minute)))
    worker.queue.join()
    assert worker.is_alive() and Service([], worker).healthy()
    worker.stop()
    worker.join(30)
    assert worker.written == 3 and worker.writer.spool.kept_aside == 1


def test_a_dead_store_worker_makes_the_service_unhealthy(tmp_path: Path) -> None:
    worker = StoreWorker(Writer(f"sqlite:///{tmp_path / 'e.sqlite'}", tmp_path / "spool"))
    worker.start()
    service = Service([], worker)
    assert service.healthy()
    worker.stop()
    worker.join(30)
    assert not service.healthy()
    assert service.unhealthy_reason() == "the store worker has died"


def test_a_stuck_store_worker_makes_the_service_unhealthy(tmp_path: Path) -> None:
    worker = StoreWorker(Writer(f"sqlite:///{tmp_path / 'e.sqlite'}", tmp_path / "spool"))
    worker.start()
    service = Service([], worker)
    try:
        last_sign = max(worker.beat_at, worker.writer.progressed_at)
        assert service.healthy(now=last_sign + worker.stuck_after_s - 1)
        assert not service.healthy(now=last_sign + worker.stuck_after_s + 1)
    finally:
        worker.stop()
        worker.join(30)


def test_the_status_file_counts_polls_set_aside(tmp_path: Path) -> None:
    worker = StoreWorker(Writer(f"sqlite:///{tmp_path / 'e.sqlite'}", tmp_path / "spool"))
    refused = worker.writer.write(with_count(make_poll(at(0)), BEYOND_64_BITS))
    assert refused.status is WriteStatus.SET_ASIDE
    Service([], worker, status_file=tmp_path / "status.json").write_status()
    assert json.loads((tmp_path / "status.json").read_text())["polls_set_aside"] == 1
