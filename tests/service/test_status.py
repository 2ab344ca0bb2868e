"""`envoylog status` and the service's status file: what happened to the polls, said exactly."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "db"))  # factories.py

from factories import at, make_poll

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
