"""Serve a capture folder over HTTP(S) on a loopback port, as the gateway would.

A folder holds one file per endpoint (see ``../shared/envoy-captures/README.md``):
the request path without the leading ``/`` and with ``/ ? = &`` replaced by ``_``.
``<file>_log.json`` (optional) gives ``{"code": ..., "headers": {...}}``. The
project's own ``sample_data/`` adds one key the real captures never have:
``"auth": "bearer"`` (answer 401 unless a bearer token is sent, as firmware >= 7
does; ``GET /__sim/token`` gives one) or ``"auth": "digest"`` (HTTP Digest as
user ``envoy`` with the last six digits of the serial, as firmware < 7 does for
some endpoints); ``code`` is then the status of an authorised request.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from envoylog.errors import ConfigError, ParseError
from envoylog.parse.context import ParseContext
from envoylog.parse.info import parse_info
from envoylog.records import GatewayInfo
from envoylog.simulator.serving import (
    DIGEST_REALM,
    MAX_RECORDED_REQUESTS,
    GatewayHTTPServer,
    RecordedRequest,
    Reply,
    Served,
    ServerGroup,
    digest_ok,
    simulator_certificate_pem,
    simulator_tls_context,
)

__all__ = [
    "MAX_RECORDED_REQUESTS",
    "CaptureFolder",
    "RecordedRequest",
    "ReplayServer",
    "Reply",
    "file_name_for",
    "guess_content_type",
    "simulator_certificate_pem",
    "simulator_tls_context",
]

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
TOKEN_LIFE_S = 365 * 86400


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
    """The captured gateway's serial, "" when its /info cannot be read."""
    try:
        (info,) = parse_info((folder / "info").read_bytes(), ParseContext(datetime.now(UTC)))
    except ParseError:
        return ""
    return info.serial if isinstance(info, GatewayInfo) else ""


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
        if path == "/__sim/token":  # any bearer token passes: one for `--token`, as --site gives
            from envoylog.simulator.gateway import make_token  # gateway imports this module

            token = make_token(_serial_of(self.folder), expires_at=time.time() + TOKEN_LIFE_S)
            return Reply(200, (("Content-Type", "text/plain"),), token.encode())
        if path == "/auth/check_jwt":
            if authorization.startswith("Bearer "):
                return Reply(200, (("Content-Type", "text/html"),), VALID_TOKEN_BODY)
            return Reply(401, (("Content-Type", "text/html"),), BEARER_401_BODY)
        found = (
            self._find(file_name_for(target))
            or (query and self._find(file_name_for(path)))
            # Captures name /inventory.json's body `inventory` [8.2.4382_ACB_2]: the same
            # body as `inventory.json_deleted_1` where both are kept [8.3.5169_ACB_inventory].
            or (path.endswith(".json") and self._find(file_name_for(path).removesuffix(".json")))
        )
        if not found:
            return Reply(404, (("Content-Type", "application/json"),), NOT_FOUND_BODY)
        name, body = found
        meta = self._meta(name)
        auth = meta.get("auth")
        if auth == "bearer" and not authorization.startswith("Bearer "):
            return Reply(401, (("Content-Type", "text/html"),), BEARER_401_BODY)
        if auth == "digest" and not digest_ok(authorization, method, self.digest_password):
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


class ReplayServer(Served):
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
        self._httpd = GatewayHTTPServer(
            (host, port),
            capture,
            verbose=verbose,
            tls=simulator_tls_context() if tls else None,
            name="replay",
        )
        self._group = ServerGroup([self._httpd])
        self.host = host
        self.port: int = self._httpd.port

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """The requests received so far (the last MAX_RECORDED_REQUESTS)."""
        return self._httpd.requests()
