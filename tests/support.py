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
    """When a capture or sample folder was fetched, as its bodies say.

    The latest request time in them (meter timestamps, eim readingTimes: QUIRKS 21), else
    a Date header of its logs, else /info's time. Polled on this clock, a recording reads
    as a gateway whose clock is right (the files of one capture folder were not always
    fetched together, so a log's Date can be months from a body it sits beside).
    """
    requests = [*_instants(folder / "ivp_meters_readings", "timestamp")]
    for name in ("production.json_details_1", "production.json"):
        requests += _instants(folder / name, "readingTime", kind="eim")
    if requests:
        return datetime.fromtimestamp(max(requests), UTC)
    for log in sorted(folder.glob("*_log.json")):
        date = json.loads(log.read_text()).get("headers", {}).get("date")
        if date:
            return parsedate_to_datetime(date).astimezone(UTC)
    info = (folder / "info").read_text()
    return datetime.fromtimestamp(int(info.split("<time>")[1].split("</time>")[0]), UTC)


def _instants(path: Path, key: str, kind: str | None = None) -> list[float]:
    """The non-zero `key` numbers of the objects in a JSON body's lists (of `type` kind)."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return []
    lists = data.values() if isinstance(data, dict) else [data]
    return [
        item[key]
        for found in lists
        if isinstance(found, list)
        for item in found
        if isinstance(item, dict)
        and isinstance(item.get(key), int | float)
        and item[key]
        and (kind is None or item.get("type") == kind)
    ]
