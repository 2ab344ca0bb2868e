"""The default gateway transport: GETs over one keep-alive HTTP/1.1 connection per gateway.

requests and urllib3 spend most of a poll's CPU time on what a gateway never needs
(proxies, pools, adapters, retry and redirect machinery), and even `http.client` parses
every answer's headers through the `email` package. A gateway only ever gets a GET, so
the request is written here in one piece and the answer read with a small HTTP/1.1
reader (envoylog.client.wire): about a third of `http.client`'s CPU per request.
Failures carry the same `TransportFailure` kinds and details as the requests path, so
every error sentence stays the same.
"""

from __future__ import annotations

import hashlib
import logging
import select
import socket
import ssl
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from types import MappingProxyType
from urllib.parse import urlsplit

from envoylog.client import wire
from envoylog.client.pinning import gateway_tls_context
from envoylog.client.response import HttpResponse
from envoylog.client.transport import FailureKind, TransportFailure, short_detail

log = logging.getLogger(__name__)

# How a keep-alive connection the server has closed shows itself on the next request,
# before any byte of an answer.
_STALE = (ConnectionError, ssl.SSLEOFError, ssl.SSLZeroReturnError, wire.ClosedEarly)


class KeepAliveTransport:
    """Sends a gateway's GETs over one persistent connection, reconnecting when needed."""

    def __init__(
        self, *, timeouts: tuple[float, float], tls_context: ssl.SSLContext | None = None
    ) -> None:
        self.timeouts = timeouts
        # One context for every gateway: a context per gateway costs memory at 1,000.
        self.tls_context = tls_context or gateway_tls_context()
        self._pins: dict[str, str] = {}
        self._link: _Link | None = None
        self._cookies: dict[str, str] = {}

    def pin(self, base: str, fingerprint: str) -> None:
        self._pins[base] = fingerprint.lower()
        if self._link is not None and self._link.base == base:
            self._drop()  # the next connection checks the new pin

    def get(self, base: str, path: str, headers: Mapping[str, str]) -> HttpResponse:
        started = time.monotonic()
        link = self._link_to(base)
        if self._cookies and "Cookie" not in headers:
            cookie = "; ".join(f"{k}={v}" for k, v in self._cookies.items())
            headers = {**headers, "Cookie": cookie}
        request = link.request_bytes(path, headers)
        try:
            answer = self._exchange(link, request)
        except TransportFailure:
            self._drop()
            raise
        except wire.Malformed as exc:
            self._drop()
            raise TransportFailure("protocol", str(exc)) from exc
        except OSError as exc:
            self._drop()
            raise TransportFailure(_kind(exc), short_detail(exc)) from exc
        if answer.close:
            self._drop()
        if answer.set_cookies:
            self._keep_cookies(answer.set_cookies)
        return HttpResponse(
            url=base + path,
            status=answer.status,
            headers=MappingProxyType(answer.headers),
            body=answer.body,
            elapsed_ms=int((time.monotonic() - started) * 1000),
        )

    def close(self) -> None:
        self._drop()

    def _link_to(self, base: str) -> _Link:
        if self._link is None or self._link.base != base:
            self._drop()
            self._link = _Link(base, timeouts=self.timeouts, tls_context=self.tls_context)
        self._link.fingerprint = self._pins.get(base)
        return self._link

    def _exchange(self, link: _Link, request: bytes) -> wire.Answer:
        fresh = link.reader is None or _readable_while_idle(link.reader.sock)
        if fresh:
            link.close()
            link.connect()
        try:
            return link.send(request)
        except _STALE as exc:
            if fresh:
                raise
            # The gateway closed the idle connection: a GET can safely go again, once.
            log.debug("reconnect base=%s reason=%s", link.base, short_detail(exc))
            link.close()
            link.connect()
            return link.send(request)

    def _keep_cookies(self, set_cookies: list[str]) -> None:
        # Firmware 7+ opens a session (a sessionId cookie) after /auth/check_jwt.
        for line in set_cookies:
            pair, *attributes = line.split(";")
            name, equals, value = pair.partition("=")
            name, value = name.strip(), value.strip()
            if not name or not equals:
                continue
            if _expired(attributes):
                self._cookies.pop(name, None)
            else:
                self._cookies[name] = value

    def _drop(self) -> None:
        if self._link is not None:
            self._link.close()


