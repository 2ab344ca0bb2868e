"""TLS for gateways: self-signed certificates, and pinning them once seen.

A gateway (firmware 7+) serves HTTPS with a certificate nobody can verify. Pinning
records its SHA-256 fingerprint on first contact, and the transports check it on every
new connection, right after the handshake, so a different certificate is refused before
a request (and its token) is sent.
"""

from __future__ import annotations

import functools
import hashlib
import json
import ssl
import threading
from pathlib import Path
from urllib.parse import urlsplit

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
    pem = ssl.get_server_certificate((host, parts.port or 443), timeout=timeout_s)
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


@functools.cache
def gateway_tls_context() -> ssl.SSLContext:
    """The TLS context every gateway connection shares.

    Nobody can verify a gateway's self-signed certificate (pinning checks it
    instead), so no CA bundle is loaded: a context per gateway with the system bundle
    in it would cost about 1 MB each. The settings are urllib3's for an unverified
    connection: TLS 1.2 or newer, no compression, no session tickets.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_TICKET
    return context
