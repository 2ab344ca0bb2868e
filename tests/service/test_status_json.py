"""`envoylog status --json`: the same facts as the screen, for machines."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parents[1] / "db"))
from factories import SERIAL, make_poll

from envoylog.cli import cli
from envoylog.db import open_store, save_poll
from envoylog.db.status import gateway_statuses


def test_status_json_names_each_gateway_its_last_poll_and_error(tmp_path: Path) -> None:
    db = tmp_path / "e.sqlite"
    recent = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    with open_store(f"sqlite:///{db}") as store:
        save_poll(store, make_poll(recent - timedelta(minutes=1), fail=("device_data",)))
        save_poll(store, make_poll(recent))

    result = CliRunner().invoke(cli, ["status", "--db", str(db), "--json"])

    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    (gateway,) = document["gateways"]
    assert gateway["serial"] == SERIAL
    assert datetime.fromisoformat(gateway["last_success_at"]) >= recent
    assert 290 < gateway["last_success_age_s"] < 400
    assert gateway["last_error"] == "HTTP 503: busy"
    assert gateway["readings_last_24h"] > 0
    assert document["database"].startswith("SQLite database")
    assert document["database_bytes"] > 0
    assert document["spool"] == {"polls": 0, "bytes": 0, "set_aside": 0}


def test_status_names_the_last_error_of_the_last_30_days_only(tmp_path: Path) -> None:
    """Errors have no index of their own: the search is bounded in time (ERROR_LOOKBACK)."""
    db = tmp_path / "e.sqlite"
    now = datetime.now(UTC).replace(microsecond=0)
    with open_store(f"sqlite:///{db}") as store:
        save_poll(store, make_poll(now - timedelta(days=31), fail=("device_data",)))
        save_poll(store, make_poll(now - timedelta(minutes=5)))
        assert gateway_statuses(store, now)[0].last_error is None
        save_poll(store, make_poll(now - timedelta(days=29), fail=("device_data",)))
        assert gateway_statuses(store, now)[0].last_error == "HTTP 503: busy"
