"""TLS servers that record what a client sends, and an impostor for certificate pinning tests.

An impostor is a server on a gateway's pinned address presenting another self-signed
certificate: envoylog must refuse it after the handshake, before sending a single byte
(the Authorization header least of all).
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import socketserver
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from envoylog.client import PinStore
from envoylog.paths import pin_file
from envoylog.simulator.serving import simulator_certificate_sha256

needs_openssl = pytest.mark.skipif(
    shutil.which("openssl") is None, reason="needs the openssl command to make certificates"
)


def make_certificate(folder: Path, name: str) -> tuple[Path, Path, str]:
    """A self-signed EC certificate for 127.0.0.1: (cert, key, sha256 of its DER)."""
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec"),
            *("-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"),
            *("-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    return cert, key, hashlib.sha256(der).hexdigest()


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


class RecordingTlsServer(socketserver.ThreadingTCPServer):
    """Completes TLS handshakes and records every byte a client sends after them."""

    daemon_threads = False  # server_close() waits for the handlers

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _RecordingHandler)
        self.context = context
        self.received: list[bytes] = []

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server_address[1]}"

    def sent_anything(self) -> bool:
        return any(self.received)


class _RecordingHandler(socketserver.BaseRequestHandler):
    server: RecordingTlsServer

    def handle(self) -> None:
        self.request.settimeout(5)
        data = b""
        try:
            tls = self.server.context.wrap_socket(self.request, server_side=True)
            while chunk := tls.recv(65536):
                data += chunk
        except OSError:
            pass  # the client hung up: what it sent before is in `data`
        self.server.received.append(data)


@contextlib.contextmanager
def serving(server: socketserver.TCPServer) -> Iterator[None]:
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def impostor(folder: Path) -> Iterator[RecordingTlsServer]:
    """An impostor whose address is pinned (in this process's pin file) to the simulator's
    certificate, the genuine gateway's; it presents a certificate of its own."""
    cert, key, _ = make_certificate(folder, "impostor")
    server = RecordingTlsServer(server_context(cert, key))
    pins = PinStore(pin_file())
    pins.set(server.url, simulator_certificate_sha256())
    pins.flush()  # on file now: the commands may run in processes of their own
    with serving(server):
        yield server


def refused_impostor_sentence(server: RecordingTlsServer) -> str:
    """The start of what every command says when it meets the impostor."""
    return f"Gateway {server.url} presented a TLS certificate (sha256 "
