"""Every gateway request bounded in time and in bytes, where the bytes arrive: the socket.

A per-read timeout does not stop a gateway that trickles: a byte every few seconds
keeps every read alive, whether it trickles its status line, its headers or its body,
or promises a Content-Length it never sends. So while a request runs, its `Budget`
(a deadline, and how many more bytes it may receive) rides in a context variable, and
the gateway sockets (`BoundedSocket` for HTTP, `BoundedSSLSocket` for HTTPS, made by
`gateway_tls_context`) look at it before every blocking handshake, send and receive:
each waits at most until the deadline, and a receive past the allowance fails. This
holds whichever layer reads (http.client's status line and headers, urllib3's chunk
reader, requests' digest hook, the body loop), with no thread or timer.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import ssl
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

# A gateway page is well under 1 MB (the largest real capture: /api/v1/production/
# inverters of 36 inverters, 6 KB; /ivp/meters/readings with three-phase CTs, 3 KB).
MAX_BODY_BYTES = 4 * 1024 * 1024
# Status lines, headers and chunk framing on top of the body, per answer.
HEAD_BYTES = 256 * 1024


class OverBudget(ConnectionAbortedError):
    """A gateway sent more bytes than one answer may have."""


@dataclass(slots=True)
class Budget:
    """What is left to one request: time until `deadline` (time.monotonic), and bytes."""

    deadline: float
    bytes_left: int = MAX_BODY_BYTES + HEAD_BYTES
    overrun: bool = False

    def left_s(self) -> float:
        return self.deadline - time.monotonic()

    def new_answer(self) -> None:
        """Give the next answer (a retry, or the request after a 401) its own byte allowance."""
        self.bytes_left = MAX_BODY_BYTES + HEAD_BYTES
        self.overrun = False


_CURRENT: ContextVar[Budget | None] = ContextVar("envoylog_request_budget", default=None)


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[Budget]:
    """Bound every gateway socket operation in this block to end within `seconds`."""
    budget = Budget(time.monotonic() + seconds)
    token = _CURRENT.set(budget)
    try:
        yield budget
    finally:
        _CURRENT.reset(token)


def current() -> Budget | None:
    """The budget of the request this thread is making, if any."""
    return _CURRENT.get()


def _wait_at_most_the_deadline(sock: socket.socket) -> Budget | None:
    budget = _CURRENT.get()
    if budget is not None:
        left = budget.left_s()
        if left <= 0:
            raise TimeoutError("the request's deadline passed")
        sock.settimeout(left)
    return budget


def _count(budget: Budget | None, received: int) -> None:
    if budget is None:
        return
    budget.bytes_left -= received
    if budget.bytes_left < 0:
        budget.overrun = True
        raise OverBudget(f"more than {MAX_BODY_BYTES + HEAD_BYTES} bytes in one answer")


class BoundedSocket(socket.socket):
    """A plain gateway socket whose waits end at the request's deadline."""

    __slots__ = ()

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        budget = _wait_at_most_the_deadline(self)
        received = super().recv_into(buffer, nbytes, flags)
        _count(budget, received)
        return received

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        budget = _wait_at_most_the_deadline(self)
        data = super().recv(bufsize, flags)
        _count(budget, len(data))
        return data

    def sendall(self, data: Any, flags: int = 0) -> None:
        _wait_at_most_the_deadline(self)
        super().sendall(data, flags)


def bounded(sock: socket.socket) -> BoundedSocket:
    """The same connection as a BoundedSocket, keeping its timeout."""
    timeout = sock.gettimeout()
    fresh = BoundedSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())
    fresh.settimeout(timeout)
    return fresh


class BoundedSSLSocket(ssl.SSLSocket):
    """A TLS gateway socket whose handshake, sends and reads end at the request's deadline."""

    def do_handshake(self, block: bool = False) -> None:
        _wait_at_most_the_deadline(self)
        super().do_handshake(block)

    def read(self, nbytes: int = 1024, buffer: Any = None) -> Any:
        budget = _wait_at_most_the_deadline(self)
        got: Any = super().read(nbytes, buffer)  # a count when `buffer` is given
        _count(budget, got if isinstance(got, int) else len(got))
        return got

    def sendall(self, data: Any, flags: int = 0) -> None:
        _wait_at_most_the_deadline(self)
        super().sendall(data, flags)


@functools.cache
def gateway_tls_context() -> ssl.SSLContext:
    """The TLS context every gateway connection shares.

    Nobody can verify a gateway's self-signed certificate (pinning checks it instead),
    so no CA bundle is loaded: a context per gateway with the system bundle in it would
    cost about 1 MB each. The settings are urllib3's for an unverified connection:
    TLS 1.2 or newer, no compression, no session tickets. Its sockets are bounded.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_TICKET
    context.sslsocket_class = BoundedSSLSocket
    return context
