"""`envoylog probe` says how many batteries a gateway has and their state of charge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from envoylog.cli import cli
from envoylog.simulator.replay import ReplayServer


@pytest.fixture(autouse=True)
def private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("ENVOYLOG_TOKEN", raising=False)


def probed(folder: Path, *args: str) -> str:
    with ReplayServer(folder) as server:
        result = CliRunner().invoke(cli, ["probe", "--host", server.url, *args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(
    ("capture", "line"),
    [
        ("8.2.4286_with_3cts_and_battery_split", "Batteries     5, state of charge 46 %"),
        ("7.6.185_with_cts_and_battery_3t", "Batteries     1, state of charge 15 %"),
        ("8.2.4382_ACB_2", "Batteries     2, state of charge 18 %"),
        ("8.2.4345_with_device_data", "Batteries     none"),
    ],
)
def test_probe_counts_the_batteries_and_gives_their_state_of_charge(
    captures_dir: Path, capture: str, line: str
) -> None:
    assert line + "\n" in probed(captures_dir / capture)


def test_probe_json_has_the_batteries_state_of_charge(captures_dir: Path) -> None:
    report = json.loads(probed(captures_dir / "8.1.41", "--json"))
    assert (report["batteries"], report["battery_soc_pct"]) == (2, 92)
