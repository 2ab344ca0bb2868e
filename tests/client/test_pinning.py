"""Certificate pinning against a real local TLS server with self-signed certificates."""

from __future__ import annotations

import json
import ssl
import stat
import threading
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from impostor import make_certificate, needs_openssl

from envoylog.client import Credentials, GatewayClient, PinStore, pinning
from envoylog.client.bounds import gateway_tls_context
from envoylog.errors import CertificateMismatch

pytestmark = needs_openssl


class FakeGateway(ThreadingHTTPServer):
    """An HTTPS server that records the headers of every request it receives."""

    def __init__(self, cert: Path, key: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[dict[str, str]] = []
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.socket = self.context.wrap_socket(self.socket, server_side=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server_address[1]}"

    def swap_certificate(self, cert: Path, key: Path) -> None:
        """Present another certificate from the next handshake on, as a replaced gateway would."""
        self.context.load_cert_chain(cert, key)

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # refused handshakes are what these tests provoke


class _Handler(BaseHTTPRequestHandler):
    server: FakeGateway

    def do_GET(self) -> None:
        self.server.seen.append({k.lower(): v for k, v in self.headers.items()})
        body = b"<envoy_info><sn>122233445566</sn></envoy_info>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def certificates(tmp_path: Path) -> dict[str, tuple[Path, Path, str]]:
    return {name: make_certificate(tmp_path, name) for name in ("first", "second")}


@pytest.fixture
def gateway(certificates: dict[str, tuple[Path, Path, str]]) -> Iterator[FakeGateway]:
    cert, key, _ = certificates["first"]
    server = FakeGateway(cert, key)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def client(gateway: FakeGateway, pins: PinStore, jwt, *, retrust: bool = False) -> GatewayClient:
    credentials = Credentials(token=jwt.make())
    return GatewayClient(
        gateway.url, credentials=credentials, pin_store=pins, retrust=retrust, retries=0
    )


def test_first_contact_records_the_fingerprint(gateway, certificates, tmp_path: Path, jwt) -> None:
    pins = PinStore(tmp_path / "state" / "pins.json")

    assert client(gateway, pins, jwt).get("/info").status == 200

    assert pins.get(gateway.url) == certificates["first"][2]
    pins.flush()  # else within WRITE_DELAY_S, or at exit
    assert json.loads(pins.path.read_text()) == {gateway.url: certificates["first"][2]}
    assert stat.S_IMODE(pins.path.stat().st_mode) == 0o600


def test_same_certificate_passes(gateway, certificates, tmp_path: Path, jwt) -> None:
    pins = PinStore(tmp_path / "pins.json")
    pins.set(gateway.url, certificates["first"][2])

    response = client(gateway, pins, jwt).get("/home")

    assert response.status == 200
    assert gateway.seen[-1]["authorization"].startswith("Bearer ")


def test_changed_certificate_is_refused_before_the_token_is_sent(
    gateway, certificates, tmp_path: Path, jwt
) -> None:
    pins = PinStore(tmp_path / "pins.json")
    pinned = client(gateway, pins, jwt)
    pinned.get("/home")
    gateway.swap_certificate(*certificates["second"][:2])
    gateway.seen.clear()

    with pytest.raises(CertificateMismatch) as caught:
        pinned.get("/home")

    message = str(caught.value)
    assert "127.0.0.1" in message and "retrust" in message
    assert certificates["first"][2] in message and certificates["second"][2] in message
    assert gateway.seen == []


def test_retrust_records_the_new_certificate(gateway, certificates, tmp_path: Path, jwt) -> None:
    pins = PinStore(tmp_path / "pins.json")
    pins.set(gateway.url, certificates["first"][2])
    gateway.swap_certificate(*certificates["second"][:2])

    assert client(gateway, pins, jwt, retrust=True).get("/home").status == 200

    assert pins.get(gateway.url) == certificates["second"][2]


def test_self_signed_certificate_raises_no_global_warning(gateway, tmp_path: Path, jwt) -> None:
    filters_before = list(warnings.filters)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        GatewayClient(gateway.url, retries=0).get("/home")

    assert [str(w.message) for w in caught] == []
    assert warnings.filters == filters_before


def test_every_gateway_shares_one_tls_context() -> None:
    clients = [GatewayClient(f"https://192.0.2.{n}", credentials=Credentials()) for n in (1, 2)]

    contexts = {
        id(c._conn.session.get_adapter("https://x/").poolmanager.connection_pool_kw["ssl_context"])
        for c in clients
    }

    assert contexts == {id(gateway_tls_context())}


def test_commands_build_their_clients_through_the_pinning_factory() -> None:
    package = Path(__file__).resolve().parents[2] / "envoylog"
    outside = [
        path.relative_to(package).as_posix()
        for path in package.rglob("*.py")
        if "GatewayClient(" in path.read_text() and path.parent.name != "client"
    ]

    assert outside == []  # every command goes through envoylog.client.gateway_client


def test_pins_made_at_once_by_many_gateways_are_all_kept_in_few_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fleet's first start pins every gateway within a minute, each through its own
    PinStore: each used to write the whole file, and two at once could lose one."""
    writes: list[Path] = []
    real_write = pinning.write_atomic

    def counted(path: Path, *args: Any, **kwargs: Any) -> None:
        writes.append(path)
        real_write(path, *args, **kwargs)

    monkeypatch.setattr(pinning, "write_atomic", counted)
    path = tmp_path / "pins.json"
    threads = [
        threading.Thread(target=PinStore(path).set, args=(f"https://10.0.{i // 250}.{i}", "AB"))
        for i in range(500)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    pinning.flush_all()
    assert len(json.loads(path.read_text())) == 500
    assert len([w for w in writes if w == path]) <= 3
    assert PinStore(path).get("https://10.0.1.257") == "ab"


def test_a_pin_reaches_the_file_by_itself_within_the_write_delay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pinning, "WRITE_DELAY_S", 0.01)
    written = threading.Event()
    real_write = pinning.write_atomic

    def noted(path: Path, *args: Any, **kwargs: Any) -> None:
        real_write(path, *args, **kwargs)
        written.set()

    monkeypatch.setattr(pinning, "write_atomic", noted)
    PinStore(tmp_path / "pins.json").set("https://envoy.local", "CD")
    assert written.wait(30)
    assert json.loads((tmp_path / "pins.json").read_text()) == {"https://envoy.local": "cd"}


def test_a_pin_another_process_wrote_is_seen_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "pins.json"
    ours = PinStore(path)
    ours.set("https://a.local", "aa")
    ours.flush()
    path.write_text(json.dumps({"https://a.local": "aa", "https://b.local": "bb"}))
    assert ours.get("https://b.local") == "bb"
    ours.set("https://c.local", "cc")
    ours.flush()
    assert json.loads(path.read_text()) == {
        "https://a.local": "aa",
        "https://b.local": "bb",
        "https://c.local": "cc",
    }
