"""TLS for gateways: self-signed certificates, and pinning them once seen.

A gateway (firmware 7+) serves HTTPS with a certificate nobody can verify. Pinning
records its SHA-256 fingerprint on first contact, and the transport checks it on every
new connection, right after the handshake (urllib3's assert_fingerprint), so a different
certificate is refused before a request (and its token) is sent.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit

from envoylog.client.bounds import gateway_tls_context
from envoylog.errors import ConfigError
from envoylog.files import write_atomic

log = logging.getLogger(__name__)


# A new pin reaches the file within this long, together with the others made meanwhile:
# a fleet's first start pins every gateway in its first minute, and writing the whole
# file for each (5,000 gateways: 5,000 writes of up to 190 KB) took most of that minute's
# CPU. The pin guards from the moment it is made; a crash within this long loses it, and
# the gateway is pinned afresh on the next first contact.
WRITE_DELAY_S = 1.0


class _PinFile:
    """One pin file's table, shared by every PinStore of that path in this process (one
    lock, so pins made at once by many gateways' threads are never lost)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.pins: dict[str, str] | None = None
        self.stamp: tuple[int, int] | None = None  # (mtime_ns, size) of the file as read
        self.unsaved: set[str] = set()
        self.timer: threading.Timer | None = None

    def table(self) -> dict[str, str]:
        """The pins, read again when another process changed the file (``lock`` held)."""
        try:
            st = self.path.stat()
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        except OSError as exc:
            raise _unreadable(self.path, exc) from exc
        if self.pins is None or stamp != self.stamp:
            mine = {key: self.pins[key] for key in self.unsaved} if self.pins else {}
            self.pins = {**_read(self.path), **mine}
            self.stamp = stamp
        return self.pins

    def set(self, key: str, fingerprint: str) -> None:
        with self.lock:
            self.table()[key] = fingerprint.lower()
            self.unsaved.add(key)
            if self.timer is None:
                self.timer = threading.Timer(WRITE_DELAY_S, self.flush)
                self.timer.daemon = True
                self.timer.start()

    def flush(self) -> None:
        """Write the pins made since the last write (and keep others' made meanwhile)."""
        with self.lock:
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            if not self.unsaved:
                return
            pins = self.table()
            try:
                write_atomic(self.path, json.dumps(pins, indent=2, sort_keys=True) + "\n")
                st = self.path.stat()
            except OSError as exc:
                log.error(
                    "pins_unsaved path=%s pins=%d error=%s: check that its folder is "
                    "writable; they are written again with the next pin",
                    self.path,
                    len(self.unsaved),
                    exc.strerror or exc,
                )
                return
            self.stamp = (st.st_mtime_ns, st.st_size)
            self.unsaved.clear()


_FILES: dict[Path, _PinFile] = {}
_FILES_LOCK = threading.Lock()


def _pin_file(path: Path) -> _PinFile:
    key = Path(os.path.abspath(path))
    with _FILES_LOCK:
        found = _FILES.get(key)
        if found is None:
            found = _FILES[key] = _PinFile(path)
        return found


@atexit.register
def flush_all() -> None:
    """Write every pin not written yet (at exit, and when a command ends)."""
    with _FILES_LOCK:
        files = list(_FILES.values())
    for pin_file in files:
        pin_file.flush()


class PinStore:
    """A JSON file (mode 0600) mapping a gateway's base URL to its certificate's SHA-256.

    Read once and again only when another process changes it; a new pin is written
    within WRITE_DELAY_S with the others made meanwhile, at exit, or on ``flush()``.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = _pin_file(path)

    def __repr__(self) -> str:
        return f"PinStore({str(self.path)!r})"

    def get(self, key: str) -> str | None:
        """Return the pinned fingerprint (lower-case hex) for `key`, if any."""
        with self._file.lock:
            return self._file.table().get(key)

    def set(self, key: str, fingerprint: str) -> None:
        """Pin `fingerprint` for `key`, replacing any earlier one."""
        self._file.set(key, fingerprint)

    def flush(self) -> None:
        """Write the pins not written yet, now."""
        self._file.flush()


def _unreadable(path: Path, exc: OSError) -> ConfigError:
    return ConfigError(
        f"Cannot read the certificate pin file {path} ({exc.strerror or exc}): "
        "check its permissions."
    )


def _read(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    try:
        pins = json.loads(text)
    except ValueError:
        pins = None
    if not isinstance(pins, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in pins.items()
    ):
        raise ConfigError(
            f"The certificate pin file {path} is not a JSON object of "
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
