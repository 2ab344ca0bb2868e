"""The gateway transport (requests, one Session per gateway, bounded sockets) against real
local servers: keep-alive, framing, deadlines, size caps, and pinning before any byte."""

from __future__ import annotations

import contextlib
import itertools
import socket
import socketserver
import threading
import time
from collections.abc import Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from impostor import RecordingTlsServer, serving
from support import peak_memory

from envoylog.client import Credentials, GatewayClient, PinStore
from envoylog.client.bounds import MAX_BODY_BYTES
from envoylog.errors import (
    AuthError,
    BadAnswer,
    CertificateMismatch,
    GatewayTimeout,
    GatewayUnreachable,
)
from envoylog.simulator.serving import simulator_certificate_sha256, simulator_tls_context


class Seen(NamedTuple):
    connection: int
    path: str
    headers: dict[str, str]


class LocalGateway(ThreadingHTTPServer):
    """An HTTP/1.1 keep-alive server that numbers its connections and records each request."""

    daemon_threads = True

    def __init__(self, address_family: socket.AddressFamily = socket.AF_INET) -> None:
        self.address_family = address_family
        host = "::1" if address_family == socket.AF_INET6 else "127.0.0.1"
        super().__init__((host, 0), _Handler)
        self.seen: list[Seen] = []
        self.numbers = itertools.count(1)
        self.release = threading.Event()  # lets a /hang request go at teardown
        self.closed = threading.Semaphore(0)  # one release per connection the server closed
        self.close_after_answer = False  # close the connection without saying so
        self.drop_reused = False  # close a reused connection on its next request, unanswered
        self.drop_all = False

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://[{host}]:{port}" if ":" in str(host) else f"http://{host}:{port}"

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        super().shutdown_request(request)
        self.closed.release()


class _Handler(BaseHTTPRequestHandler):
    server: LocalGateway
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        self.number = next(self.server.numbers)
        self.answered = 0

    def do_GET(self) -> None:
        server = self.server
        server.seen.append(
            Seen(self.number, self.path, {k.lower(): v for k, v in self.headers.items()})
        )
        reused, self.answered = self.answered > 0, self.answered + 1
        if server.drop_all or (server.drop_reused and reused):
            self.close_connection = True
            return
        if self.path == "/hang":
            server.release.wait(10)
            self.close_connection = True
            return
        self.send_response(200)
        if self.path == "/chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in (b'{"a": ', b"1, ", b'"b": 2}'):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
            return
        if self.path == "/until-close":  # no length: the body ends with the connection
            self.end_headers()
            self.wfile.write(b"all of it")
            self.close_connection = True
            return
        if self.path == "/login":
            self.send_header("Set-Cookie", "sessionId=abc123; Path=/; HttpOnly")
        body = b"answer to " + self.path.encode()
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = server.close_after_answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[LocalGateway]:
    server = LocalGateway()
    with serving(server):
        yield server
        server.release.set()


def client(url: str, **options: Any) -> GatewayClient:
    options.setdefault("retries", 0)  # what the transport does, not the retry loop
    options.setdefault("sleep", lambda seconds: None)
    return GatewayClient(url, credentials=options.pop("credentials", Credentials()), **options)


def test_requests_share_one_keep_alive_connection(gateway: LocalGateway) -> None:
    gateway_client = client(gateway.url)

    bodies = [gateway_client.get(path).body for path in ("/a", "/b", "/c")]

    assert bodies == [b"answer to /a", b"answer to /b", b"answer to /c"]
    assert [seen.connection for seen in gateway.seen] == [1, 1, 1]


def test_a_connection_the_server_closed_while_idle_is_replaced(gateway: LocalGateway) -> None:
    gateway.close_after_answer = True
    gateway_client = client(gateway.url)
    assert gateway_client.get("/a").status == 200
    assert gateway.closed.acquire(timeout=5)

    assert gateway_client.get("/b").body == b"answer to /b"
    assert [(seen.connection, seen.path) for seen in gateway.seen] == [(1, "/a"), (2, "/b")]


