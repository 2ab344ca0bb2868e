"""Export fixtures: a store on SQLite and on a real PostgreSQL, and a private environment."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from envoylog.db import Store, open_store

# energy_rows.py next to this file; the store's poll factories for the end-to-end tests.
sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1] / "db")]


@pytest.fixture(autouse=True)
def private_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No config file, database or state of the machine leaks into a test."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("ENVOYLOG_CONFIG", raising=False)
    monkeypatch.delenv("ENVOYLOG_DB", raising=False)
    monkeypatch.delenv("CONFIGURATION_DIRECTORY", raising=False)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """An open store with the current schema and no rows."""
    opened = open_store(db_url)
    try:
        yield opened
    finally:
        opened.close()
