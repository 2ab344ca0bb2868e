"""Which database to use: --db flag, ENVOYLOG_DB, the config file, or the embedded default."""

from __future__ import annotations

import os
from pathlib import Path

from envoylog.paths import state_dir

ENV_VAR = "ENVOYLOG_DB"
DEFAULT_FILE = "envoylog.sqlite"


def default_db_path() -> Path:
    """``$STATE_DIRECTORY/envoylog.sqlite`` under systemd, else ``$XDG_STATE_HOME/envoylog/...``."""
    return state_dir() / DEFAULT_FILE


def resolve_db_url(flag: str | None, config_value: str | None = None) -> str:
    """Pick the database URL: flag, then $ENVOYLOG_DB, then the config value, then the default.

    A value without ``://`` is taken as a SQLite file path. For the default file the
    folder is created.
    """
    for value in (flag, os.environ.get(ENV_VAR), config_value):
        if value and value.strip():
            return _as_url(value.strip())
    path = default_db_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path.resolve()}"


def _as_url(value: str) -> str:
    if "://" in value:
        return value
    return f"sqlite:///{Path(value).expanduser().resolve()}"
