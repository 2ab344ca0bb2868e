"""`envoylog status` shows each gateway's battery state of charge, on screen and as JSON."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parents[1] / "db"))
from factories import make_poll

from envoylog.cli import cli
from envoylog.db import downgrade, open_store, save_poll

RECENT = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)


def status(db: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["status", "--db", str(db), *args])
    assert result.exit_code == 0, result.output
    return result.output


def logged(tmp_path: Path, batteries: int) -> Path:
    db = tmp_path / "status.sqlite"
    with open_store(f"sqlite:///{db}") as store:
        save_poll(store, make_poll(RECENT, batteries=batteries))
    return db


def test_status_shows_the_latest_state_of_charge_of_every_battery_together(
    tmp_path: Path,
) -> None:
    db = logged(tmp_path, batteries=2)
    (gateway,) = json.loads(status(db, "--json"))["gateways"]
    assert gateway["battery_soc_pct"] is not None and 0 <= gateway["battery_soc_pct"] <= 100
    assert datetime.fromisoformat(gateway["battery_soc_at"]) == RECENT
    assert f"battery          {gateway['battery_soc_pct']:.0f} % at " in status(db)


def test_a_gateway_without_batteries_shows_no_battery_line(tmp_path: Path) -> None:
    db = logged(tmp_path, batteries=0)
    (gateway,) = json.loads(status(db, "--json"))["gateways"]
    assert gateway["battery_soc_pct"] is None
    assert "battery " not in status(db)


def test_status_reads_a_database_from_before_the_battery_tables(tmp_path: Path) -> None:
    db = logged(tmp_path, batteries=0)
    downgrade(f"sqlite:///{db}", "0003")
    (gateway,) = json.loads(status(db, "--json"))["gateways"]
    assert gateway["readings_last_24h"] > 0 and gateway["battery_soc_pct"] is None
