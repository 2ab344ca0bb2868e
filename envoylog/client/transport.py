"""The gateway transport interface and its failures.

A `Transport` sends one GET and reads the whole answer, or raises a `TransportFailure`
saying why not. Callers (the gateway connection, the Enlighten login) turn a failure
into their own `EnvoylogError` with a sentence that names the host and what to check.
Two transports exist: `KeepAliveTransport` (envoylog.client.keepalive, the default)
and `RequestsTransport` (envoylog.client.sessions, the one place where `requests`
exceptions are caught), for a caller that brings its own requests Session.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal, Protocol

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


def short_detail(exc: BaseException) -> str:
    """What went wrong in a few words ("Connection refused"), for an error sentence."""
    if isinstance(exc, OSError) and exc.strerror:
        return tidy_detail(exc.strerror)  # "Connection refused", "Name or service not known"
    return tidy_detail(str(exc) or type(exc).__name__)


def tidy_detail(text: str) -> str:
    """An error's text cut to what a person needs, at most 200 characters."""
    # "HTTPConnection(host=..., port=1): Failed to establish a new connection:
    # [Errno 111] Connection refused" says nothing a person needs beyond its tail.
    errno_text = re.search(r"\[Errno [^\]]*\]\s*([^()]+)", text)
    if errno_text:
        text = errno_text.group(1).strip()
    return text if len(text) <= 200 else text[:197] + "..."
