"""A living simulated gateway over HTTP(S), and a fleet of them in one process.

``SimulatedGateway`` serves the endpoints of its firmware generation from a
``SiteModel`` at the simulated now, with authentication (digest before firmware 7,
a bearer token and ``/auth/check_jwt`` from 7 on) and the faults asked for. Besides
the gateway's own endpoints it answers three of the simulator's (no auth):

- ``GET /__sim/clock``: the simulated now;
- ``GET /__sim/truth?from=ISO&to=ISO``: exact energy per flow between two instants
  (default: from the start to now), with its local hours and days;
- ``GET /__sim/token``: a token this gateway accepts (firmware 7+).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from envoylog.client.tokens import token_expiry
from envoylog.errors import ConfigError, TokenError
from envoylog.oslimits import raise_open_files
from envoylog.simulator import faults as fx
from envoylog.simulator.clock import Clock, ManualClock, SimClock, to_epoch
from envoylog.simulator.model import SiteModel
from envoylog.simulator.payloads import Payload, renderers
from envoylog.simulator.profiles import PROFILES, Profile, customise, fleet_member, get_profile
from envoylog.simulator.replay import file_name_for
from envoylog.simulator.serving import (
    DIGEST_REALM,
    GatewayHTTPServer,
    RecordedRequest,
    Reply,
    Served,
    ServerGroup,
    digest_ok,
    simulator_tls_context,
)
from envoylog.simulator.site import Site
from envoylog.simulator.truth import TruthError

GATEWAY_SERVER = "openresty/1.17.8.1"
VALID_TOKEN_BODY = b"<!DOCTYPE html><h2>Valid token.</h2>"
BEARER_401_BODY = (
    b"<html>\n<head><title>401 Authorization Required</title></head>\n<body>\n"
    b"<center><h1>401 Authorization Required</h1></center>\n</body>\n</html>\n"
)
DIGEST_401_BODY = b"Error: 401"
NOT_FOUND_BODY = b'{"error": "404 - Not Found"}'
TOKEN_LIFETIME_S = 365 * 86400
MAX_HANG_S = 300.0
_JSON = "application/json"


def make_token(serial: str, *, expires_at: float) -> str:
    """A well-formed gateway JWT (unsigned: the simulator checks only its expiry)."""

    def part(data: dict[str, Any]) -> str:
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    claims = {
        "aud": serial,
        "iss": "Entrez",
        "enphaseUser": "owner",
        "exp": int(expires_at),
        "iat": int(expires_at - TOKEN_LIFETIME_S),
        "jti": f"sim-{serial}",
        "username": "simulator@example.com",
    }
    return f"{part({'kid': 'sim', 'typ': 'JWT', 'alg': 'ES256'})}.{part(claims)}.c2ltdWxhdG9y"


def _start_epoch(start: datetime | float | None, timezone: str) -> float:
    if start is None:
        return time.time()
    if isinstance(start, datetime) and start.tzinfo is None:
        start = start.replace(tzinfo=ZoneInfo(timezone))
    return to_epoch(start)


class _Bodies:
    """One instant's bodies, each rendered once, when first asked for."""

    def __init__(self, render: dict[str, Callable[[], Payload]]) -> None:
        self._render = render
        self._rendered: dict[str, Payload] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return list(self._render)

    def get(self, name: str) -> Payload | None:
        with self._lock:
            if name not in self._rendered:
                render = self._render.get(name)
                if render is None:
                    return None
                self._rendered[name] = render()
            return self._rendered[name]


