"""Serve a capture folder over HTTP(S) on a loopback port, as the gateway would.

A folder holds one file per endpoint (see ``../shared/envoy-captures/README.md``):
the request path without the leading ``/`` and with ``/ ? = &`` replaced by ``_``.
``<file>_log.json`` (optional) gives ``{"code": ..., "headers": {...}}``. The
project's own ``sample_data/`` adds one key the real captures never have:
``"auth": "bearer"`` (answer 401 unless a bearer token is sent, as firmware >= 7
does) or ``"auth": "digest"`` (HTTP Digest as user ``envoy`` with the last six
digits of the serial, as firmware < 7 does for some endpoints); ``code`` is then
the status of an authorised request.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import ssl
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from envoylog.errors import ConfigError

log = logging.getLogger(__name__)

# Simulator-only self-signed pair, public on purpose (see __init__): never a secret.
CERT_FILE = "simulator-cert.pem"
KEY_FILE = "simulator-key.pem"
MAX_RECORDED_REQUESTS = 1000
DIGEST_REALM = "enphaseenergy.com"
DIGEST_USER = "envoy"

# The captured headers describe the gateway's own framing; ours differs.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "content-length",
        "content-encoding",
        "te",
        "trailer",
        "upgrade",
    }
)
NOT_FOUND_BODY = b'{"error": "404 - Not Found"}'
VALID_TOKEN_BODY = b"<!DOCTYPE html><h2>Valid token.</h2>"
BEARER_401_BODY = (
    b"<html>\n<head><title>401 Authorization Required</title></head>\n<body>\n"
    b"<center><h1>401 Authorization Required</h1></center>\n</body>\n</html>\n"
)
DIGEST_401_BODY = b"Error: 401"


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the replay server received (for tests)."""

    method: str
    path: str  # path and query, as sent
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def file_name_for(target: str) -> str:
    """Map a request target (path and query) to a capture file name."""
    return re.sub(r"[/?=&]", "_", target.lstrip("/"))


def guess_content_type(name: str, body: bytes) -> str:
    """Pick the content type the gateway would most likely have sent for this body."""
    if name == "info" or body.lstrip().startswith(b"<?xml"):
        return "text/xml"
    try:
        json.loads(body)
    except ValueError:
        return "text/html"
    return "application/json"


def _serial_of(folder: Path) -> str:
    match = re.search(rb"<sn>\s*([^<\s]+)\s*</sn>", (folder / "info").read_bytes())
    return match.group(1).decode("ascii", "replace") if match else ""


def _digest_ok(header: str, method: str, password: str) -> bool:
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


class CaptureFolder:
    """Turn requests into replies from the files of one capture folder."""

    def __init__(self, folder: Path) -> None:
        if not folder.is_dir():
            raise ConfigError(f"Replay folder {folder} does not exist or is not a folder.")
        if not (folder / "info").is_file():
            raise ConfigError(
                f"Replay folder {folder} has no 'info' file, so it is not a gateway capture."
            )
        self.folder = folder
        self.digest_password = _serial_of(folder)[-6:]

    def reply(self, method: str, target: str, authorization: str = "") -> Reply:
        """Answer one request the way the captured gateway did."""
        path, _, query = target.partition("?")
        if path == "/auth/check_jwt":
            if authorization.startswith("Bearer "):
                return Reply(200, (("Content-Type", "text/html"),), VALID_TOKEN_BODY)
            return Reply(401, (("Content-Type", "text/html"),), BEARER_401_BODY)
        found = self._find(file_name_for(target)) or (query and self._find(file_name_for(path)))
        if not found:
            return Reply(404, (("Content-Type", "application/json"),), NOT_FOUND_BODY)
        name, body = found
        meta = self._meta(name)
        auth = meta.get("auth")
        if auth == "bearer" and not authorization.startswith("Bearer "):
            return Reply(401, (("Content-Type", "text/html"),), BEARER_401_BODY)
        if auth == "digest" and not _digest_ok(authorization, method, self.digest_password):
            challenge = f'Digest qop="auth", realm="{DIGEST_REALM}", nonce="{int(time.time())}"'
            return Reply(
                401,
                (("Content-Type", "text/plain"), ("WWW-Authenticate", challenge)),
                DIGEST_401_BODY,
            )
        if "code" in meta:
            kept = tuple(
                (str(key), str(value))
                for key, value in dict(meta.get("headers") or {}).items()
                if str(key).lower() not in _HOP_BY_HOP
            )
            return Reply(int(meta["code"]), kept, body)
        return Reply(200, (("Content-Type", guess_content_type(name, body)),), body)

    def _find(self, name: str) -> tuple[str, bytes] | None:
        if not name or name.startswith(".") or name.endswith("_log.json"):
            return None
        candidate = self.folder / name
        if not candidate.is_file():
            return None
        return name, candidate.read_bytes()

    def _meta(self, name: str) -> dict[str, Any]:
        log_file = self.folder / f"{name}_log.json"
        if not log_file.is_file():
            return {}
        try:
            meta = json.loads(log_file.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ConfigError(f"{log_file} is not valid JSON: {exc}") from exc
        return meta if isinstance(meta, dict) else {}


class _Handler(BaseHTTPRequestHandler):
    server: _ReplayHTTPServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _answer(self, *, send_body: bool) -> None:
        target = urlsplit(self.path)
        path_query = target.path + (f"?{target.query}" if target.query else "")
        self.server.record(RecordedRequest(self.command, self.path, dict(self.headers.items())))
        reply = self.server.capture.reply(
            self.command, path_query, self.headers.get("Authorization", "")
        )
        self.log_request(reply.status)
        # send_response_only: the captured headers already carry the gateway's Server and Date.
        self.send_response_only(reply.status)
        for key, value in reply.headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if send_body:
            self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        level = logging.INFO if self.server.verbose else logging.DEBUG
        log.log(level, "replay %s", format % args)


class _ReplayHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], capture: CaptureFolder, *, verbose: bool) -> None:
        self.capture = capture
        self.verbose = verbose
        self.recorded: deque[RecordedRequest] = deque(maxlen=MAX_RECORDED_REQUESTS)
        self._lock = threading.Lock()
        super().__init__(address, _Handler)

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.recorded.append(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up mid-reply (or failing the TLS handshake) is normal in tests.
        log.debug("replay: error while serving %s", client_address, exc_info=True)


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


class ReplayServer:
    """A gateway replaying one capture folder; a context manager serving in a thread."""

    def __init__(
        self,
        folder: str | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = False,
        verbose: bool = False,
    ) -> None:
        self.folder = Path(folder)
        self.tls = tls
        capture = CaptureFolder(self.folder)
        try:
            self._httpd = _ReplayHTTPServer((host, port), capture, verbose=verbose)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise ConfigError(
                f"Cannot listen on {host}:{port}: {reason}. Choose another --port (0 = any free)."
            ) from exc
        if tls:
            # Handshake in the handler thread, not in accept(), so one stalled client
            # cannot block the whole server.
            self._httpd.socket = simulator_tls_context().wrap_socket(
                self._httpd.socket, server_side=True, do_handshake_on_connect=False
            )
        self.host = host
        self.port: int = self._httpd.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """The requests received so far (the last MAX_RECORDED_REQUESTS)."""
        with self._httpd._lock:
            return list(self._httpd.recorded)

    def start(self) -> ReplayServer:
        """Serve in a background daemon thread."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"replay-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted, then close the socket."""
        try:
            self._httpd.serve_forever(poll_interval=0.2)
        finally:
            self._httpd.server_close()

    def close(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
