"""TLS for gateways: self-signed certificates, and pinning them once seen.

A gateway (firmware 7+) serves HTTPS with a certificate nobody can verify. Pinning
records its SHA-256 fingerprint on first contact, and the transport checks it on every
new connection, right after the handshake (urllib3's assert_fingerprint), so a different
certificate is refused before a request (and its token) is sent.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit

from envoylog.client.bounds import gateway_tls_context
from envoylog.errors import ConfigError
from envoylog.files import write_atomic


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
                write_atomic(self.path, json.dumps(pins, indent=2, sort_keys=True) + "\n")
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
    # The gateways' own TLS context: its handshake ends by the request's deadline too.
    with (
        socket.create_connection((host, parts.port or 443), timeout_s) as raw,
        gateway_tls_context().wrap_socket(raw, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True) or b""
    return hashlib.sha256(der).hexdigest()