class LiveResponder:
    """Answers requests from the model at the clock's now, through the fault plan."""

    def __init__(
        self,
        model: SiteModel,
        clock: Clock,
        plan: fx.FaultPlan,
        *,
        token: str,
        max_hang_s: float,
    ) -> None:
        self.model = model
        self.profile = model.profile
        self.clock = clock
        self.plan = plan
        self.token = token
        self.max_hang_s = max_hang_s
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._cache: tuple[tuple[int, str, bool], _Bodies] | None = None

    def payloads(self, now: float, *, zeros: bool = False) -> dict[str, Payload]:
        """Every body at ``now``."""
        bodies = self._bodies(now, zeros=zeros)
        return {name: body for name in bodies.names() if (body := bodies.get(name))}

    def _bodies(self, now: float, *, zeros: bool) -> _Bodies:
        """The bodies at ``now``, each rendered when first asked (cached per simulated
        second)."""
        firmware = self.plan.firmware_at(now) or self.profile.firmware
        key = (int(now), firmware, zeros)
        with self._lock:
            if self._cache is None or self._cache[0] != key:
                site = self.site(now, firmware=firmware)
                self._cache = (key, _Bodies(renderers(fx.zeroed(site) if zeros else site)))
            return self._cache[1]

    def site(self, now: float, *, firmware: str | None = None) -> Site:
        return self.model.site_at(now, firmware=firmware or self.plan.firmware_at(now))

    def _count(self, path: str) -> int:
        with self._lock:
            count = self._counts.get(path, 0)
            self._counts[path] = count + 1
            return count

    def reply(self, method: str, target: str, authorization: str) -> Reply:
        now = self.clock.now()
        path, _, query = target.partition("?")
        if path.startswith("/__sim/"):
            return self._sim(path, query, now)
        count = self._count(path)
        for name in ("nightly-hang", "hang"):
            hung = self.plan.hits(name, now, path, count)
            if hung is not None:
                hang_s = min(hung.seconds or fx.DEFAULT_HANG_S, self.max_hang_s)
                return Reply(0, (), b"", hang_s=hang_s)
        slow = self.plan.hits("slow", now, path, count)
        delay = min(slow.seconds or 5.0, self.max_hang_s) if slow else 0.0
        reply = self._answer(method, target, path, authorization, now, count)
        framing, argument = self._framing(now, path, count) if reply.status == 200 else ("", 0)
        return Reply(
            reply.status,
            reply.headers,
            reply.body,
            delay_s=delay,
            framing=framing,
            framing_arg=argument,
        )

    def _framing(self, now: float, path: str, count: int) -> tuple[str, float]:
        for name in fx.FRAMING:
            fault = self.plan.hits(name, now, path, count)
            if fault is None:
                continue
            if name == "trickle":
                return name, fault.seconds or fx.DEFAULT_TRICKLE_S
            if name == "huge-body":
                return name, fault.size or fx.DEFAULT_HUGE_BYTES
            return name, min(fx.DEFAULT_HANG_S, self.max_hang_s)
        return "", 0.0

    def _headers(self, now: float, content_type: str) -> tuple[tuple[str, str], ...]:
        headers = [("Date", formatdate(now, usegmt=True)), ("Content-Type", content_type)]
        if self.profile.modern:
            headers.insert(0, ("Server", GATEWAY_SERVER))
        return tuple(headers)

    def _token_ok(self, authorization: str, now: float, path: str, count: int) -> bool:
        if not authorization.startswith("Bearer "):
            return False
        if self.plan.hits("token-expiry", now, path, count) is not None:
            return False
        try:
            expires = token_expiry(authorization[7:])
        except TokenError:
            return False  # not a JWT: refused, as a gateway does
        return expires is not None and expires.timestamp() > now

    def _answer(
        self, method: str, target: str, path: str, authorization: str, now: float, count: int
    ) -> Reply:
        if path == "/auth/check_jwt":
            if self._token_ok(authorization, now, path, count):
                return Reply(200, self._headers(now, "text/html"), VALID_TOKEN_BODY)
            return Reply(401, self._headers(now, "text/html"), BEARER_401_BODY)
        restarting = path != "/info" and self.plan.hits("restart", now, path, count) is not None
        if restarting and self.profile.modern:
            return Reply(503, self._headers(now, "text/plain"), fx.BUSY_BODY)
        bodies = self._bodies(now, zeros=restarting)
        payload = bodies.get(file_name_for(target)) or bodies.get(file_name_for(path))
        if payload is None:
            return Reply(404, self._headers(now, _JSON), NOT_FOUND_BODY)
        if payload.auth == "bearer" and not self._token_ok(authorization, now, path, count):
            return Reply(401, self._headers(now, "text/html"), BEARER_401_BODY)
        if payload.auth == "digest" and not digest_ok(
            authorization, method, self.profile.serial[-6:]
        ):
            challenge = f'Digest qop="auth", realm="{DIGEST_REALM}", nonce="{int(now)}"'
            headers = (*self._headers(now, "text/plain"), ("WWW-Authenticate", challenge))
            return Reply(401, headers, DIGEST_401_BODY)
        body, content_type = payload.body, payload.content_type
        if content_type == _JSON:
            body, content_type = self._body_faults(body, now, path, count)
        return Reply(payload.status, self._headers(now, content_type), body)

    def _body_faults(self, body: bytes, now: float, path: str, count: int) -> tuple[bytes, str]:
        hit = self.plan.hits
        if hit("html200", now, path, count):
            return fx.NOT_FOUND_HTML, _JSON
        if hit("error-body", now, path, count):
            return fx.ERROR_BODY, _JSON
        for name in ("zero-lifetime", "active-count-flicker"):
            if hit(name, now, path, count):
                body = fx.transform_json(body, name)
        for name in ("truncated", "malformed"):
            if hit(name, now, path, count):
                body = fx.broken_body(body, name)
        return body, _JSON

    def _sim(self, path: str, query: str, now: float) -> Reply:
        if path == "/__sim/clock":
            data: dict[str, Any] = {
                "now": datetime.fromtimestamp(now, self.model.zone).isoformat(),
                "utc": datetime.fromtimestamp(now, UTC).isoformat(),
                "epoch": now,
                "serial": self.profile.serial,
                "profile": self.profile.name,
                "firmware": self.plan.firmware_at(now) or self.profile.firmware,
            }
            return Reply(200, self._headers(now, _JSON), json.dumps(data).encode())
        if path == "/__sim/token" and self.profile.modern:
            return Reply(200, self._headers(now, "text/plain"), self.token.encode())
        if path == "/__sim/truth":
            params = {k: v[-1] for k, v in parse_qs(query).items()}
            try:
                start = self._when(params.get("from"), self.model.start)
                end = min(self._when(params.get("to"), now), now)
                data = self.model.truth_report(start, end)
            except (TruthError, ValueError) as exc:
                error = json.dumps({"error": str(exc)}).encode()
                return Reply(400, self._headers(now, _JSON), error)
            return Reply(200, self._headers(now, _JSON), json.dumps(data, indent=1).encode())
        return Reply(404, self._headers(now, _JSON), NOT_FOUND_BODY)

    def _when(self, text: str | None, default: float) -> float:
        if text is None:
            return default
        try:
            return float(text)
        except ValueError:
            return _start_epoch(datetime.fromisoformat(text), self.profile.timezone)


