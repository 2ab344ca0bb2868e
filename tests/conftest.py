"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import CAPTURES


@pytest.fixture(scope="session")
def captures_dir() -> Path:
    """The real captures; skips (or fails under CI's ENVOYLOG_REQUIRE_CAPTURES=1) when absent."""
    if not CAPTURES.is_dir():
        message = f"real gateway captures not found at {CAPTURES}"
        if os.environ.get("ENVOYLOG_REQUIRE_CAPTURES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return CAPTURES
