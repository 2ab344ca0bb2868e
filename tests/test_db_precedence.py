"""Every command finds the database the same way: --db, then $ENVOYLOG_DB, then the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from envoylog.cli import cli


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "nowhere"))
    monkeypatch.delenv("ENVOYLOG_DB", raising=False)
    monkeypatch.delenv("ENVOYLOG_CONFIG", raising=False)
    config = tmp_path / "envoylog.toml"
    config.write_text(f'database = "{tmp_path / "from-file.sqlite"}"\n')
    return {
        "config": config,
        "file": tmp_path / "from-file.sqlite",
        "env": tmp_path / "from-env.sqlite",
        "flag": tmp_path / "from-flag.sqlite",
        "default": tmp_path / "state" / "envoylog" / "envoylog.sqlite",
    }


def upgrade(*args: str) -> None:
    result = CliRunner().invoke(cli, ["db", "upgrade", *args])
    assert result.exit_code == 0, result.output


def test_config_file_database_is_used(places: dict[str, Path]) -> None:
    upgrade("--config", str(places["config"]))
    assert places["file"].exists() and not places["default"].exists()


def test_environment_beats_the_file(
    places: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENVOYLOG_DB", str(places["env"]))
    upgrade("--config", str(places["config"]))
    assert places["env"].exists() and not places["file"].exists()


def test_flag_beats_the_environment(
    places: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENVOYLOG_DB", str(places["env"]))
    upgrade("--config", str(places["config"]), "--db", str(places["flag"]))
    assert places["flag"].exists() and not places["env"].exists()


def test_without_anything_the_state_folder_default(places: dict[str, Path]) -> None:
    upgrade()
    assert places["default"].exists()
