"""Paths and helpers shared by every test folder (importable: tests/ is on pythonpath)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
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


def make_jwt(expires_in: timedelta | None = timedelta(days=365), **claims: object) -> str:
    """An unsigned-looking JWT whose payload holds `exp` (and `claims`)."""
    payload: dict[str, object] = dict(claims)
    if expires_in is not None:
        payload["exp"] = int((datetime.now(tz=UTC) + expires_in).timestamp())

    def part(data: dict[str, object]) -> str:
        raw = json.dumps(data).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{part({'alg': 'ES256', 'typ': 'JWT'})}.{part(payload)}.c2lnbmF0dXJl"


def wants_token(folder: Path) -> bool:
    """Say whether a sample site plays a firmware-7+ gateway (HTTPS and a bearer token)."""
    return any('"bearer"' in log.read_text() for log in folder.glob("*_log.json"))


def fetched_at(folder: Path) -> datetime:
    """When a capture or sample folder was fetched: a Date header of its logs, else /info's time.

    Poll a recording on this clock, and its instants are no gateway clock far from ours.
    """
    for log in sorted(folder.glob("*_log.json")):
        date = json.loads(log.read_text()).get("headers", {}).get("date")
        if date:
            return parsedate_to_datetime(date).astimezone(UTC)
    info = (folder / "info").read_text()
    return datetime.fromtimestamp(int(info.split("<time>")[1].split("</time>")[0]), UTC)
