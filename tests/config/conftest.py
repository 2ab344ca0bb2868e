"""Config tests run with none of the environment that would change what they load."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # config_support.py, next to this file

from config_support import WriteConfig

_ENVIRONMENT = (
    "ENVOYLOG_CONFIG",
    "ENVOYLOG_DB",
    "ENVOYLOG_TOKEN",
    "CONFIGURATION_DIRECTORY",
    "CREDENTIALS_DIRECTORY",
    "STATE_DIRECTORY",
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
)


@pytest.fixture(autouse=True)
def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))


@pytest.fixture
def write_config(tmp_path: Path) -> WriteConfig:
    """Write TOML text to a private envoylog.toml in tmp_path and return its path."""

    def write(text: str) -> Path:
        path = tmp_path / "envoylog.toml"
        path.write_text(text)
        path.chmod(0o600)
        return path

    return write
