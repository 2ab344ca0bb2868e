"""Compaction tests import exactness.py, next to this file."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # exactness.py, next to this file

import pytest
from exactness import snapshot
from week import fill

from envoylog.db import open_store


@pytest.fixture(scope="session")
def week_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The faulted week in SQLite, rolled up (copied for each test)."""
    path = tmp_path_factory.mktemp("week") / "week.sqlite"
    with open_store(f"sqlite:///{path}") as store:
        fill(store)
        snapshot(store)
    return path


@pytest.fixture
def week_sqlite(week_file: Path, tmp_path: Path) -> Path:
    """A copy of the faulted week's SQLite file, this test's own."""
    path = tmp_path / "week.sqlite"
    path.write_bytes(week_file.read_bytes())
    return path
