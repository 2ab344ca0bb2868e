"""Storage fixtures: every store test runs on SQLite and on a real PostgreSQL the suite starts."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from envoylog.db import Store, open_store

sys.path.insert(0, str(Path(__file__).parent))  # factories.py, next to this file


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """An open store with the current schema."""
    opened = open_store(db_url)
    try:
        yield opened
    finally:
        opened.close()
