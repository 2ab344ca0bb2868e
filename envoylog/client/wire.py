"""HTTP/1.1 on the wire, for the one thing a gateway is sent: a GET, and its whole answer.

The request is written in one piece; the answer is read from the socket into one buffer:
status line, headers, then a body framed by Content-Length, chunks, or the end of the
connection (RFC 9112, section 6). What a lying or broken device sends instead is a
`Malformed` answer with a one-line reason, never an unbounded read.
"""

from __future__ import annotations

import socket
import string
from collections.abc import Mapping
from dataclasses import dataclass

MAX_HEAD = 65_536  # status line and headers together
MAX_HEADERS = 100  # as http.client allows
MAX_INTERIM = 10  # 1xx answers before the real one
MAX_BODY = 64 * 1024 * 1024  # the largest gateway page is well under 1 MB
_RECV = 65_536
_HEX = frozenset(string.hexdigits.encode())


class Malformed(Exception):
    """The bytes that came back are not a usable HTTP answer."""


class ClosedEarly(ConnectionError):
    """The connection closed before the first byte of an answer (a stale keep-alive)."""

    def __init__(self) -> None:
        super().__init__("Remote end closed connection without response")


@dataclass(slots=True)
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    set_cookies: list[str]  # every Set-Cookie line, apart (they cannot be joined)
    body: bytes
    close: bool  # the connection cannot carry another request


def request_head(host: str, port: int | None) -> str:
    """The part of every request after the path, through the Host header's line."""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    elif not host.isascii():
        host = host.encode("idna").decode("ascii")
    authority = host if port is None else f"{host}:{port}"
    return f" HTTP/1.1\r\nHost: {authority}\r\nAccept-Encoding: identity\r\n"


def request(path: str, head: str, headers: Mapping[str, str]) -> bytes:
    """A GET of `path` with `headers`, ready to send."""
    parts = [f"GET {path}{head}"]
    parts += [f"{name}: {value}\r\n" for name, value in headers.items()]
    parts.append("\r\n")
    text = "".join(parts)
    # A line break inside the path or a header would smuggle in a header of its own.
    lines = 4 + len(headers)  # request line, Host, Accept-Encoding, headers, blank line
    if text.count("\n") != lines or text.count("\r") != lines:
        raise ValueError(f"line break in the request for {path!r} or in one of its headers")
    return text.encode("latin-1")


