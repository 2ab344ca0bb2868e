"""Where envoylog keeps its files when nobody says otherwise."""

from __future__ import annotations

import os
from pathlib import Path


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