class SimulatedGateway(Served):
    """One living gateway on a loopback port; a context manager serving in a thread."""

    def __init__(
        self,
        profile: str | Profile = "metered-split-phase",
        *,
        start: datetime | float | None = None,
        speed: float = 1.0,
        seed: int = 1,
        faults: Sequence[str | fx.Fault] = (),
        tls: bool | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
        inverters: int | None = None,
        timezone: str | None = None,
        verbose: bool = False,
        max_hang_s: float = MAX_HANG_S,
    ) -> None:
        chosen = get_profile(profile) if isinstance(profile, str) else profile
        self.profile = customise(chosen, inverters=inverters, timezone=timezone)
        if clock is None:
            clock = SimClock(_start_epoch(start, self.profile.timezone), speed)
            self.start_at = clock.start
        else:
            self.start_at = clock.now()
        self.clock = clock
        p = self.profile
        self.faults = fx.parse_faults(
            faults, start=self.start_at, timezone=p.timezone, firmware=p.firmware
        )
        plan = fx.FaultPlan(self.faults, seed=seed, timezone=p.timezone)
        self.model = SiteModel(p, origin=self.start_at, seed=seed, resets=plan.resets())
        # Valid for a year from the simulated start, or from today if that is later.
        expires_at = max(self.start_at, time.time()) + TOKEN_LIFETIME_S
        self.token = make_token(p.serial, expires_at=expires_at)
        self.responder = LiveResponder(
            self.model, clock, plan, token=self.token, max_hang_s=max_hang_s
        )
        self.tls = p.modern if tls is None else tls
        self.server = GatewayHTTPServer(
            (host, port),
            self.responder,
            verbose=verbose,
            tls=simulator_tls_context() if self.tls else None,
            name=p.serial,
        )
        self.host = host
        self.port = self.server.port
        self._group = ServerGroup([self.server])

    def __repr__(self) -> str:
        return f"SimulatedGateway({self.profile.name!r}, serial={self.serial}, url={self.url})"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def serial(self) -> str:
        return self.profile.serial

    @property
    def requests(self) -> list[RecordedRequest]:
        """The requests received so far (the last MAX_RECORDED_REQUESTS)."""
        return self.server.requests()

    def now(self) -> float:
        return self.clock.now()

    def site(self, at: datetime | float | None = None) -> Site:
        """The site the gateway describes at ``at`` (default: now)."""
        return self.responder.site(self.now() if at is None else to_epoch(at))

    def truth(self, start: datetime | float, end: datetime | float) -> dict[str, float]:
        """Exact energy per flow (Wh) between two instants (see ``truth.FLOWS``)."""
        return self.model.truth(to_epoch(start), to_epoch(end))

    def truth_report(self, start: datetime | float, end: datetime | float) -> dict[str, Any]:
        """The truth with its local hours and days, as ``/__sim/truth`` serves it."""
        return self.model.truth_report(to_epoch(start), to_epoch(end))


