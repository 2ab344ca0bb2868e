"""The one place where `requests` exceptions are caught and turned into a neutral failure.

Callers (the gateway client, the Enlighten login) turn a `TransportFailure` into their
own `EnvoylogError` with a sentence that names the host and what to check.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import requests
from urllib3.exceptions import ReadTimeoutError

FailureKind = Literal["connect", "connect_timeout", "read_timeout", "tls", "protocol"]


class TransportFailure(Exception):
    """A request got no usable HTTP answer; `kind` says why. Never leaves envoylog.client."""

    def __init__(self, kind: FailureKind, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind: FailureKind = kind
        self.detail = detail


def send(session: requests.Session, method: str, url: str, **kwargs: Any) -> requests.Response:
    """Make one request with `session`, reading the whole body; raise TransportFailure."""
    try:
        return session.request(method, url, **kwargs)
    except requests.exceptions.ConnectTimeout as exc:
        raise TransportFailure("connect_timeout", _detail(exc)) from exc
    except requests.exceptions.SSLError as exc:
        raise TransportFailure("tls", _detail(exc)) from exc
    except requests.exceptions.Timeout as exc:
        raise TransportFailure("read_timeout", _detail(exc)) from exc
    except requests.exceptions.ConnectionError as exc:
        # A timeout while reading the body arrives as a ConnectionError wrapping urllib3's.
        if exc.args and isinstance(exc.args[0], ReadTimeoutError):
            raise TransportFailure("read_timeout", _detail(exc)) from exc
        raise TransportFailure("connect", _detail(exc)) from exc
    except requests.exceptions.RequestException as exc:
        raise TransportFailure("protocol", _detail(exc)) from exc


def _detail(exc: BaseException) -> str:
    reason: object = exc.args[0] if exc.args else exc
    # urllib3's MaxRetryError wraps the real cause ("Connection refused") in `.reason`.
    reason = getattr(reason, "reason", None) or reason
    text = str(reason) or type(reason).__name__
    # "HTTPConnection(host=..., port=1): Failed to establish a new connection:
    # [Errno 111] Connection refused" says nothing a person needs beyond its tail.
    errno_text = re.search(r"\[Errno [^\]]*\]\s*([^()]+)", text)
    if errno_text:
        text = errno_text.group(1).strip()
    return text if len(text) <= 200 else text[:197] + "..."
