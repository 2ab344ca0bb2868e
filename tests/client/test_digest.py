"""HTTP Digest for firmware before 7, through requests' HTTPDigestAuth."""

from __future__ import annotations

import pytest
import requests
import responses

from envoylog.client import Credentials, GatewayClient
from envoylog.errors import AuthError
from envoylog.simulator.serving import digest_ok

METERS = "http://envoy.local/ivp/meters"
READINGS = "http://envoy.local/ivp/meters/readings"


class DigestGateway:
    """Answers like an old gateway: a Digest challenge unless the header proves `password`."""

    def __init__(self, rsps: responses.RequestsMock, password: str) -> None:
        self.password = password
        self.nonce = "5f2a9c"
        self.stale = False
        self.sent: list[str | None] = []
        for url in (METERS, READINGS):
            rsps.add_callback(responses.GET, url, callback=self.answer)

    def answer(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        header = request.headers.get("Authorization")
        self.sent.append(header)
        if header and f'nonce="{self.nonce}"' in header and digest_ok(header, "GET", self.password):
            return 200, {}, b"[]"
        challenge = f'Digest realm="enphaseenergy.com", qop="auth", nonce="{self.nonce}"'
        if self.stale:
            challenge += ', stale="true"'
        return 401, {"WWW-Authenticate": challenge}, b"Unauthorized"


def test_digest_challenge_is_answered_with_the_serial_password(
    rsps: responses.RequestsMock, jwt
) -> None:
    rsps.get("http://envoy.local/info", body=jwt.info_xml)
    gateway = DigestGateway(rsps, password=jwt.serial[-6:])
    client = GatewayClient("http://envoy.local")

    response = client.get("/ivp/meters")

    assert response.status == 200
    assert [c.request.url for c in rsps.calls][:2] == [METERS, "http://envoy.local/info"]
    last = gateway.sent[-1]
    assert last is not None and 'username="envoy"' in last


def test_digest_stays_on_after_it_worked(rsps: responses.RequestsMock) -> None:
    gateway = DigestGateway(rsps, password="123456")
    client = GatewayClient("http://envoy.local", credentials=Credentials(digest_password="123456"))
    client.get("/ivp/meters")
    before = len(gateway.sent)

    assert client.get("/ivp/meters/readings").status == 200

    assert len(gateway.sent) == before + 1  # answered at once, with the next nonce count
    assert "nc=00000002" in (gateway.sent[-1] or "")
    assert len(rsps.calls) == len(gateway.sent)  # no /info read: the password was configured


def test_refused_digest_password_is_an_auth_error(rsps: responses.RequestsMock) -> None:
    DigestGateway(rsps, password="123456")
    client = GatewayClient("http://envoy.local", credentials=Credentials(digest_password="000000"))

    with pytest.raises(AuthError, match=r"envoy\.local refused the digest login of user 'envoy'"):
        client.get("/ivp/meters")


def test_401_without_challenge_on_http_is_returned(rsps: responses.RequestsMock) -> None:
    rsps.get(METERS, status=401, body=b"Error: 401")

    response = GatewayClient("http://envoy.local").get("/ivp/meters")

    assert response.status == 401
    assert len(rsps.calls) == 1


def test_stale_nonce_is_answered_with_the_new_challenge(rsps: responses.RequestsMock) -> None:
    gateway = DigestGateway(rsps, password="123456")
    client = GatewayClient("http://envoy.local", credentials=Credentials(digest_password="123456"))
    client.get("/ivp/meters")
    gateway.nonce, gateway.stale = "91bb07", True
    before = len(gateway.sent)

    assert client.get("/ivp/meters/readings").status == 200

    old, new = gateway.sent[before:]
    assert old is not None and 'nonce="5f2a9c"' in old
    assert new is not None and 'nonce="91bb07"' in new and "nc=00000001" in new


def test_digest_refused_after_it_worked_is_an_auth_error(rsps: responses.RequestsMock) -> None:
    gateway = DigestGateway(rsps, password="123456")
    client = GatewayClient("http://envoy.local", credentials=Credentials(digest_password="123456"))
    client.get("/ivp/meters")
    gateway.password = "654321"  # the gateway's password changed
    before = len(gateway.sent)

    with pytest.raises(AuthError, match="refused the digest login"):
        client.get("/ivp/meters")

    assert len(gateway.sent) == before + 2  # the refused request, and one answer to the challenge
