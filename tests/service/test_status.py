"""`envoylog status` and the service's status file: what happened to the polls, said exactly."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parents[1] / "db"))  # factories.py

from factories import SERIAL, at, make_poll

from envoylog.cli import cli
from envoylog.db import Writer
from envoylog.records import poll_to_json
from envoylog.service.scheduler import Service
from envoylog.service.status import collect_status, render
from envoylog.service.worker import StoreWorker


def test_polls_dropped_from_a_full_spool_are_counted_in_the_status(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'e.sqlite'}"
    size = len(poll_to_json(make_poll(at(0))).encode())
    writer = Writer(url, tmp_path / "spool", max_bytes=int(size * 3.5))
    for minute in range(36):
        writer.spool.put(make_poll(at(minute)))  # the database down for 36 polls
    status = tmp_path / "state" / "status.json"
    Service([], StoreWorker(writer), status_file=status).write_status()
    assert json.loads(status.read_text())["polls_dropped"] == 33
    report = collect_status(url, status, tmp_path / "spool")
    assert "33 dropped from the full spool" in render(report)


def run_status(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["status", *args])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_status_never_creates_a_database_and_says_there_is_none(tmp_path: Path) -> None:
    missing = tmp_path / "fresh.sqlite"
    code, out = run_status("--db", str(missing))
    assert code == 1
    assert f"there is no database at {missing}" in out
    assert not missing.exists() and not list(tmp_path.glob("fresh.sqlite*"))


def test_status_exits_non_zero_when_the_database_cannot_be_read() -> None:
    code, out = run_status("--db", "postgresql+psycopg://envoylog@127.0.0.1:9/nowhere")
    assert code == 1 and "cannot be read: " in out and "127.0.0.1:9" in out


def service_status_for(tmp_path: Path, url: str) -> Path:
    """The status file of a service logging to ``url``, where `envoylog status` looks."""
    status = tmp_path / "state" / "envoylog" / "status.json"
    worker = StoreWorker(Writer(url, tmp_path / "spool"))
    worker.writer.write(make_poll(at(0)))
    worker.written = 1
    Service([], worker, status_file=status).write_status()
    worker.writer.close()
    return status


def test_status_describes_the_service_only_for_the_database_it_logs_to(tmp_path: Path) -> None:
    services = f"sqlite:///{tmp_path / 'service.sqlite'}"
    service_status_for(tmp_path, services)
    mine = tmp_path / "mine.sqlite"
    Writer(f"sqlite:///{mine}", tmp_path / "spool").write(make_poll(at(0)))

    code, out = run_status("--db", str(mine))
    assert code == 0, out
    assert f"logging to SQLite database {tmp_path / 'service.sqlite'}, not this one" in out
    assert "since its start" not in out
    code, out = run_status("--db", services)
    assert code == 0 and "since its start: 1 stored" in out


def test_status_shows_the_last_poll_stored_and_a_later_one_made_but_not_stored(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'e.sqlite'}"
    status = service_status_for(tmp_path, url)  # stored: the poll made at at(0)
    document = json.loads(status.read_text())
    made = at(0) + timedelta(minutes=30)  # made by the service, not in the database
    document["gateways"] = {"roof": {"serial": SERIAL, "last_success_at": made.isoformat()}}
    status.write_text(json.dumps(document))
    code, out = run_status("--db", url)
    assert code == 0, out
    assert "last poll stored 2026-06-01 10:0" in out
    assert "last poll made   2026-06-01 10:30:00 UTC" in out and "not in the database" in out