class Reader:
    """Reads answers from one connection; bytes read past an answer stay in the buffer."""

    __slots__ = ("buf", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()

    def answer(self) -> Answer:
        """Read one whole answer, skipping interim (1xx) ones."""
        version, status, lines = self._head(first=True)
        interim = 0
        while 100 <= status < 200:
            interim += 1
            if interim > MAX_INTERIM:
                raise Malformed(f"more than {MAX_INTERIM} interim answers")
            version, status, lines = self._head(first=False)
        headers, set_cookies = _headers(lines)
        tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
        close = "close" in tokens or (version == "HTTP/1.0" and "keep-alive" not in tokens)
        if status in (204, 304):
            body = b""
        elif "transfer-encoding" in headers:
            codings = headers["transfer-encoding"].split(",")
            if codings[-1].strip().lower() == "chunked":
                body = self._chunked()
            else:
                body, close = self._until_close(), True
        elif "content-length" in headers:
            body = self._exact(_length(headers["content-length"]))
        else:
            body, close = self._until_close(), True
        # Bytes beyond the answer: the two sides disagree on framing; do not reuse.
        return Answer(status, headers, set_cookies, body, close or bool(self.buf))

    def _more(self) -> bool:
        data = self.sock.recv(_RECV)
        self.buf += data
        return bool(data)

    def _head(self, *, first: bool) -> tuple[str, int, list[str]]:
        buf = self.buf
        while True:
            ends = [i for i in (buf.find(b"\r\n\r\n"), buf.find(b"\n\n")) if i >= 0]
            if ends:
                end = min(ends)
                break
            if len(buf) > MAX_HEAD:
                break
            if not self._more():
                if first and not buf:
                    raise ClosedEarly
                raise Malformed("the connection closed in the middle of the headers")
        # The end may come in the read that went past the bound.
        if not ends or end > MAX_HEAD:
            raise Malformed(f"headers over {MAX_HEAD // 1024} KiB")
        head = buf[:end].decode("latin-1")
        del buf[: end + (4 if buf[end : end + 4] == b"\r\n\r\n" else 2)]
        status_line, *lines = head.split("\n")
        status_line = status_line.rstrip("\r")
        version, _, rest = status_line.partition(" ")
        code, reason_space = rest[:3], rest[3:4]
        if (
            version not in ("HTTP/1.0", "HTTP/1.1")
            or not (len(code) == 3 and code.isdigit() and code.isascii())
            or reason_space not in ("", " ")
        ):
            raise Malformed(f"not an HTTP status line: {status_line[:40]!r}")
        if len(lines) > MAX_HEADERS:
            raise Malformed(f"more than {MAX_HEADERS} headers")
        return version, int(code), lines

    def _exact(self, size: int) -> bytes:
        buf = self.buf
        if len(buf) >= size:
            body = bytes(buf[:size])
            del buf[:size]
            return body
        out = bytearray(size)
        view = memoryview(out)
        have = len(buf)
        view[:have] = buf
        buf.clear()
        while have < size:
            got = self.sock.recv_into(view[have:])
            if not got:
                raise Malformed(f"the connection closed after {have} of {size} body bytes")
            have += got
        view.release()
        return bytes(out)

    def _line(self) -> bytes:
        buf = self.buf
        while (end := buf.find(b"\n")) < 0:
            if len(buf) > MAX_HEAD:
                raise Malformed(f"a chunk line over {MAX_HEAD // 1024} KiB")
            if not self._more():
                raise Malformed("the connection closed in the middle of a chunked body")
        line = bytes(buf[: end + 1])
        del buf[: end + 1]
        return line

    def _chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            size_text = self._line().split(b";", 1)[0].strip()
            if not size_text or not _HEX.issuperset(size_text):
                raise Malformed(f"bad chunk size {size_text[:20]!r}")
            size = int(size_text, 16)
            if size == 0:
                break
            total += size
            if total > MAX_BODY:
                raise Malformed(f"a body over {MAX_BODY // 1024 // 1024} MiB")
            parts.append(self._exact(size))
            if self._line().strip():
                raise Malformed("a chunk longer than its size")
        for _ in range(MAX_HEADERS + 1):  # trailers, up to an empty line
            if not self._line().strip():
                return b"".join(parts)
        raise Malformed(f"more than {MAX_HEADERS} trailers")

    def _until_close(self) -> bytes:
        parts = [bytes(self.buf)]
        self.buf.clear()
        total = len(parts[0])
        while data := self.sock.recv(_RECV):
            total += len(data)
            if total > MAX_BODY:
                raise Malformed(f"a body over {MAX_BODY // 1024 // 1024} MiB")
            parts.append(data)
        return b"".join(parts)


def _headers(lines: list[str]) -> tuple[dict[str, str], list[str]]:
    headers: dict[str, str] = {}
    set_cookies: list[str] = []
    key = ""
    for line in lines:
        if line[:1] in (" ", "\t") and key:  # an obsolete folded continuation
            headers[key] = f"{headers[key]} {line.strip()}"
            continue
        name, colon, value = line.partition(":")
        if not colon:
            continue  # not a header; http.client let such lines pass too
        key, value = name.strip().lower(), value.strip()
        if key == "set-cookie":
            set_cookies.append(value)
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers, set_cookies


def _length(value: str) -> int:
    found = {v.strip() for v in value.split(",")}
    text = found.pop()
    if found or not (text.isdigit() and text.isascii()):
        raise Malformed(f"unusable Content-Length {value[:40]!r}")
    size = int(text)
    if size > MAX_BODY:
        raise Malformed(f"a body over {MAX_BODY // 1024 // 1024} MiB")
    return size
