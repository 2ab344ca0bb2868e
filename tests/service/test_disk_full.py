"""Disk full under the database and the spool: a poll is said to be spooled only once it is
durable there; a poll neither stored nor spooled is lost, said and counted, never hidden."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REQUIRE_ENV = "ENVOYLOG_REQUIRE_SMALL_FS"  # CI (root) must run these, never skip them
UNSHARE = ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "-r", "--mount"]
MOUNT = 'mount -t tmpfs -o size=2m tmpfs "$1" && shift && exec "$@"'


def on_a_small_file_system(tmp_path: Path) -> dict[str, Any]:
    """Run disk_full_run.py with a 2 MB tmpfs of its own (a private mount namespace)."""
    try:
        usable = subprocess.run([*UNSHARE, "true"], capture_output=True, check=False)
    except FileNotFoundError:
        usable = None
    if usable is None or usable.returncode != 0:
        reason = "cannot mount a small file system here (neither root nor unshare -r --mount)"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{reason} and {REQUIRE_ENV}=1")
        pytest.skip(reason)
    small, out = tmp_path / "small", tmp_path / "out"
    small.mkdir()
    out.mkdir()
    script = Path(__file__).with_name("disk_full_run.py")
    command = [sys.executable, str(script), str(small), str(out)]
    done = subprocess.run(
        [*UNSHARE, "sh", "-c", MOUNT, "sh", str(small), *command],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return on_a_small_file_system(tmp_path_factory.mktemp("disk-full"))


def test_every_poll_is_stored_spooled_or_counted_lost(full: dict[str, Any]) -> None:
    assert full["stored"] + full["spooled"] + full["lost"] == full["made"]
    assert full["stored"] > 0 and full["spooled"] > 0 and full["lost"] > 0


def test_spooled_is_said_only_of_polls_in_the_spool(full: dict[str, Any]) -> None:
    assert full["logged_spooled"] == full["spooled"]
    assert full["logged_lost"] == full["lost"]


def test_the_status_file_and_status_command_show_the_loss(full: dict[str, Any]) -> None:
    assert full["status_file"]["polls_lost"] == full["lost"]
    assert full["status_file"]["polls_spooled"] == full["spooled"]
    assert f"{full['lost']} LOST" in full["status_output"]
    assert "No space left on device" in full["status_output"]
