"""Helpers for the config tests (tests/config is put on sys.path by its conftest)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

WriteConfig = Callable[[str], Path]


def private_file(path: Path, text: str = "eyJhbGciOiJFUzI1NiJ9.e30.c2ln\n") -> Path:
    """Write a secret file readable by its owner only."""
    path.write_text(text)
    path.chmod(0o600)
    return path
