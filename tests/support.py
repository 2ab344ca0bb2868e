"""Paths and helpers shared by every test folder (importable: tests/ is on pythonpath)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CAPTURES = REPO.parent / "shared" / "envoy-captures"
SAMPLE_DATA = REPO / "sample_data"


def capture_folders() -> list[Path]:
    """Every real gateway capture folder in ../shared/envoy-captures (empty when absent)."""
    if not CAPTURES.is_dir():
        return []
    return sorted(p for p in CAPTURES.iterdir() if p.is_dir() and (p / "info").is_file())


def sample_folders() -> list[Path]:
    """Every payload set in sample_data/."""
    return sorted(p for p in SAMPLE_DATA.iterdir() if p.is_dir() and (p / "info").is_file())
