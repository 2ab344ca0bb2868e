"""Where envoylog keeps its files when nobody says otherwise."""

from __future__ import annotations

import os
from pathlib import Path

SPOOL_FOLDER = "spool"


def state_dir() -> Path:
    """Return the folder for the database, the spool and pinned certificates.

    systemd's ``StateDirectory=`` wins, then ``$XDG_STATE_HOME/envoylog``, then
    ``~/.local/state/envoylog``.
    """
    systemd = os.environ.get("STATE_DIRECTORY")
    if systemd:
        return Path(systemd.split(":")[0])
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "envoylog"


def pin_file() -> Path:
    """Return the file that remembers each gateway's TLS certificate fingerprint."""
    return state_dir() / "pinned-certificates.json"


def status_file() -> Path:
    """Return the file where the running service writes what `envoylog status` shows."""
    return state_dir() / "status.json"


def spool_dir() -> Path:
    """Return the folder where polls wait while the database is down."""
    return state_dir() / SPOOL_FOLDER
