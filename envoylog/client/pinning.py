"""TLS for gateways: self-signed certificates, and pinning them once seen.

A gateway (firmware 7+) serves HTTPS with a certificate nobody can verify. Pinning
records its SHA-256 fingerprint on first contact and makes urllib3 check it on every
new connection, during the handshake, so a different certificate is refused before a
request (and its token) is sent.
"""

from __future__ import annotations

import functools
import hashlib
import json
import ssl
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util.ssl_ import create_urllib3_context

from envoylog.client.files import write_private
from envoylog.errors import ConfigError

if TYPE_CHECKING:
    from urllib3._base_connection import BaseHTTPConnection


class PinStore:
    """A JSON file (mode 0600) mapping a gateway's base URL to its certificate's SHA-256."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PinStore({str(self.path)!r})"

    def get(self, key: str) -> str | None:
        """Return the pinned fingerprint (lower-case hex) for `key`, if any."""
        with self._lock:
            return self._load().get(key)

    def set(self, key: str, fingerprint: str) -> None:
        """Pin `fingerprint` for `key`, replacing any earlier one."""
        with self._lock:
            pins = self._load()
            pins[key] = fingerprint.lower()
            try:
                write_private(self.path, json.dumps(pins, indent=2, sort_keys=True) + "\n")
            except OSError as exc:
                raise ConfigError(
                    f"Cannot write the certificate pin file {self.path} "
                    f"({exc.strerror or exc}): check that its folder is writable."
                ) from exc

    def _load(self) -> dict[str, str]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigError(
                f"Cannot read the certificate pin file {self.path} ({exc.strerror or exc}): "
                "check its permissions."
            ) from exc
        try:
            pins = json.loads(text)
        except ValueError:
            pins = None
        if not isinstance(pins, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in pins.items()
        ):
            raise ConfigError(
                f"The certificate pin file {self.path} is not a JSON object of "
                "URL -> fingerprint: fix it, or delete it to pin every gateway afresh."
            )
        return pins


def certificate_fingerprint(base_url: str, timeout_s: float) -> str:
    """Fetch the certificate `base_url` presents (sending nothing else) and hash its DER form.

    Raises OSError (including ssl.SSLError) when no TLS handshake is possible.
    """
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    pem = ssl.get_server_certificate((host, parts.port or 443), timeout=timeout_s)
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


class _SelfSignedPool(HTTPSConnectionPool):
    """An HTTPS pool that skips urllib3's InsecureRequestWarning for this gateway only.

    The warning is right in general and useless here (the certificate is self-signed by
    design); silencing it per pool avoids touching the process-wide warning filters.
    """

    def _validate_conn(self, conn: BaseHTTPConnection) -> None:
        HTTPConnectionPool._validate_conn(self, conn)
        if conn.is_closed:
            conn.connect()


@functools.cache
def gateway_tls_context() -> ssl.SSLContext:
    """The TLS context every gateway connection shares.

    Nobody can verify a gateway's self-signed certificate (pinning checks it
    instead), so no CA bundle is loaded: urllib3 would otherwise load the system
    bundle into a new context for every gateway, about 1 MB each.
    """
    context = create_urllib3_context(cert_reqs=ssl.CERT_NONE)
    context.check_hostname = False
    return context


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
