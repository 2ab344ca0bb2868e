"""The HTTP(S) plumbing shared by the replay server and the living simulator.

A *responder* turns ``(method, target, authorization)`` into a ``Reply``; the handler
here sends it, waits first when the reply says so (a slow gateway), or sends nothing
at all (a hung one). One thread can accept for many servers (``ServerGroup``), which
keeps a fleet of a thousand simulated gateways cheap.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import selectors
import ssl
import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self
from urllib.parse import urlsplit

from envoylog.errors import ConfigError

log = logging.getLogger("envoylog.simulator")

# Simulator-only self-signed pair, public on purpose (see __init__): never a secret.
CERT_FILE = "simulator-cert.pem"
KEY_FILE = "simulator-key.pem"
MAX_RECORDED_REQUESTS = 1000
DIGEST_REALM = "enphaseenergy.com"
DIGEST_USER = "envoy"


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request a simulated gateway received (for tests)."""

    method: str
    path: str  # path and query, as sent
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Reply:
    """What to send back; ``delay_s`` waits first, ``hang_s`` waits and then sends nothing.

    ``framing`` names a fault in how the answer is sent (simulator.faults.FRAMING), with
    its argument: seconds between bytes (trickle), seconds to hold (lying-length), bytes
    (huge-body).
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    delay_s: float = 0.0
    hang_s: float = 0.0
    framing: str = ""
    framing_arg: float = 0.0


class Responder(Protocol):
    def reply(self, method: str, target: str, authorization: str) -> Reply: ...


def digest_ok(header: str, method: str, password: str) -> bool:
    """Check an RFC 2617 Digest ``Authorization`` header (MD5, qop auth or none)."""
    if not header.lower().startswith("digest "):
        return False
    pairs = re.findall(r'(\w+)=(?:"([^"]*)"|([^\s,]+))', header[7:])
    fields = {key: quoted or bare for key, quoted, bare in pairs}
    if fields.get("username") != DIGEST_USER or "nonce" not in fields:
        return False

    def md5(text: str) -> str:
        return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()

    ha1 = md5(f"{DIGEST_USER}:{fields.get('realm', DIGEST_REALM)}:{password}")
    ha2 = md5(f"{method}:{fields.get('uri', '')}")
    if fields.get("qop"):
        parts = (fields["nonce"], fields.get("nc", ""), fields.get("cnonce", ""), fields["qop"])
        expected = md5(":".join((ha1, *parts, ha2)))
    else:
        expected = md5(f"{ha1}:{fields['nonce']}:{ha2}")
    return fields.get("response") == expected


class _Handler(BaseHTTPRequestHandler):
    server: GatewayHTTPServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, a keep-alive client waits
    # for the delayed ACK (~40 ms) on every request.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _answer(self, *, send_body: bool) -> None:
        target = urlsplit(self.path)
        path_query = target.path + (f"?{target.query}" if target.query else "")
        self.server.record(RecordedRequest(self.command, self.path, dict(self.headers.items())))
        reply = self.server.responder.reply(
            self.command, path_query, self.headers.get("Authorization", "")
        )
        stopping = self.server.stopping
        if reply.hang_s:
            # A hung gateway: hold the connection, answer nothing, until the time is up
            # or the server stops (so a hang never outlives the simulator).
            stopping.wait(reply.hang_s)
            self.close_connection = True
            return
        if reply.delay_s and stopping.wait(reply.delay_s):
            self.close_connection = True
            return
        self.log_request(reply.status)
        # send_response_only: the reply's headers carry the gateway's own Server and Date.
        self.send_response_only(reply.status)
        for key, value in reply.headers:
            self.send_header(key, value)
        if reply.framing and send_body:
            self._send_badly(reply)
            return
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if send_body:
            self.wfile.write(reply.body)

    def _send_badly(self, reply: Reply) -> None:
        """Send the body as a broken or hostile gateway would, then close."""
        self.close_connection = True
        body, stopping = reply.body, self.server.stopping
        if reply.framing in ("bad-chunk", "huge-body"):
            self.send_header("Transfer-Encoding", "chunked")
        else:
            lying = reply.framing == "lying-length"
            self.send_header("Content-Length", str(2 * len(body) + 1 if lying else len(body)))
        self.end_headers()
        if reply.framing == "bad-chunk":
            self.wfile.write(b"zz\r\n" + body + b"\r\n0\r\n\r\n")
        elif reply.framing == "lying-length":
            self.wfile.write(body)
            stopping.wait(reply.framing_arg)
        elif reply.framing == "trickle":
            for index in range(len(body)):
                if stopping.wait(reply.framing_arg):
                    return
                self.wfile.write(body[index : index + 1])
        else:  # huge-body: a JSON array that never seems to end
            piece = b"[" + b"{}," * 21_845
            for _ in range(int(reply.framing_arg) // len(piece)):
                if stopping.is_set():
                    return
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")

    def log_message(self, format: str, *args: Any) -> None:
        level = logging.INFO if self.server.verbose else logging.DEBUG
        log.log(level, "%s %s", self.server.name, format % args)


class GatewayHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server whose answers come from a responder."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        responder: Responder,
        *,
        verbose: bool = False,
        tls: ssl.SSLContext | None = None,
        name: str = "gateway",
    ) -> None:
        self.responder = responder
        self.verbose = verbose
        self.name = name
        self.stopping = threading.Event()
        self.recorded: deque[RecordedRequest] = deque(maxlen=MAX_RECORDED_REQUESTS)
        self._lock = threading.Lock()
        try:
            super().__init__(address, _Handler)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            host, port = address
            raise ConfigError(
                f"Cannot listen on {host}:{port}: {reason}. Choose another --port (0 = any free)."
            ) from exc
        if tls is not None:
            # Handshake in the handler thread, not in accept(), so one stalled client
            # cannot block the whole server.
            self.socket = tls.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.recorded.append(request)

    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self.recorded)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up mid-reply (or failing the TLS handshake) is normal in tests.
        log.debug("%s: error while serving %s", self.name, client_address, exc_info=True)


class ServerGroup:
    """Accept connections for many servers from one thread (each request gets its own)."""

    def __init__(self, servers: Sequence[GatewayHTTPServer]) -> None:
        self.servers = list(servers)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Serve in a background daemon thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self.serve, name="simulator", daemon=True)
            self._thread.start()

    def serve(self) -> None:
        """Serve in this thread until ``stop()`` (or an exception such as Ctrl-C)."""
        with selectors.DefaultSelector() as selector:
            for server in self.servers:
                server.timeout = 0
                selector.register(server.socket, selectors.EVENT_READ, server)
            while not self._stop.is_set():
                for key, _ in selector.select(timeout=0.1):
                    server = key.data
                    assert isinstance(server, GatewayHTTPServer)
                    server.handle_request()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def close(self) -> None:
        """Stop serving, release hung requests and the ports."""
        for server in self.servers:
            server.stopping.set()
        self.stop()
        for server in self.servers:
            server.server_close()


@contextlib.contextmanager
def _certificate_files() -> Iterator[tuple[Path, Path]]:
    package = resources.files("envoylog.simulator")
    with (
        resources.as_file(package / CERT_FILE) as cert,
        resources.as_file(package / KEY_FILE) as key,
    ):
        yield cert, key


def simulator_tls_context() -> ssl.SSLContext:
    """Build the server TLS context from the simulator's own self-signed certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with _certificate_files() as (cert, key):
        context.load_cert_chain(cert, key)
    return context


def simulator_certificate_pem() -> str:
    """Return the simulator certificate (PEM), e.g. for certificate pinning tests."""
    return resources.files("envoylog.simulator").joinpath(CERT_FILE).read_text(encoding="ascii")


def simulator_certificate_sha256() -> str:
    """Return the SHA-256 of the simulator certificate, as certificate pinning records it."""
    der = ssl.PEM_cert_to_DER_cert(simulator_certificate_pem())
    return hashlib.sha256(der).hexdigest()


class Served:
    """The life of every simulator server object: start, serve, close, and `with`."""

    _group: ServerGroup

    def start(self) -> Self:
        """Serve in a background daemon thread."""
        self._group.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted, then release the ports."""
        try:
            self._group.serve()
        finally:
            self._group.close()

    def close(self) -> None:
        """Stop serving and release the ports."""
        self._group.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