def test_a_request_lost_on_a_reused_connection_is_asked_again_on_a_fresh_one(
    gateway: LocalGateway,
) -> None:
    gateway.drop_reused = True
    gateway_client = client(gateway.url, retries=1)
    assert gateway_client.get("/a").status == 200

    assert gateway_client.get("/b").body == b"answer to /b"
    assert [(seen.connection, seen.path) for seen in gateway.seen] == [
        (1, "/a"),
        (1, "/b"),
        (2, "/b"),
    ]


def test_a_connection_closed_without_answer_is_gateway_unreachable(gateway: LocalGateway) -> None:
    gateway.drop_all = True

    with pytest.raises(GatewayUnreachable, match=r"closed connection without response"):
        client(gateway.url).get("/a")

    assert len(gateway.seen) == 1


def test_a_hung_answer_ends_at_the_deadline_and_the_connection_is_dropped(
    gateway: LocalGateway,
) -> None:
    gateway_client = client(gateway.url, deadline_s=0.3)
    assert gateway_client.get("/a").status == 200

    with pytest.raises(
        GatewayTimeout, match=rf"Gateway {gateway.url} did not answer /hang within 0\.3 s"
    ):
        gateway_client.get("/hang")

    assert gateway_client.get("/b").status == 200
    assert [seen.connection for seen in gateway.seen] == [1, 1, 2]


def test_connection_refused_is_gateway_unreachable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"  # nobody listens here

    with pytest.raises(GatewayUnreachable) as caught:
        client(url).get("/home")

    assert str(caught.value).startswith(f"Cannot connect to gateway {url} (Connection refused): ")


def test_chunked_body_is_read_whole_and_the_connection_kept(gateway: LocalGateway) -> None:
    gateway_client = client(gateway.url)

    response = gateway_client.get("/chunked")
    gateway_client.get("/a")

    assert response.body == b'{"a": 1, "b": 2}'
    assert "content-length" not in response.headers
    assert [seen.connection for seen in gateway.seen] == [1, 1]


def test_a_body_ended_by_the_server_closing_is_read_and_the_next_get_reconnects(
    gateway: LocalGateway,
) -> None:
    gateway_client = client(gateway.url)

    assert gateway_client.get("/until-close").body == b"all of it"
    assert gateway_client.get("/a").body == b"answer to /a"
    assert [seen.connection for seen in gateway.seen] == [1, 2]


def test_cookie_set_by_the_gateway_is_sent_back(gateway: LocalGateway) -> None:
    gateway_client = client(gateway.url)

    gateway_client.get("/login")
    gateway_client.get("/a")

    assert "cookie" not in gateway.seen[0].headers
    assert gateway.seen[1].headers["cookie"] == "sessionId=abc123"


