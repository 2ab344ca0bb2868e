"""Rollup fixtures: a store on SQLite and on the suite's PostgreSQL."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from envoylog.db import Store, open_store

sys.path.insert(0, str(Path(__file__).parent))  # builders.py, next to this file


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    opened = open_store(db_url)
    try:
        yield opened
    finally:
        opened.close()
