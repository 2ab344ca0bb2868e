"""The gateway transport interface, and the one place where `requests` exceptions are caught.

A `Transport` sends one GET and reads the whole answer, or raises a `TransportFailure`
saying why not. Callers (the gateway connection, the Enlighten login) turn a failure
into their own `EnvoylogError` with a sentence that names the host and what to check.
Two transports exist: `KeepAliveTransport` (envoylog.client.keepalive, the default)
and `RequestsTransport` here, for a caller that brings its own requests Session.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal, Protocol

import requests
from urllib3.exceptions import ReadTimeoutError

from envoylog.client.pinning import GatewayAdapter
from envoylog.client.response import HttpResponse

FailureKind = Literal["connect", "connect_timeout", "read_timeout", "tls", "protocol"]


class TransportFailure(Exception):
    """A request got no usable HTTP answer; `kind` says why. Never leaves envoylog.client."""

    def __init__(self, kind: FailureKind, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind: FailureKind = kind
        self.detail = detail


class Transport(Protocol):
    """Sends a gateway's GET requests: no redirects followed, no retries, body read whole."""

    def pin(self, base: str, fingerprint: str) -> None:
        """Refuse, before sending anything, a `base` whose certificate has another SHA-256."""

    def get(self, base: str, path: str, headers: Mapping[str, str]) -> HttpResponse:
        """GET `base` + `path`; raise TransportFailure when no complete answer came."""

    def close(self) -> None:
        """Close the connections this transport opened."""


class RequestsTransport:
    """Gateway requests through a caller's requests Session (which the caller closes)."""

    def __init__(self, session: requests.Session, *, timeouts: tuple[float, float]) -> None:
        self.session = session
        self.timeouts = timeouts
        # A gateway is on the local network: no proxy, and no per-request environment
        # lookups (a sixth of a poll's CPU time).
        session.trust_env = False
        session.mount("https://", GatewayAdapter())

    def pin(self, base: str, fingerprint: str) -> None:
        self.session.mount(base + "/", GatewayAdapter(fingerprint=fingerprint))

    def get(self, base: str, path: str, headers: Mapping[str, str]) -> HttpResponse:
        started = time.monotonic()
        raw = send(
            self.session,
            "GET",
            base + path,
            headers=dict(headers),
            timeout=self.timeouts,
            allow_redirects=False,
            verify=False,
        )
        return HttpResponse(
            url=raw.url,
            status=raw.status_code,
            headers=MappingProxyType({k.lower(): v for k, v in raw.headers.items()}),
            body=raw.content,
            elapsed_ms=int((time.monotonic() - started) * 1000),
        )

    def close(self) -> None:
        pass  # the session belongs to the caller


def send(session: requests.Session, method: str, url: str, **kwargs: Any) -> requests.Response:
    """Make one request with `session`, reading the whole body; raise TransportFailure."""
    try:
        return session.request(method, url, **kwargs)
    except requests.exceptions.ConnectTimeout as exc:
        raise TransportFailure("connect_timeout", short_detail(exc)) from exc
    except requests.exceptions.SSLError as exc:
        raise TransportFailure("tls", short_detail(exc)) from exc
    except requests.exceptions.Timeout as exc:
        raise TransportFailure("read_timeout", short_detail(exc)) from exc
    except requests.exceptions.ConnectionError as exc:
        # A timeout while reading the body arrives as a ConnectionError wrapping urllib3's.
        if exc.args and isinstance(exc.args[0], ReadTimeoutError):
            raise TransportFailure("read_timeout", short_detail(exc)) from exc
        raise TransportFailure("connect", short_detail(exc)) from exc
    except requests.exceptions.RequestException as exc:
        raise TransportFailure("protocol", short_detail(exc)) from exc


def short_detail(exc: BaseException) -> str:
    """What went wrong in a few words ("Connection refused"), for an error sentence."""
    if isinstance(exc, requests.RequestException):
        reason: object = exc.args[0] if exc.args else exc
        # urllib3's MaxRetryError wraps the real cause ("Connection refused") in `.reason`.
        reason = getattr(reason, "reason", None) or reason
        text = str(reason) or type(reason).__name__
    elif isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror  # "Connection refused", "Name or service not known"
    else:
        text = str(exc) or type(exc).__name__
    # "HTTPConnection(host=..., port=1): Failed to establish a new connection:
    # [Errno 111] Connection refused" says nothing a person needs beyond its tail.
    errno_text = re.search(r"\[Errno [^\]]*\]\s*([^()]+)", text)
    if errno_text:
        text = errno_text.group(1).strip()
    return text if len(text) <= 200 else text[:197] + "..."