def test_no_proxy_no_compression_and_our_name_in_every_request(
    gateway: LocalGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://192.0.2.1:3128")  # never used for a gateway

    client(gateway.url).get("/a")

    headers = gateway.seen[0].headers
    assert headers["accept-encoding"] == "identity"
    assert headers["user-agent"].startswith("envoylog/")


def test_host_header_and_url_of_an_ipv6_gateway() -> None:
    try:
        server = LocalGateway(socket.AF_INET6)
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    with serving(server):
        response = client(server.url).get("/a")

    assert response.url == f"{server.url}/a"
    assert server.seen[0].headers["host"] == server.url.removeprefix("http://")


# -- answers written byte by byte ------------------------------------------------------

HANG_UP = b""  # in a script: close the connection here, without a word
Piece = bytes | float  # bytes to send, or seconds to pause


class ScriptedGateway(socketserver.ThreadingTCPServer):
    """Answers each GET of a path with the next answer scripted for it (the last one
    repeats): bytes sent one piece per send, pauses between them. Records (connection
    number, path) of every request."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ScriptedHandler)
        self.script: dict[str, list[Iterable[Piece]]] = {}
        self.seen: list[tuple[int, str]] = []
        self.numbers = itertools.count(1)
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def answer(self, path: str) -> Iterable[Piece]:
        answers = self.script[path]
        return answers.pop(0) if len(answers) > 1 else answers[0]


class _ScriptedHandler(socketserver.StreamRequestHandler):
    server: ScriptedGateway

    def handle(self) -> None:
        number = next(self.server.numbers)
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with contextlib.suppress(OSError):  # the client hung up on a bad answer
            while request_line := self.rfile.readline():
                while self.rfile.readline() not in (b"\r\n", b""):
                    pass  # the request's headers
                path = request_line.split()[1].decode()
                self.server.seen.append((number, path))
                for piece in self.server.answer(path):
                    if isinstance(piece, float):
                        if self.server.release.wait(piece):
                            return
                    elif piece == HANG_UP:
                        return
                    else:
                        self.request.sendall(piece)


@pytest.fixture
def scripted() -> Iterator[ScriptedGateway]:
    server = ScriptedGateway()
    with serving(server):
        yield server
        server.release.set()


def trickle(data: bytes, every_s: float) -> Iterator[Piece]:
    """`data` one byte at a time, a pause before each."""
    for byte in data:
        yield every_s
        yield bytes([byte])


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@pytest.mark.parametrize(
    ("pieces", "body", "connections"),
    [
        (
            [b"HTTP/1.1 200 OK\r\nContent-Le", b"ngth: 10\r\n\r\n01", b"234", b"56789"],
            b"0123456789",
            [1, 1],
        ),
        (
            [
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhel",
                b"lo\r\n1\r\n!\r\n0\r\nX-Checksum: 1\r\n\r\n",
            ],
            b"hello!",
            [1, 1],
        ),
        # The server leaves the socket open: only the header says the connection is done.
        ([b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"], b"ok", [1, 2]),
    ],
    ids=["small pieces", "chunk extension and trailer", "connection close"],
)
def test_an_answer_is_read_whole_and_its_connection_kept_unless_it_says_close(
    scripted: ScriptedGateway, pieces: list[bytes], body: bytes, connections: list[int]
) -> None:
    scripted.script["/a"] = [pieces]
    gateway_client = client(scripted.url)

    bodies = [gateway_client.get("/a").body for _ in range(2)]

    assert bodies == [body, body]
    assert scripted.seen == [(number, "/a") for number in connections]


def test_no_content_has_no_body_and_the_connection_carries_the_next_get(
    scripted: ScriptedGateway,
) -> None:
    scripted.script["/none"] = [[b"HTTP/1.1 204 No Content\r\n\r\n"]]
    scripted.script["/a"] = [[OK]]
    gateway_client = client(scripted.url)

    first = gateway_client.get("/none")
    second = gateway_client.get("/a")

    assert (first.status, first.body) == (204, b"")
    assert (second.status, second.body) == (200, b"ok")
    assert scripted.seen == [(1, "/none"), (1, "/a")]


@pytest.mark.parametrize(
    ("answer", "detail"),
    [
        (b"<html>not http</html>\r\n\r\n", "not an HTTP status line"),
        (b"HTTP/1.1 OK\r\n\r\n", "not an HTTP status line"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 200_000 + b"\r\n\r\n", "header line"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size b'zz'"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345", "5 bytes read, 5 more expected"),
    ],
    ids=["not http", "status line", "header block", "chunk size", "cut short"],
)
def test_a_broken_answer_costs_that_request_only_and_the_next_starts_afresh(
    scripted: ScriptedGateway, answer: bytes, detail: str
) -> None:
    scripted.script["/broken"] = [[answer, HANG_UP]]
    scripted.script["/a"] = [[OK]]
    gateway_client = client(scripted.url)

    with pytest.raises(BadAnswer, match=r"sent a broken answer to /broken") as caught:
        gateway_client.get("/broken")
    after = gateway_client.get("/a")

    assert detail in str(caught.value)
    assert "\n" not in str(caught.value)
    assert (after.status, after.body) == (200, b"ok")
    assert scripted.seen == [(1, "/broken"), (2, "/a")]


def test_a_status_line_that_trickles_ends_at_the_deadline(scripted: ScriptedGateway) -> None:
    endless = itertools.chain(
        trickle(b"HTTP/1.1 200 OK\r\n", 0.05), trickle(b"X: y\r\n" * 10**4, 0.05)
    )
    scripted.script["/slow"] = [endless]
    started = time.monotonic()

    with pytest.raises(GatewayTimeout, match=r"did not answer /slow within 1 s"):
        client(scripted.url, deadline_s=1.0).get("/slow")

    assert time.monotonic() - started < 3  # not a read timeout per byte: the whole answer


def test_a_body_at_one_byte_a_second_ends_at_the_deadline(scripted: ScriptedGateway) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
    scripted.script["/slow"] = [itertools.chain([head], trickle(b"x" * 100, 1.0))]
    started = time.monotonic()

    with pytest.raises(GatewayTimeout, match=r"did not answer /slow within 2\.5 s"):
        client(scripted.url, deadline_s=2.5).get("/slow")

    assert time.monotonic() - started < 4.5


def test_a_content_length_that_lies_ends_at_the_deadline(scripted: ScriptedGateway) -> None:
    scripted.script["/lie"] = [[b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nshort", 60.0]]
    started = time.monotonic()

    with pytest.raises(GatewayTimeout, match=r"did not answer /lie within 1 s"):
        client(scripted.url, deadline_s=1.0).get("/lie")

    assert time.monotonic() - started < 3


def test_a_declared_length_past_the_cap_is_refused_without_reading(
    scripted: ScriptedGateway,
) -> None:
    size = 60_000_000
    scripted.script["/big"] = [[b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n[{}" % size, 60.0]]

    with pytest.raises(BadAnswer) as caught:
        client(scripted.url).get("/big")

    assert str(caught.value).startswith(
        f"Gateway {scripted.url} answered /big with more than 4 MiB (Content-Length 60,000,000)"
    )


def endless_chunks() -> Iterator[Piece]:
    yield b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"[" + b"{}," * 20_000
    for _ in range(2_000):  # 120 MB, if anyone read it all
        yield b"%x\r\n%s\r\n" % (len(chunk), chunk)


def test_an_endless_body_is_refused_at_the_cap_with_bounded_memory(
    scripted: ScriptedGateway,
) -> None:
    scripted.script["/big"] = [endless_chunks()]

    with peak_memory() as peak, pytest.raises(BadAnswer, match=r"/big with more than 4 MiB"):
        client(scripted.url).get("/big")

    assert peak.bytes < 3 * MAX_BODY_BYTES


def test_a_huge_digest_challenge_body_is_refused_with_bounded_memory(
    scripted: ScriptedGateway,
) -> None:
    challenge = b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm="x", nonce="1"\r\n'
    small = challenge + b"Content-Length: 0\r\n\r\n"
    huge = [challenge + b"Transfer-Encoding: chunked\r\n\r\n", *list(endless_chunks())[1:]]
    # The first challenge turns Digest on; requests' own digest hook reads the second one.
    scripted.script["/ivp/meters"] = [[small], huge]
    gateway_client = client(scripted.url, credentials=Credentials(digest_password="123456"))

    with peak_memory() as peak, pytest.raises(BadAnswer, match=r"/ivp/meters with more than 4"):
        gateway_client.get("/ivp/meters")

    assert peak.bytes < 3 * MAX_BODY_BYTES


def test_a_refused_digest_login_is_an_auth_error_not_a_broken_answer(
    scripted: ScriptedGateway,
) -> None:
    challenge = b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm="x", nonce="1"\r\n'
    scripted.script["/ivp/meters"] = [[challenge + b"Content-Length: 0\r\n\r\n"]]
    credentials = Credentials(digest_password="123456")

    with pytest.raises(AuthError, match="refused the digest login"):
        client(scripted.url, credentials=credentials).get("/ivp/meters")


# -- pinning: nothing sent to another certificate ---------------------------------------


def test_a_pin_mismatch_sends_no_request_byte(tmp_path: Path, jwt) -> None:
    server = RecordingTlsServer(simulator_tls_context())
    pins = PinStore(tmp_path / "pins.json")
    pins.set(server.url, "00" * 32)
    gateway_client = client(server.url, credentials=Credentials(token=jwt.make()), pin_store=pins)

    with serving(server), pytest.raises(CertificateMismatch) as caught:
        gateway_client.get("/home")

    assert server.received  # handshakes happened (the request's, then the check's)
    assert set(server.received) == {b""}
    assert f"(sha256 {simulator_certificate_sha256()})" in str(caught.value)
