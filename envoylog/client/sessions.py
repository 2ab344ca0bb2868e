"""Gateway and cloud requests through `requests`: imported only when a caller brings a
Session, or the Enlighten cloud is asked for a token.

The service's own gateway requests go through envoylog.client.keepalive and never load
requests and urllib3 (about 16 MB of a service's memory).
"""

from __future__ import annotations

import time
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ReadTimeoutError

from envoylog.client.pinning import gateway_tls_context
from envoylog.client.response import HttpResponse
from envoylog.client.transport import TransportFailure, tidy_detail

if TYPE_CHECKING:
    from collections.abc import Mapping

    from urllib3._base_connection import BaseHTTPConnection


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
        raise TransportFailure("connect_timeout", request_detail(exc)) from exc
    except requests.exceptions.SSLError as exc:
        raise TransportFailure("tls", request_detail(exc)) from exc
    except requests.exceptions.Timeout as exc:
        raise TransportFailure("read_timeout", request_detail(exc)) from exc
    except requests.exceptions.ConnectionError as exc:
        # A timeout while reading the body arrives as a ConnectionError wrapping urllib3's.
        if exc.args and isinstance(exc.args[0], ReadTimeoutError):
            raise TransportFailure("read_timeout", request_detail(exc)) from exc
        raise TransportFailure("connect", request_detail(exc)) from exc
    except requests.exceptions.RequestException as exc:
        raise TransportFailure("protocol", request_detail(exc)) from exc


def request_detail(exc: requests.RequestException) -> str:
    """What went wrong in a few words ("Connection refused"), for an error sentence."""
    reason: object = exc.args[0] if exc.args else exc
    # urllib3's MaxRetryError wraps the real cause ("Connection refused") in `.reason`.
    reason = getattr(reason, "reason", None) or reason
    return tidy_detail(str(reason) or type(reason).__name__)


class _SelfSignedPool(HTTPSConnectionPool):
    """An HTTPS pool that skips urllib3's InsecureRequestWarning for this gateway only.

    The warning is right in general and useless here (the certificate is self-signed by
    design); silencing it per pool avoids touching the process-wide warning filters.
    """

    def _validate_conn(self, conn: BaseHTTPConnection) -> None:
        HTTPConnectionPool._validate_conn(self, conn)
        if conn.is_closed:
            conn.connect()


class GatewayAdapter(HTTPAdapter):
    """The transport for one gateway: quiet about self-signed certificates, optionally pinned."""

    def __init__(self, fingerprint: str | None = None) -> None:
        self.fingerprint = fingerprint
        super().__init__(max_retries=0)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        pool_kwargs.setdefault("ssl_context", gateway_tls_context())
        if self.fingerprint is not None:
            pool_kwargs["assert_fingerprint"] = self.fingerprint
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": HTTPConnectionPool,
            "https": _SelfSignedPool,
        }
