"""HTTP Digest for firmware before 7."""

from __future__ import annotations

import pytest
import responses

from envoylog.client import Credentials, GatewayClient
from envoylog.client.digest import DigestAuth
from envoylog.errors import AuthError
from envoylog.simulator.serving import digest_ok

CHALLENGE = 'Digest realm="enphaseenergy.com", qop="auth", nonce="5f2a9c", opaque="77aa"'
METERS = "http://envoy.local/ivp/meters"


def test_digest_challenge_is_answered_with_the_serial_password(
    rsps: responses.RequestsMock, session, jwt
) -> None:
    rsps.get("http://envoy.local/info", body=jwt.info_xml)
    rsps.get(METERS, status=401, headers={"WWW-Authenticate": CHALLENGE})
    rsps.get(METERS, json=[])
    client = GatewayClient("http://envoy.local", session=session)

    response = client.get("/ivp/meters")

    assert response.status == 200
    urls = [c.request.url for c in rsps.calls]
    assert urls == [METERS, "http://envoy.local/info", METERS]
    header = rsps.calls[2].request.headers["Authorization"]
    assert header.startswith("Digest ")
    assert 'username="envoy"' in header
    assert 'nonce="5f2a9c"' in header


def test_digest_stays_on_after_it_worked(rsps: responses.RequestsMock, session) -> None:
    rsps.get(METERS, status=401, headers={"WWW-Authenticate": CHALLENGE})
    rsps.get(METERS, json=[])
    rsps.get("http://envoy.local/ivp/meters/readings", json=[])
    client = GatewayClient(
        "http://envoy.local", credentials=Credentials(digest_password="123456"), session=session
    )

    client.get("/ivp/meters")
    client.get("/ivp/meters/readings")

    assert rsps.calls[-1].request.headers["Authorization"].startswith("Digest ")
    assert len(rsps.calls) == 3  # no /info read: the password was configured


def test_refused_digest_password_is_an_auth_error(rsps: responses.RequestsMock, session) -> None:
    rsps.get(METERS, status=401, headers={"WWW-Authenticate": CHALLENGE})
    client = GatewayClient(
        "http://envoy.local", credentials=Credentials(digest_password="000000"), session=session
    )

    with pytest.raises(AuthError, match=r"envoy\.local refused the digest login of user 'envoy'"):
        client.get("/ivp/meters")


def test_401_without_challenge_on_http_is_returned(rsps: responses.RequestsMock, session) -> None:
    rsps.get(METERS, status=401, body=b"Error: 401")

    response = GatewayClient("http://envoy.local", session=session).get("/ivp/meters")

    assert response.status == 401
    assert len(rsps.calls) == 1


def test_digest_answer_matches_rfc_2617_example() -> None:
    challenge = (
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    digest = DigestAuth("Mufasa", "Circle Of Life", challenge, cnonce=lambda: "0a4f113b")

    header = digest.header("GET", "/dir/index.html")

    assert 'response="6629fae49393a05397450978507c4ef1"' in header
    assert "qop=auth, nc=00000001" in header
    assert 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in header


def test_nonce_count_goes_up_and_a_new_challenge_starts_it_over() -> None:
    digest = DigestAuth("envoy", "123456", CHALLENGE)

    counts = [digest.header("GET", "/home").split("nc=")[1][:8] for _ in range(2)]
    digest.prime(CHALLENGE.replace("5f2a9c", "91bb07"))
    after = digest.header("GET", "/home")

    assert counts == ["00000001", "00000002"]
    assert "nc=00000001" in after and 'nonce="91bb07"' in after


def test_digest_header_is_what_the_simulated_gateway_accepts() -> None:
    header = DigestAuth("envoy", "123456", CHALLENGE).header("GET", "/ivp/meters?x=1")

    assert digest_ok(header, "GET", "123456")
    assert not digest_ok(header, "GET", "654321")


def test_stale_nonce_is_answered_with_the_new_challenge_once(
    rsps: responses.RequestsMock, session
) -> None:
    readings = "http://envoy.local/ivp/meters/readings"
    fresh = CHALLENGE.replace("5f2a9c", "91bb07") + ', stale="true"'
    rsps.get(METERS, status=401, headers={"WWW-Authenticate": CHALLENGE})
    rsps.get(METERS, json=[])
    rsps.get(readings, status=401, headers={"WWW-Authenticate": fresh})
    rsps.get(readings, json=[])
    client = GatewayClient(
        "http://envoy.local", credentials=Credentials(digest_password="123456"), session=session
    )
    client.get("/ivp/meters")

    assert client.get("/ivp/meters/readings").status == 200
    sent = [c.request.headers["Authorization"] for c in rsps.calls[1:]]
    assert ['nonce="5f2a9c"' in h for h in sent] == [True, True, False]
    assert 'nonce="91bb07"' in sent[2] and "nc=00000001" in sent[2]


def test_digest_refused_after_a_new_challenge_is_an_auth_error(
    rsps: responses.RequestsMock, session
) -> None:
    rsps.get(METERS, status=401, headers={"WWW-Authenticate": CHALLENGE})
    rsps.get(METERS, json=[])
    rsps.get(METERS, status=401, headers={"WWW-Authenticate": CHALLENGE})
    client = GatewayClient(
        "http://envoy.local", credentials=Credentials(digest_password="123456"), session=session
    )
    client.get("/ivp/meters")

    with pytest.raises(AuthError, match="refused the digest login"):
        client.get("/ivp/meters")

    assert len(rsps.calls) == 4  # the refused request, and one answer to the new challenge
