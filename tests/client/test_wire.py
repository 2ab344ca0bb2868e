"""The HTTP/1.1 answer reader over real connected sockets, fed the bytes a device might send."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from envoylog.client import wire

Pair = tuple[socket.socket, socket.socket]


@pytest.fixture
def pair() -> Iterator[Pair]:
    ours, theirs = socket.socketpair()
    ours.settimeout(5)
    with ours, theirs:
        yield ours, theirs


def answer(pair: Pair, data: bytes, *, then_close: bool = False) -> wire.Answer:
    ours, theirs = pair
    theirs.sendall(data)
    if then_close:
        theirs.shutdown(socket.SHUT_WR)
    return wire.Reader(ours).answer()


class Pieces:
    """A connection that hands out one piece of the answer per read, however much is asked."""

    def __init__(self, *pieces: bytes) -> None:
        self.pieces = list(pieces)

    def recv(self, size: int) -> bytes:
        return self.pieces.pop(0)[:size] if self.pieces else b""

    def recv_into(self, view: memoryview) -> int:
        piece = self.recv(len(view))
        view[: len(piece)] = piece
        return len(piece)


def test_a_body_arriving_in_small_pieces_is_read_to_its_length() -> None:
    pieces = Pieces(b"HTTP/1.1 200 OK\r\nContent-Le", b"ngth: 10\r\n\r\n01", b"234", b"56789")
    reader = wire.Reader(pieces)  # type: ignore[arg-type]

    got = reader.answer()

    assert (got.status, got.body, got.close) == (200, b"0123456789", False)


def test_chunked_with_an_extension_and_a_trailer(pair: Pair) -> None:
    got = answer(
        pair,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n1\r\n!\r\n0\r\nX-Trailer: yes\r\n\r\n",
    )

    assert (got.body, got.close) == (b"hello!", False)


def test_a_body_without_length_ends_with_the_connection(pair: Pair) -> None:
    got = answer(pair, b"HTTP/1.1 200 OK\r\n\r\nuntil the end", then_close=True)

    assert (got.body, got.close) == (b"until the end", True)


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n",
    ],
)
def test_a_connection_the_server_will_close_is_not_reused(pair: Pair, head: bytes) -> None:
    assert answer(pair, head + b"ok").close


def test_http_1_0_keep_alive_is_reused(pair: Pair) -> None:
    got = answer(pair, b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok")

    assert not got.close


def test_no_content_has_no_body_and_the_next_answer_follows(pair: Pair) -> None:
    ours, theirs = pair
    theirs.sendall(
        b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext"
    )
    reader = wire.Reader(ours)

    first = reader.answer()
    second = reader.answer()

    assert (first.status, first.body) == (204, b"")
    assert (second.status, second.body, second.close) == (200, b"next", False)


def test_ten_interim_answers_are_skipped(pair: Pair) -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\n" * 10

    assert answer(pair, interim + b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").status == 200


def test_an_interim_continue_is_skipped(pair: Pair) -> None:
    got = answer(
        pair, b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"
    )

    assert (got.status, got.body) == (200, b"x")


def test_repeated_headers_are_joined_and_cookies_kept_apart(pair: Pair) -> None:
    got = answer(
        pair,
        b"HTTP/1.1 200 OK\r\nVary: Accept\r\nvary: Cookie\r\nSet-Cookie: a=1; Path=/\r\n"
        b"Set-Cookie: b=2\r\nX-Folded: one\r\n two\r\nContent-Length: 0\r\n\r\n",
    )

    assert got.headers["vary"] == "Accept, Cookie"
    assert got.set_cookies == ["a=1; Path=/", "b=2"]
    assert got.headers["x-folded"] == "one two"


def test_bare_line_feeds_are_understood(pair: Pair) -> None:
    got = answer(pair, b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok")

    assert (got.status, got.body) == (200, b"ok")


def test_bytes_beyond_the_answer_make_the_connection_unusable(pair: Pair) -> None:
    assert answer(pair, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA").close


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"<html>Page Not Found</html>\r\n\r\n", "not an HTTP status line"),
        (b"HTTP/1.1 OK\r\n\r\n", "not an HTTP status line"),
        (b"HTTP/1.1 2000 OK\r\n\r\n", "not an HTTP status line"),
        (b"HTTP/1.1 20\r\n\r\n", "not an HTTP status line"),
        (b"HTTP/1.x 200 OK\r\n\r\n", "not an HTTP status line"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70_000 + b"\r\n\r\n", "headers over 64 KiB"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70_000, "headers over 64 KiB"),
        (b"HTTP/1.1 200 OK\r\n" + b"X: 1\r\n" * 101 + b"\r\n", "more than 100 headers"),
        (b"HTTP/1.1 100 Continue\r\n\r\n" * 11, "more than 10 interim answers"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "unusable Content-Length '-1'"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n", "unusable Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nok", "unusable Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n", "a body over 64 MiB"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", "bad chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\n", "bad chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nlong\r\n", "longer than"),
    ],
)
def test_a_malformed_answer_says_what_is_wrong(pair: Pair, data: bytes, problem: str) -> None:
    with pytest.raises(wire.Malformed, match=problem):
        answer(pair, data, then_close=True)


def test_a_body_cut_short_is_an_error_not_a_short_body(pair: Pair) -> None:
    with pytest.raises(wire.Malformed, match="closed after 5 of 10 body bytes"):
        answer(pair, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345", then_close=True)


def test_a_chunked_body_cut_short_is_an_error(pair: Pair) -> None:
    with pytest.raises(wire.Malformed, match="closed in the middle of a chunked body"):
        answer(
            pair,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
            then_close=True,
        )


def test_closed_before_any_byte_is_a_stale_connection(pair: Pair) -> None:
    with pytest.raises(wire.ClosedEarly, match="closed connection without response"):
        answer(pair, b"", then_close=True)


def test_closed_inside_the_headers_is_malformed(pair: Pair) -> None:
    with pytest.raises(wire.Malformed, match="middle of the headers"):
        answer(pair, b"HTTP/1.1 200 OK\r\nContent-", then_close=True)


def test_the_request_names_the_host_and_port_only_when_not_the_default() -> None:
    assert wire.request("/info", wire.request_head("envoy.local", None), {}) == (
        b"GET /info HTTP/1.1\r\nHost: envoy.local\r\nAccept-Encoding: identity\r\n\r\n"
    )
    head = wire.request_head("fe80::1", 8443)
    assert wire.request("/a", head, {"Authorization": "Bearer x"}) == (
        b"GET /a HTTP/1.1\r\nHost: [fe80::1]:8443\r\nAccept-Encoding: identity\r\n"
        b"Authorization: Bearer x\r\n\r\n"
    )


@pytest.mark.parametrize(
    ("path", "headers"),
    [("/a\r\nX-Evil: 1", {}), ("/a", {"Authorization": "Bearer x\r\nX-Evil: 1"})],
)
def test_a_line_break_cannot_smuggle_a_header(path: str, headers: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="line break"):
        wire.request(path, wire.request_head("envoy.local", None), headers)
