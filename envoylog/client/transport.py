"""Gateway HTTP on requests: one Session per gateway, one TLS context for all of them.

Each gateway gets a `requests.Session` (keep-alive, cookies, no proxies from the
environment) with one `GatewayAdapter` mounted for both schemes: the shared TLS
context, one pooled connection, no retries inside urllib3 (envoylog.client.connection
retries, with its own waits), and once the certificate is pinned, urllib3's
`assert_fingerprint`, which checks the certificate right after the handshake, before
any byte of a request is sent.

`get` makes one GET under the request's deadline (envoylog.client.bounds), reads the
body in chunks up to MAX_BODY_BYTES, and drops the connection after any failure, so
the next request starts on a fresh one. This module is the one place where requests
and urllib3 exceptions are caught: each becomes a `TransportFailure` whose `kind` the
gateway connection and the Enlighten login word as their own errors.
"""

from __future__ import annotations

import http.client
import re
import socket
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from envoylog import __version__
from envoylog.client import bounds
from envoylog.client.response import HttpResponse

if TYPE_CHECKING:
    from requests.auth import AuthBase
    from urllib3._base_connection import BaseHTTPConnection

FailureKind = Literal["connect", "connect_timeout", "timeout", "tls", "protocol", "too_large"]

CHUNK_BYTES = 64 * 1024
HIDDEN = "********"


class TransportFailure(Exception):
    """A request got no usable HTTP answer; `kind` says why. Never leaves envoylog.client."""

    def __init__(self, kind: FailureKind, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind: FailureKind = kind
        self.detail = detail


class _TooLarge(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class _BoundedConnection(HTTPConnection):
    """A plain-HTTP connection on a BoundedSocket (HTTPS gets its own from the context)."""

    def _new_conn(self) -> socket.socket:
        return bounds.bounded(super()._new_conn())


class _Pool(HTTPConnectionPool):
    ConnectionCls = _BoundedConnection


class _TlsPool(HTTPSConnectionPool):
    """An HTTPS pool that skips urllib3's InsecureRequestWarning for gateways only.

    The warning is right in general and useless here (the certificate is self-signed by
    design, and pinned); silencing it per pool leaves the process's warning filters alone.
    """

    def _validate_conn(self, conn: BaseHTTPConnection) -> None:
        HTTPConnectionPool._validate_conn(self, conn)
        if conn.is_closed:
            conn.connect()


class GatewayAdapter(HTTPAdapter):
    """The adapter of one gateway's Session: shared TLS context, one connection, pinnable."""

    def __init__(self) -> None:
        super().__init__(pool_connections=1, pool_maxsize=1, max_retries=0)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        pool_kwargs["ssl_context"] = bounds.gateway_tls_context()
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _TlsPool}

    def pin(self, fingerprint: str) -> None:
        """Refuse, from the next connection on, a certificate whose SHA-256 differs."""
        self.poolmanager.connection_pool_kw["assert_fingerprint"] = fingerprint
        self.poolmanager.clear()


def gateway_session() -> requests.Session:
    """A Session for one gateway: keep-alive, cookies, no environment, no compression."""
    session = requests.Session()
    # A gateway is on the local network: no proxy, and no per-request environment lookups.
    session.trust_env = False
    session.headers.update({"User-Agent": f"envoylog/{__version__}", "Accept-Encoding": "identity"})
    adapter = GatewayAdapter()
    session.adapters.clear()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def pin(session: requests.Session, fingerprint: str) -> None:
    """Check every new HTTPS connection of `session` against `fingerprint` before sending."""
    adapter = session.get_adapter("https://")
    assert isinstance(adapter, GatewayAdapter), "a session from gateway_session()"
    adapter.pin(fingerprint.lower())


def drop_connections(session: requests.Session) -> None:
    """Close `session`'s connections; the next request opens a fresh one."""
    session.close()  # closes the adapters' pools; the Session itself stays usable


def get(
    session: requests.Session,
    url: str,
    *,
    headers: Mapping[str, str],
    auth: AuthBase | None,
    connect_timeout_s: float,
) -> HttpResponse:
    """GET `url` within the current deadline; raise TransportFailure when no whole answer came.

    A bearer token sent in `headers` is blanked out of the body and of any failure's detail,
    should the gateway reflect it in an error page.
    """
    budget = bounds.current()
    assert budget is not None, "inside bounds.deadline()"
    secret = _bearer_token(headers)
    left = budget.left_s()
    if left <= 0:
        raise TransportFailure("timeout", "the request's deadline passed before it was sent")
    budget.new_answer()
    started = time.monotonic()
    try:
        answer = session.get(
            url,
            headers=dict(headers),
            auth=auth,
            stream=True,
            allow_redirects=False,
            verify=False,
            timeout=(min(connect_timeout_s, left), left),
        )
        try:
            body = _read_body(answer)
        finally:
            answer.close()
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError, _TooLarge) as exc:
        drop_connections(session)
        # The chain's texts may repeat a token the gateway reflected: then it is left off.
        cause = None if secret and secret in _chain_text(exc) else exc
        raise _failure(exc, budget, secret) from cause
    return HttpResponse(
        url=url,
        status=answer.status_code,
        headers=MappingProxyType({k.lower(): v for k, v in answer.headers.items()}),
        body=_redact_bytes(body, secret),
        elapsed_ms=int((time.monotonic() - started) * 1000),
    )


