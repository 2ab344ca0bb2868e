"""`envoylog probe` as a person runs it, against real sockets."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner
from impostor import impostor, needs_openssl, refused_impostor_sentence
from support import SAMPLE_DATA, make_jwt

from envoylog.cli import cli
from envoylog.simulator.replay import ReplayServer


@pytest.fixture(autouse=True)
def private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("ENVOYLOG_TOKEN", raising=False)


def probe(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["probe", *args])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_probe_describes_a_capture(captures_dir: Path) -> None:
    with ReplayServer(captures_dir / "8.2.4345_with_device_data") as server:
        code, out = probe("--host", server.url)
    assert code == 0, out
    assert "Serial        122446001637" in out
    assert "Firmware      8.2.4345" in out
    assert "production         enabled   phases 1 of three, normal" in out
    assert "Inverters     15 active (with per-inverter detail)" in out
    assert "failed  /home" in out  # the capture has no /home


def test_probe_json_over_tls_with_token() -> None:
    folder = SAMPLE_DATA / "metered-three-phase-device-data"
    with ReplayServer(folder, tls=True) as server:
        code, out = probe("--host", f"127.0.0.1:{server.port}", "--token", make_jwt(), "--json")
    assert code == 0, out
    assert '"serial": "122446001638"' in out and '"inverter_detail": true' in out


def test_probe_without_token_says_how_to_get_one() -> None:
    folder = SAMPLE_DATA / "metered-split-phase"
    with ReplayServer(folder, tls=True) as server:
        code, out = probe("--host", server.url)
    assert code == 1
    assert "identified itself but gave no data" in out and "needs a token" in out
    # What it could not look at is unknown, not "none".
    assert "CT meters     unknown (needs a token)" in out
    assert "Batteries     unknown (needs a token)" in out


def test_probe_counts_a_removed_inverter_as_removed() -> None:
    folder = SAMPLE_DATA / "metered-three-phase-device-data"  # 37 listed, 1 of them gone
    with ReplayServer(folder, tls=True) as server:
        code, out = probe("--host", server.url, "--token", make_jwt())
    assert code == 0, out
    assert "Inverters     36 active, 1 removed (with per-inverter detail)" in out


def test_probe_without_per_inverter_detail_does_not_guess_which_are_removed() -> None:
    with ReplayServer(SAMPLE_DATA / "legacy-5.0-nonmetered") as server:
        code, out = probe("--host", server.url)
    assert code == 0, out
    assert "Inverters     24 listed (no per-inverter detail" in out
    assert "CT meters     none" in out  # /info: no CT hardware


def test_probe_dead_port_is_one_sentence() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, out = probe("--host", f"http://127.0.0.1:{port}", "--retries", "0")
    assert code == 1
    assert out.startswith("Error: Cannot connect to gateway") and out.count("\n") == 1


class _NotAnEnvoy(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html><body>Welcome to nginx!</body></html>"
        self.send_response(404 if self.path != "/" else 200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def web_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotAnEnvoy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_probe_of_a_plain_web_server_says_it_is_not_an_envoy(web_server: str) -> None:
    code, out = probe("--host", web_server, "--retries", "0")
    assert code == 1
    assert "did not identify itself as an Enphase gateway" in out and out.count("\n") == 1


@needs_openssl
def test_probe_sends_nothing_to_an_impostor_on_the_pinned_address(tmp_path: Path) -> None:
    with impostor(tmp_path) as server:
        code, out = probe("--host", server.url, "--token", make_jwt())

    assert code == 1
    [line] = out.splitlines()
    assert line.startswith("Error: " + refused_impostor_sentence(server))
    assert server.received and not server.sent_anything()


def test_a_token_with_a_line_break_is_one_sentence_not_a_traceback() -> None:
    token = make_jwt()
    code, out = probe("--host", "https://127.0.0.1:9", "--token", token + "\r\nX-Evil: 1")

    assert code == 1
    assert out == (
        "Error: The token given by the token setting has a line break, a space or another "
        f"character no token has at character {len(token) + 1}: copy the whole token again, "
        "on one line.\n"
    )
