"""What a running service loads: the heavy libraries only its other commands need stay out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support import SAMPLE_DATA

from envoylog.db import upgrade
from envoylog.simulator.replay import ReplayServer

# alembic 11 MB, pandas + pyarrow far more (measured RSS); psycopg is for PostgreSQL only.
# requests is the gateway transport: every poll loads it.
HEAVY = ("alembic", "pandas", "pyarrow", "psycopg")

CHILD = """
import sys
from envoylog.cli import main  # every command registered, as `envoylog run` starts
from envoylog.client import GatewayClient
from envoylog.db import open_store, save_poll
from envoylog.poller import GatewayState, poll_once

url, db = sys.argv[1:]
client = GatewayClient(url)
with open_store(db) as store:
    poll = poll_once(client, GatewayState(host=url))
    assert save_poll(store, poll).rows > 0
client.close()
heavy = {heavy!r}
print(sorted(m for m in sys.modules if m.split(".")[0] in heavy))
"""


def test_polling_and_storing_on_sqlite_loads_no_heavy_library(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'footprint.sqlite'}"
    upgrade(db)  # as on every start but the first
    with ReplayServer(SAMPLE_DATA / "legacy-5.0-nonmetered") as server:
        done = subprocess.run(
            [sys.executable, "-c", CHILD.format(heavy=HEAVY), server.url, db],
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.stderr