def send(session: requests.Session, method: str, url: str, **kwargs: Any) -> requests.Response:
    """Make one request with `session` (the Enlighten cloud's); raise TransportFailure."""
    try:
        return session.request(method, url, **kwargs)
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise _failure(exc, None, None) from exc


def _read_body(answer: requests.Response) -> bytes:
    declared = answer.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > bounds.MAX_BODY_BYTES:
        raise _TooLarge(f"Content-Length {int(declared):,}")
    body = bytearray()
    for chunk in answer.iter_content(CHUNK_BYTES):
        body += chunk
        if len(body) > bounds.MAX_BODY_BYTES:
            raise _TooLarge(f"{len(body):,} bytes and more")
    return bytes(body)


def _failure(
    exc: BaseException, budget: bounds.Budget | None, secret: str | None
) -> TransportFailure:
    """The one translation of requests and urllib3 exceptions: kind and a short detail."""
    kind = _kind(exc, budget)
    if isinstance(exc, _TooLarge):
        return TransportFailure(kind, exc.detail)
    if kind == "too_large":
        return TransportFailure(kind, f"over {bounds.MAX_BODY_BYTES + bounds.HEAD_BYTES:,} bytes")
    if isinstance(exc, requests.exceptions.InvalidHeader):
        # Its text holds the header's value, which may be a token: never repeat it.
        return TransportFailure(kind, "a request header holds a line break")
    return TransportFailure(kind, _detail(_root_cause(exc), secret))


def _kind(exc: BaseException, budget: bounds.Budget | None) -> FailureKind:
    root = _root_cause(exc)
    if (
        isinstance(exc, _TooLarge)
        or (budget is not None and budget.overrun)
        or isinstance(root, bounds.OverBudget)
    ):
        return "too_large"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connect_timeout"
    if isinstance(exc, requests.exceptions.SSLError):
        return "tls"
    if isinstance(exc, requests.exceptions.Timeout) or isinstance(
        root, TimeoutError | urllib3.exceptions.ReadTimeoutError
    ):
        return "timeout"
    if isinstance(root, http.client.HTTPException) and not isinstance(root, ConnectionError):
        return "protocol"  # a status line, header or chunk that is not HTTP
    if isinstance(exc, requests.exceptions.ConnectionError) and not isinstance(
        root, urllib3.exceptions.ProtocolError
    ):
        return "connect"  # refused, reset, or closed before any answer
    return "protocol"


def _root_cause(exc: BaseException) -> BaseException:
    """The exception at the bottom of requests' and urllib3's wrapping."""
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        inner = getattr(exc, "reason", None)
        if not isinstance(inner, BaseException):
            inner = next(
                (a for a in getattr(exc, "args", ()) if isinstance(a, BaseException)), None
            )
        if inner is None:
            inner = exc.__cause__
        if inner is None:
            return exc
        exc = inner
    return exc


def _chain_text(exc: BaseException) -> str:
    parts: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(parts) < 10:
        parts.append(str(current))
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


def _detail(exc: BaseException, secret: str | None) -> str:
    if isinstance(exc, http.client.BadStatusLine) and not isinstance(exc, ConnectionError):
        line = _redact(str(exc), secret)
        return f"not an HTTP status line: {line[:40]!r}"
    if isinstance(exc, urllib3.exceptions.InvalidChunkLength):
        return f"bad chunk size {exc.length.strip()[:20]!r}"
    if isinstance(exc, OSError) and exc.strerror:
        return tidy_detail(exc.strerror)  # "Connection refused", "Name or service not known"
    return tidy_detail(_redact(str(exc), secret) or type(exc).__name__)


def tidy_detail(text: str) -> str:
    """An error's text cut to what a person needs, on one line, at most 200 characters."""
    # "HTTPConnection(host=..., port=1): Failed to establish a new connection:
    # [Errno 111] Connection refused" says nothing a person needs beyond its tail.
    errno_text = re.search(r"\[Errno [^\]]*\]\s*([^()]+)", text)
    if errno_text:
        text = errno_text.group(1).strip()
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:197] + "..."


def _bearer_token(headers: Mapping[str, str]) -> str | None:
    value = headers.get("Authorization", "")
    return value[7:] if value.startswith("Bearer ") and len(value) > 7 else None


def _redact(text: str, secret: str | None) -> str:
    return text.replace(secret, HIDDEN) if secret else text


def _redact_bytes(body: bytes, secret: str | None) -> bytes:
    if not secret:
        return body
    return body.replace(secret.encode("ascii", "replace"), HIDDEN.encode())
