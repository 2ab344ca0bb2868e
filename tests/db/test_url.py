"""resolve_db_url: flag, then ENVOYLOG_DB, then config, then the state folder's file."""

from __future__ import annotations

from pathlib import Path

import pytest

from envoylog.db import resolve_db_url


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("ENVOYLOG_DB", "STATE_DIRECTORY", "XDG_STATE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_flag_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVOYLOG_DB", "postgresql://env/db")
    assert (
        resolve_db_url("postgresql://flag/db", "postgresql://config/db") == "postgresql://flag/db"
    )


def test_environment_before_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVOYLOG_DB", "postgresql://env/db")
    assert resolve_db_url(None, "postgresql://config/db") == "postgresql://env/db"


def test_config_before_default() -> None:
    assert resolve_db_url(None, "postgresql://config/db") == "postgresql://config/db"


def test_a_plain_path_is_a_sqlite_file(tmp_path: Path) -> None:
    assert resolve_db_url(str(tmp_path / "x.sqlite")) == f"sqlite:///{tmp_path / 'x.sqlite'}"


def test_default_under_systemd_state_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "state"))
    assert resolve_db_url(None) == f"sqlite:///{tmp_path / 'state' / 'envoylog.sqlite'}"
    assert (tmp_path / "state").is_dir()


def test_default_under_xdg_state_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert resolve_db_url(None) == f"sqlite:///{tmp_path / 'xdg' / 'envoylog' / 'envoylog.sqlite'}"
    assert (tmp_path / "xdg" / "envoylog").is_dir()


def test_default_under_home(tmp_path: Path) -> None:
    expected = tmp_path / "home" / ".local" / "state" / "envoylog" / "envoylog.sqlite"
    assert resolve_db_url(None) == f"sqlite:///{expected}"
    assert expected.parent.is_dir()
