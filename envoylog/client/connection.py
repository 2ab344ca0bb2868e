"""The way to one gateway: base URL discovery, certificate pinning, deadline, retries."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from envoylog.client import bounds, transport
from envoylog.client.pinning import PinStore, certificate_fingerprint
from envoylog.client.response import HttpResponse
from envoylog.client.transport import TransportFailure
from envoylog.errors import (
    BadAnswer,
    CertificateMismatch,
    ConfigError,
    GatewayError,
    GatewayTimeout,
    GatewayUnreachable,
    ParseError,
)
from envoylog.parse import parse_info
from envoylog.parse.context import ParseContext
from envoylog.records import GatewayInfo

if TYPE_CHECKING:
    from requests.auth import AuthBase

log = logging.getLogger(__name__)

INFO_PATH = "/info"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


class Connection:
    """The transport half of a GatewayClient: base URL, pinning, deadline, retries.

    It knows nothing of authentication beyond sending the headers (or the requests
    `auth`) it is given, and it is not thread-safe: GatewayClient holds the lock.
    """

    def __init__(
        self,
        host: str,
        *,
        connect_timeout_s: float,
        deadline_s: float,
        retries: int,
        backoff_s: float,
        sleep: Callable[[float], None],
        pin_store: PinStore | None,
        retrust: bool,
    ) -> None:
        self.host = host.strip().rstrip("/")
        self._candidates = base_url_candidates(self.host)
        # Known from the start for a URL; for a bare host, once HTTPS or HTTP has answered.
        self.base_url: str | None = self._candidates[0] if len(self._candidates) == 1 else None
        self.serial: str | None = None
        self.connect_timeout_s = connect_timeout_s
        self.deadline_s = deadline_s
        self.retries = max(0, retries)
        self.backoff_s = backoff_s
        self._sleep = sleep
        self._pin_store = pin_store
        self._retrust = retrust
        self._pinned: dict[str, str] = {}
        self._ready = False
        self.session = transport.gateway_session()

    def close(self) -> None:
        """Close the connection to the gateway."""
        self.session.close()

    @property
    def uses_tls(self) -> bool:
        return self.base_url is not None and self.base_url.startswith("https://")

    @contextlib.contextmanager
    def deadline(self) -> Iterator[None]:
        """Bound everything said to the gateway in this block (retries too) by the deadline."""
        with bounds.deadline(self.deadline_s):
            yield

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
        self,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: AuthBase | None = None,
        retries: int | None = None,
    ) -> HttpResponse:
        """GET base_url + path, retrying failed connections and 5xx answers a bounded number
        of times while the deadline allows; a timeout or a broken answer is not retried."""
        assert self.base_url is not None, "ensure_ready() first"
        base = self.base_url
        attempts = 1 + (self.retries if retries is None else retries)
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            try:
                response = self._send_once(base, path, headers, auth)
            except GatewayTimeout:
                raise
            except GatewayUnreachable as exc:
                if last or not self._back_off(attempt, path, _reason(exc)):
                    raise
                continue
            busy = response.status >= 500 and not last
            if busy and self._back_off(attempt, path, f"status_{response.status}"):
                continue
            if path == INFO_PATH and response.status == 200:
                self._learn_identity(response.body)
            if self._moved_to_https(base, response):
                # A firmware push to 7+ turns a plain-HTTP gateway into an HTTPS one.
                log.warning("gateway_moved_to_https host=%s path=%s", self.host, path)
                self.base_url, self._ready = None, False
                self.ensure_ready()
                return self.request(path, headers=headers, auth=auth, retries=retries)
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
        transport.pin(self.session, pinned)
        self._pinned[base] = pinned

    def _fetch_fingerprint(self, base: str) -> str:
        try:
            return certificate_fingerprint(base, self.connect_timeout_s)
        except OSError as exc:
            raise GatewayUnreachable(
                f"Cannot make a TLS connection to {self._where(base)} ({exc}): "
                "check that it is powered on and reachable from this machine.",
                host=self.host,
            ) from exc

    def _send_once(
        self, base: str, path: str, headers: Mapping[str, str] | None, auth: AuthBase | None
    ) -> HttpResponse:
        try:
            response = transport.get(
                self.session,
                base + path,
                headers=headers or _NO_HEADERS,
                auth=auth,
                connect_timeout_s=self.connect_timeout_s,
            )
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
        if failure.kind == "tls" and base in self._pinned:
            mismatch = self._certificate_changed(base)
            if mismatch is not None:
                return mismatch
        if failure.kind == "timeout":
            return GatewayTimeout(
                f"Gateway {self.host} did not answer {path} within {self.deadline_s:g} s: it "
                "may be busy (just restarted, or housekeeping shortly after 23:00); "
                "it will be asked again next time.",
                host=self.host,
            )
        if failure.kind == "connect_timeout":
            return GatewayUnreachable(
                f"{self._where(base, capital=True)} did not accept a connection within "
                f"{self.connect_timeout_s:g} s: check that it is powered on and on the network.",
                host=self.host,
            )
        if failure.kind == "too_large":
            return BadAnswer(
                f"Gateway {self.host} answered {path} with more than "
                f"{bounds.MAX_BODY_BYTES // 1024 // 1024} MiB ({failure.detail}), far more than "
                "any gateway page: the answer was refused; check that this address is the "
                "gateway.",
                host=self.host,
            )
        if failure.kind == "tls":
            return GatewayUnreachable(
                f"The TLS handshake with {self._where(base)} failed "
                f"({failure.detail}): check that this address is the gateway.",
                host=self.host,
            )
        if failure.kind == "protocol":
            return BadAnswer(
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
            current = certificate_fingerprint(base, self.connect_timeout_s)
        except OSError:
            return None
        if current == pinned:
            return None
        return CertificateMismatch(
            f"{self._where(base, capital=True)} presented a TLS certificate (sha256 {current}) "
            f"other than the one pinned for it (sha256 {pinned}), so nothing was sent to it; "
            "if the gateway was replaced or reset, accept the new certificate with "
            f"`envoylog probe --host {self.host} --retrust`.",
            host=self.host,
        )

    def _where(self, base: str, *, capital: bool = False) -> str:
        where = f"gateway {self.host}" if base == self.host else f"gateway {self.host} at {base}"
        return where[0].upper() + where[1:] if capital else where

    def _back_off(self, attempt: int, path: str, reason: str) -> bool:
        """Wait before the next attempt; False when the deadline leaves no time for it."""
        wait_s = self.backoff_s * 2 ** (attempt - 1)
        budget = bounds.current()
        if budget is not None and budget.left_s() <= wait_s:
            return False
        log.info(
            "retry host=%s path=%s reason=%s attempt=%s wait_s=%g",
            self.host,
            path,
            reason,
            attempt + 1,
            wait_s,
        )
        self._sleep(wait_s)
        return True

    def _learn_identity(self, body: bytes) -> None:
        try:
            records = parse_info(body, ParseContext(fetched_at=datetime.now(tz=UTC)))
        except ParseError:
            return  # not an Envoy's /info: the poller says so
        info = next((r for r in records if isinstance(r, GatewayInfo)), None)
        if info is not None:
            self.serial = info.serial


def _reason(exc: GatewayUnreachable) -> str:
    failure = exc.__cause__
    return failure.kind if isinstance(failure, TransportFailure) else "unreachable"


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
