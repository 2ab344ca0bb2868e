"""HTTP Digest for firmware before 7."""

from __future__ import annotations

import pytest
import responses

from envoylog.client import Credentials, GatewayClient
from envoylog.errors import AuthError

CHALLENGE = 'Digest realm="enphaseenergy.com", qop="auth", nonce="5f2a9c", opaque="77aa"'
METERS = "http://envoy.local/ivp/meters"


def test_digest_challenge_is_answered_with_the_serial_password(
    rsps: responses.RequestsMock, jwt
) -> None:
    rsps.get("http://envoy.local/info", body=jwt.info_xml)
    rsps.get(METERS, status=401, headers={"WWW-Authenticate": CHALLENGE})
    rsps.get(METERS, json=[])
    client = GatewayClient("http://envoy.local")

    response = client.get("/ivp/meters")

    assert response.status == 200
    urls = [c.request.url for c in rsps.calls]
    assert urls == [METERS, "http://envoy.local/info", METERS]
    header = rsps.calls[2].request.headers["Authorization"]
    assert header.startswith("Digest ")
    assert 'username="envoy"' in header
    assert 'nonce="5f2a9c"' in header


def test_digest_stays_on_after_it_worked(rsps: responses.RequestsMock) -> None:
    rsps.get(METERS, status=401, headers={"WWW-Authenticate": CHALLENGE})
    rsps.get(METERS, json=[])
    rsps.get("http://envoy.local/ivp/meters/readings", json=[])
    client = GatewayClient("http://envoy.local", credentials=Credentials(digest_password="123456"))

    client.get("/ivp/meters")
    client.get("/ivp/meters/readings")

    assert rsps.calls[-1].request.headers["Authorization"].startswith("Digest ")
    assert len(rsps.calls) == 3  # no /info read: the password was configured


def test_refused_digest_password_is_an_auth_error(rsps: responses.RequestsMock) -> None:
    rsps.get(METERS, status=401, headers={"WWW-Authenticate": CHALLENGE})
    client = GatewayClient("http://envoy.local", credentials=Credentials(digest_password="000000"))

    with pytest.raises(AuthError, match=r"envoy\.local refused the digest login of user 'envoy'"):
        client.get("/ivp/meters")


def test_401_without_challenge_on_http_is_returned(rsps: responses.RequestsMock) -> None:
    rsps.get(METERS, status=401, body=b"Error: 401")

    response = GatewayClient("http://envoy.local").get("/ivp/meters")

    assert response.status == 401
    assert len(rsps.calls) == 1
