"""The transport to one gateway: base URL discovery, TLS pinning, timeouts, retries."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from envoylog.client.keepalive import KeepAliveTransport
from envoylog.client.pinning import PinStore, certificate_fingerprint
from envoylog.client.response import HttpResponse
from envoylog.client.transport import Transport, TransportFailure
from envoylog.errors import (
    CertificateMismatch,
    ConfigError,
    GatewayError,
    GatewayTimeout,
    GatewayUnreachable,
)

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)

INFO_PATH = "/info"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_SERIAL = re.compile(rb"<sn>\s*([^<\s]+)\s*</sn>")
_SOFTWARE = re.compile(rb"<software>\s*([^<\s]+)\s*</software>")
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


class Connection:
    """The transport half of a GatewayClient: base URL, TLS pinning, timeouts, retries.

    It knows nothing of authentication beyond sending the headers it is given, and it
    is not thread-safe: GatewayClient holds the lock. Requests go through a
    `KeepAliveTransport`, or through `session` when one is given.
    """

    def __init__(
        self,
        host: str,
        *,
        timeouts: tuple[float, float],
        retries: int,
        backoff_s: float,
        sleep: Callable[[float], None],
        pin_store: PinStore | None,
        retrust: bool,
        session: requests.Session | None,
    ) -> None:
        self.host = host.strip().rstrip("/")
        self._candidates = base_url_candidates(self.host)
        # Known from the start for a URL; for a bare host, once HTTPS or HTTP has answered.
        self.base_url: str | None = self._candidates[0] if len(self._candidates) == 1 else None
        self.serial: str | None = None
        self.firmware: str | None = None
        self.timeouts = timeouts
        self.retries = max(0, retries)
        self.backoff_s = backoff_s
        self._sleep = sleep
        self._pin_store = pin_store
        self._retrust = retrust
        self._pinned: dict[str, str] = {}
        self._ready = False
        self.transport: Transport
        if session is None:
            self.transport = KeepAliveTransport(timeouts=timeouts)
        else:
            from envoylog.client.sessions import RequestsTransport

            self.transport = RequestsTransport(session, timeouts=timeouts)

    def close(self) -> None:
        """Close the gateway connection (a given session is left to its owner)."""
        self.transport.close()

    @property
    def uses_tls(self) -> bool:
        return self.base_url is not None and self.base_url.startswith("https://")

    def ensure_ready(self) -> HttpResponse | None:
        """Pin the certificate and, for a bare host, find the scheme; return /info if read."""
        if self._ready:
            return None
        if len(self._candidates) == 1:
            self._prepare_tls(self._candidates[0])
            self._ready = True
            return None
        info = self._discover()
        self._ready = True
        return info

    def request(
        self, path: str, *, headers: Mapping[str, str] | None = None, retries: int | None = None
    ) -> HttpResponse:
        """GET base_url + path with bounded retries on failures and 5xx answers."""
        assert self.base_url is not None, "ensure_ready() first"
        base = self.base_url
        attempts = 1 + (self.retries if retries is None else retries)
        for attempt in range(1, attempts + 1):
            try:
                response = self._send_once(base, path, headers)
            except GatewayUnreachable as exc:
                if attempt == attempts:
                    raise
                self._back_off(attempt, path, getattr(exc.__cause__, "kind", "unreachable"))
                continue
            if response.status >= 500 and attempt < attempts:
                self._back_off(attempt, path, f"status_{response.status}")
                continue
            if path == INFO_PATH and response.status == 200:
                self._learn_identity(response.body)
            if self._moved_to_https(base, response):
                # A firmware push to 7+ turns a plain-HTTP gateway into an HTTPS one.
                log.warning("gateway_moved_to_https host=%s path=%s", self.host, path)
                self.base_url, self._ready = None, False
                self.ensure_ready()
                return self.request(path, headers=headers, retries=retries)
            return response
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _moved_to_https(self, base: str, response: HttpResponse) -> bool:
        return (
            self._ready  # not while discovery itself is choosing the scheme
            and len(self._candidates) > 1
            and base.startswith("http://")
            and response.status in _REDIRECTS
            and response.headers.get("location", "").startswith("https://")
        )

    # -- internals ---------------------------------------------------------------------

    def _discover(self) -> HttpResponse:
        https_error: GatewayUnreachable | None = None
        for index, candidate in enumerate(self._candidates):
            last = index == len(self._candidates) - 1
            try:
                self._prepare_tls(candidate)
                self.base_url = candidate
                response = self.request(INFO_PATH, retries=None if last else 0)
            except GatewayUnreachable as exc:
                self.base_url = None
                if last or self._has_pin(candidate):
                    # A gateway pinned on HTTPS must not be silently downgraded to HTTP.
                    raise
                log.debug("scheme_failed host=%s url=%s reason=%s", self.host, candidate, exc)
                https_error = exc
                continue
            location = response.headers.get("location", "")
            redirected_to_https = location.startswith("https://")
            if https_error is not None and response.status in _REDIRECTS and redirected_to_https:
                # Firmware 7+ redirects HTTP to HTTPS: HTTPS is the way, it just failed now.
                self.base_url = None
                raise https_error
            log.info("gateway_found host=%s base_url=%s", self.host, candidate)
            return response
        raise AssertionError("unreachable: the last candidate returns or raises")

    def _has_pin(self, base: str) -> bool:
        return self._pin_store is not None and self._pin_store.get(base) is not None

    def _prepare_tls(self, base: str) -> None:
        if not base.startswith("https://") or self._pin_store is None or base in self._pinned:
            return
        pinned = self._pin_store.get(base)
        if pinned is None or self._retrust:
            current = self._fetch_fingerprint(base)
            if pinned is None:
                self._pin_store.set(base, current)
                log.info("certificate_pinned host=%s sha256=%s", self.host, current)
            elif current != pinned:
                self._pin_store.set(base, current)
                log.warning(
                    "certificate_retrusted host=%s old_sha256=%s new_sha256=%s",
                    self.host,
                    pinned,
                    current,
                )
            pinned = current
        self.transport.pin(base, pinned)
        self._pinned[base] = pinned

    def _fetch_fingerprint(self, base: str) -> str:
        try:
            return certificate_fingerprint(base, self.timeouts[0])
        except OSError as exc:
            raise GatewayUnreachable(
                f"Cannot make a TLS connection to {self._where(base)} ({exc}): "
                "check that it is powered on and reachable from this machine.",
                host=self.host,
            ) from exc

    def _send_once(self, base: str, path: str, headers: Mapping[str, str] | None) -> HttpResponse:
        try:
            response = self.transport.get(base, path, headers or _NO_HEADERS)
        except TransportFailure as failure:
            raise self._failure_error(base, path, failure) from failure
        log.debug(
            "request host=%s path=%s status=%s ms=%s",
            self.host,
            path,
            response.status,
            response.elapsed_ms,
        )
        return response

    def _failure_error(self, base: str, path: str, failure: TransportFailure) -> GatewayError:
        connect_s, read_s = self.timeouts
        if failure.kind == "tls" and base in self._pinned:
            mismatch = self._certificate_changed(base)
            if mismatch is not None:
                return mismatch
        if failure.kind == "read_timeout":
            return GatewayTimeout(
                f"Gateway {self.host} did not answer {path} within {read_s:g} s: it may be "
                "busy (just restarted, or housekeeping shortly after 23:00); "
                "it will be asked again next time.",
                host=self.host,
            )
        if failure.kind == "connect_timeout":
            return GatewayUnreachable(
                f"{self._where(base, capital=True)} did not accept a connection within "
                f"{connect_s:g} s: check that it is powered on and on the network.",
                host=self.host,
            )
        if failure.kind == "tls":
            return GatewayUnreachable(
                f"The TLS handshake with {self._where(base)} failed "
                f"({failure.detail}): check that this address is the gateway.",
                host=self.host,
            )
        if failure.kind == "protocol":
            return GatewayUnreachable(
                f"Gateway {self.host} sent a broken answer to {path} ({failure.detail}): "
                "it may be restarting; it will be asked again next time.",
                host=self.host,
            )
        return GatewayUnreachable(
            f"Cannot connect to {self._where(base)} ({failure.detail}): check that "
            "it is powered on, on the network, and that the host name or address is right.",
            host=self.host,
        )

    def _certificate_changed(self, base: str) -> CertificateMismatch | None:
        pinned = self._pinned[base]
        try:
            current = certificate_fingerprint(base, self.timeouts[0])
        except OSError:
            return None
        if current == pinned:
            return None
        return CertificateMismatch(
            f"{self._where(base, capital=True)} presented a different TLS certificate "
            f"(sha256 {current}) from the one pinned (sha256 {pinned}), so nothing was sent. "
            "If the gateway was replaced or reset, re-trust it with --retrust "
            "(retrust=True) to record the new certificate.",
            host=self.host,
        )

    def _where(self, base: str, *, capital: bool = False) -> str:
        where = f"gateway {self.host}" if base == self.host else f"gateway {self.host} at {base}"
        return where[0].upper() + where[1:] if capital else where

    def _back_off(self, attempt: int, path: str, reason: str) -> None:
        wait_s = self.backoff_s * 2 ** (attempt - 1)
        log.info(
            "retry host=%s path=%s reason=%s attempt=%s wait_s=%g",
            self.host,
            path,
            reason,
            attempt + 1,
            wait_s,
        )
        self._sleep(wait_s)

    def _learn_identity(self, body: bytes) -> None:
        serial = _SERIAL.search(body)
        software = _SOFTWARE.search(body)
        if serial:
            self.serial = serial.group(1).decode("ascii", "replace")
        if software:
            self.firmware = software.group(1).decode("ascii", "replace").lstrip("RDMrdm")


def base_url_candidates(host: str) -> list[str]:
    """The base URLs to try for `host`: the URL itself, or HTTPS then HTTP for a bare host."""
    if not host:
        raise ConfigError("The gateway host is empty: give a host name, address or URL.")
    if "://" in host:
        parts = urlsplit(host)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                f"The gateway URL {host!r} is not an http:// or https:// URL with a host: "
                "give e.g. https://envoy.local or a bare host such as 192.168.1.5."
            )
        return [f"{parts.scheme}://{parts.netloc}"]
    if "/" in host or any(ch.isspace() for ch in host):
        raise ConfigError(
            f"The gateway host {host!r} is not a host name or address: "
            "give e.g. envoy.local, 192.168.1.5, 127.0.0.1:8080 or https://envoy.local."
        )
    if host.count(":") > 1 and not host.startswith("["):
        host = f"[{host}]"  # a bare IPv6 address
    return [f"https://{host}", f"http://{host}"]
