"""Which config file is read: --config, $ENVOYLOG_CONFIG, systemd's, /etc, then the user's."""

from __future__ import annotations

from pathlib import Path

import pytest

from envoylog.config import find_config_file, load

PLACES = ("flag", "env", "systemd", "etc", "user")


@pytest.fixture
def everywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A config file in every place, each place switched on."""
    files = {
        "flag": tmp_path / "flag" / "envoylog.toml",
        "env": tmp_path / "env" / "envoylog.toml",
        "systemd": tmp_path / "systemd" / "envoylog.toml",
        "etc": tmp_path / "etc" / "envoylog.toml",
        "user": tmp_path / "xdg-config" / "envoylog" / "envoylog.toml",
    }
    for path in files.values():
        path.parent.mkdir(parents=True)
        path.write_text("")
    monkeypatch.setenv("ENVOYLOG_CONFIG", str(files["env"]))
    monkeypatch.setenv("CONFIGURATION_DIRECTORY", str(files["systemd"].parent))
    monkeypatch.setattr(load, "SYSTEM_CONFIG", files["etc"])
    return files


@pytest.mark.parametrize("winner", PLACES)
def test_each_place_beats_the_ones_after_it(
    winner: str, everywhere: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    for place in PLACES[: PLACES.index(winner)]:
        if place == "env":
            monkeypatch.delenv("ENVOYLOG_CONFIG")
        elif place == "systemd":
            monkeypatch.delenv("CONFIGURATION_DIRECTORY")
        elif place != "flag":
            everywhere[place].unlink()
    flag = everywhere["flag"] if winner == "flag" else None
    assert find_config_file(flag) == everywhere[winner]


def test_user_file_without_xdg_is_under_dot_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(load, "SYSTEM_CONFIG", tmp_path / "no-etc.toml")
    path = tmp_path / ".config" / "envoylog" / "envoylog.toml"
    path.parent.mkdir(parents=True)
    path.write_text("")
    assert find_config_file(None) == path


def test_no_file_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load, "SYSTEM_CONFIG", tmp_path / "no-etc.toml")
    assert find_config_file(None) is None


def test_named_files_count_even_when_missing(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    assert find_config_file(missing) == missing
    assert find_config_file(None, {"ENVOYLOG_CONFIG": str(missing)}) == missing
