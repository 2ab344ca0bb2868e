"""Paths and helpers shared by every test folder (importable: tests/ is on pythonpath)."""

from __future__ import annotations

import base64
import contextlib
import json
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from envoylog.client import Credentials, GatewayClient
from envoylog.endpoints import Parser
from envoylog.errors import ParseError
from envoylog.parse import parse_meters
from envoylog.parse.context import ParseContext
from envoylog.poller import GatewayState, poll_once
from envoylog.records import MeterConfig, PollResult
from envoylog.service.jobs import GatewayJob
from envoylog.simulator import PROFILES, ManualClock, SimulatedGateway
from envoylog.simulator.replay import ReplayServer

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


@dataclass
class Peak:
    bytes: int = 0


@contextlib.contextmanager
def peak_memory() -> Iterator[Peak]:
    """The most memory Python held at once inside the block (tracemalloc), set at its end."""
    peak = Peak()
    tracemalloc.start()
    try:
        yield peak
    finally:
        peak.bytes = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


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


def poll_folder(folder: Path) -> tuple[PollResult, GatewayState]:
    """One poll of a capture or sample folder served over a socket, on its recording's clock."""
    modern = wants_token(folder)
    credentials = Credentials(token=make_jwt()) if modern else Credentials()
    with ReplayServer(folder, tls=modern) as server:
        client = GatewayClient(server.url, credentials=credentials, retries=0)
        try:
            state = GatewayState(host=server.url)
            at = fetched_at(folder)  # a recording, polled as if when it was recorded
            return poll_once(client, state, clock=lambda: at), state
        finally:
            client.close()


def recorded_context(folder: Path, *, with_meters: bool = True) -> ParseContext:
    """What a parser of a capture or sample folder's bodies knows: its fetch time and,
    unless `with_meters` is false, the CT meters its /ivp/meters lists (when that parses)."""
    at = fetched_at(folder)
    meters = None
    path = folder / "ivp_meters"
    log = path.with_name(path.name + "_log.json")
    answered = not log.is_file() or int(json.loads(log.read_text())["code"]) == 200
    if with_meters and path.is_file() and answered:
        try:
            records = parse_meters(path.read_bytes(), ParseContext(fetched_at=at))
            meters = tuple(r for r in records if isinstance(r, MeterConfig))
        except ParseError:
            pass
    return ParseContext(fetched_at=at, meters=meters)


def refusal(parser: Parser, body: bytes, context: ParseContext) -> str:
    """The ParseError a parser raises for a body, as its message; fails when none is raised."""
    try:
        parser(body, context)
    except ParseError as exc:
        return str(exc)
    raise AssertionError(f"{parser.__name__} read the body without a ParseError")


# Days whose local length is not 24 hours, in three zones: (zone, day, hours).
DST_DAYS = [
    ("Europe/Berlin", date(2024, 3, 31), 23),
    ("Europe/Berlin", date(2024, 10, 27), 25),
    ("America/Los_Angeles", date(2024, 3, 10), 23),
    ("America/Los_Angeles", date(2024, 11, 3), 25),
    ("Australia/Sydney", date(2024, 10, 6), 23),
    ("Australia/Sydney", date(2024, 4, 7), 25),
]


def simulated_job(
    gateway: SimulatedGateway,
    clock: ManualClock,
    submit: Callable[[PollResult], None],
    *,
    tick_s: int = 600,
) -> tuple[GatewayClient, GatewayJob]:
    """The service's job for a simulated gateway, on `clock` (ours, which may not be the
    gateway's), every endpoint due at each tick."""
    client = GatewayClient(gateway.url, credentials=Credentials(token=gateway.token))
    job = GatewayJob(
        name="roof",
        client=client,
        submit=submit,
        cadences={},
        tick_s=tick_s,
        quiet=None,
        clock=lambda: datetime.fromtimestamp(clock.now(), tz=UTC),
    )
    return client, job


def simulated_day(site: str, day: date, *, tick_s: int = 600) -> tuple[PollResult, ...]:
    """A local day of a simulated site, polled by the service's job every ``tick_s``."""
    clock = ManualClock(datetime.combine(day, time(0), ZoneInfo(PROFILES[site].timezone)))
    polls: list[PollResult] = []
    with SimulatedGateway(site, clock=clock) as gateway:
        client, job = simulated_job(gateway, clock, polls.append, tick_s=tick_s)
        for _ in range(86400 // tick_s + 1):
            job.run()
            clock.advance(tick_s)
        client.close()
    return tuple(polls)