class _Link:
    """A connection to one base URL: connect within the connect timeout, then read within
    the read timeout; over TLS, the pinned fingerprint is checked before any byte is sent."""

    def __init__(
        self, base: str, *, timeouts: tuple[float, float], tls_context: ssl.SSLContext
    ) -> None:
        parts = urlsplit(base)
        self.base = base
        self.fingerprint: str | None = None
        self.reader: wire.Reader | None = None
        self._tls = tls_context if parts.scheme == "https" else None
        self._timeouts = timeouts
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self._tls else 80)
        self._request_head = wire.request_head(
            self.host, None if self.port == (443 if self._tls else 80) else self.port
        )

    def request_bytes(self, path: str, headers: Mapping[str, str]) -> bytes:
        return wire.request(path, self._request_head, headers)

    def send(self, request: bytes) -> wire.Answer:
        assert self.reader is not None, "connect() first"
        self.reader.sock.sendall(request)
        return self.reader.answer()

    def connect(self) -> None:
        connect_s, read_s = self._timeouts
        try:
            sock = socket.create_connection((self.host, self.port), connect_s)
        except OSError as exc:
            raise TransportFailure(_connect_kind(exc, "connect"), short_detail(exc)) from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                sock = self._handshake(sock)
            sock.settimeout(read_s)
        except BaseException:
            sock.close()
            raise
        self.reader = wire.Reader(sock)

    def close(self) -> None:
        if self.reader is not None:
            self.reader.sock.close()
            self.reader = None

    def _handshake(self, sock: socket.socket) -> ssl.SSLSocket:
        assert self._tls is not None
        try:
            tls = self._tls.wrap_socket(sock, server_hostname=self.host)
        except OSError as exc:
            raise TransportFailure(_connect_kind(exc, "tls"), short_detail(exc)) from exc
        if self.fingerprint is not None:
            seen = hashlib.sha256(tls.getpeercert(binary_form=True) or b"").hexdigest()
            if seen != self.fingerprint:
                tls.close()
                # A token must never go to another certificate: nothing has been sent.
                raise TransportFailure(
                    "tls", f"Fingerprints did not match. Expected {self.fingerprint}, got {seen}"
                )
        return tls


def _connect_kind(exc: OSError, otherwise: FailureKind) -> FailureKind:
    return "connect_timeout" if isinstance(exc, TimeoutError) else otherwise


def _kind(exc: OSError) -> FailureKind:
    """The kind of a failure after connecting, while sending or reading the answer."""
    if isinstance(exc, TimeoutError):
        return "read_timeout"
    if isinstance(exc, ssl.SSLError) and not isinstance(exc, ConnectionError):
        return "protocol"  # broken TLS records
    return "connect"  # reset, or closed without an answer


def _readable_while_idle(sock: socket.socket) -> bool:
    """Whether an idle keep-alive socket has something to read: the server closed it."""
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    if not hasattr(select, "poll"):  # Windows
        return bool(select.select([sock], [], [], 0)[0])
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def _expired(attributes: list[str]) -> bool:
    fields = {}
    for attribute in attributes:
        key, _, value = attribute.partition("=")
        fields[key.strip().lower()] = value.strip()
    max_age = fields.get("max-age", "")
    if max_age.lstrip("-").isdigit():  # Max-Age wins over Expires (RFC 6265 5.3)
        return int(max_age) <= 0
    if "expires" in fields:
        try:
            return parsedate_to_datetime(fields["expires"]).timestamp() <= time.time()
        except (TypeError, ValueError):
            return False
    return False