class SimulatedFleet(Served):
    """``count`` independent gateways (distinct serials, sizes and wiring) in one process.

    ``profile`` None mixes every profile; ports are consecutive from ``port`` (0: any
    free ones). All gateways share one clock and one accepting thread. ``first``: the
    fleet's first member number, so that several simulators (one per ``envoylog run``
    process of a large fleet) serve distinct gateways.
    """

    def __init__(
        self,
        count: int,
        *,
        profile: str | Profile | None = None,
        start: datetime | float | None = None,
        speed: float = 1.0,
        seed: int = 1,
        faults: Sequence[str] = (),
        tls: bool | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
        inverters: int | None = None,
        timezone: str | None = None,
        verbose: bool = False,
        first: int = 0,
    ) -> None:
        if count < 1:
            raise ConfigError(f"--gateways must be at least 1, not {count}.")
        # Each gateway holds a listening socket, and each client connection one more.
        raise_open_files(3 * count + 256)
        bases = (
            [get_profile(profile) if isinstance(profile, str) else profile]
            if profile is not None
            else list(PROFILES.values())
        )
        if clock is None:
            clock = SimClock(_start_epoch(start, bases[0].timezone), speed)
        self.clock = clock
        self.gateways: list[SimulatedGateway] = []
        try:
            for index in range(first, first + count):
                base = fleet_member(bases[index % len(bases)], index, seed)
                self.gateways.append(
                    SimulatedGateway(
                        base,
                        seed=seed + index,
                        faults=faults,
                        tls=tls,
                        host=host,
                        port=port + index - first if port else 0,
                        clock=clock,
                        inverters=inverters,
                        timezone=timezone,
                        verbose=verbose,
                    )
                )
        except BaseException:
            for gateway in self.gateways:
                gateway.close()
            raise
        self._group = ServerGroup([g.server for g in self.gateways])

    def __len__(self) -> int:
        return len(self.gateways)

    def __iter__(self) -> Iterator[SimulatedGateway]:
        return iter(self.gateways)

    def __getitem__(self, index: int) -> SimulatedGateway:
        return self.gateways[index]


__all__ = ["ManualClock", "SimClock", "SimulatedFleet", "SimulatedGateway", "make_token"]
