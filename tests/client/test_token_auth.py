"""Bearer tokens for firmware 7 and later: sending, checking, refreshing, refusing."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import responses

from envoylog.client import Credentials, GatewayClient
from envoylog.client.enlighten import LOGIN_URL, TOKEN_URL
from envoylog.errors import AuthError, TokenError

BASE = "https://envoy.local"
READINGS = f"{BASE}/ivp/meters/readings"
CHECK = f"{BASE}/auth/check_jwt"


def bearer(call: responses.Call) -> str | None:
    return call.request.headers.get("Authorization")


def test_bearer_token_is_sent_over_https(rsps: responses.RequestsMock, jwt) -> None:
    token = jwt.make()
    rsps.get(READINGS, json=[])

    GatewayClient(BASE, credentials=Credentials(token=token)).get("/ivp/meters/readings")

    assert bearer(rsps.calls[0]) == f"Bearer {token}"


def test_token_is_never_sent_over_plain_http(rsps: responses.RequestsMock, jwt) -> None:
    rsps.get("http://envoy.local/home", json={})

    GatewayClient("http://envoy.local", credentials=Credentials(token=jwt.make())).get("/home")

    assert bearer(rsps.calls[0]) is None


def test_token_sources_option_then_file_then_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jwt
) -> None:
    from_option, from_file, from_env = jwt.make(), jwt.make(timedelta(days=9)), jwt.make()
    token_file = tmp_path / "token"
    token_file.write_text(f"  {from_file}\n")
    monkeypatch.setenv("ENVOYLOG_TOKEN", from_env)

    both = Credentials(token=from_option, token_file=token_file).resolve_token()
    file_only = Credentials(token_file=token_file).resolve_token()
    env_only = Credentials().resolve_token()

    assert both[0] is not None and both[0].reveal() == from_option
    assert file_only[0] is not None and file_only[0].reveal() == from_file
    assert env_only[0] is not None and env_only[0].reveal() == from_env


def test_401_checks_the_token_once_and_retries(rsps: responses.RequestsMock, jwt) -> None:
    rsps.get(READINGS, status=401)
    rsps.get(CHECK, body=b"<h2>Valid token.</h2>")
    rsps.get(READINGS, json=[])
    client = GatewayClient(BASE, credentials=Credentials(token=jwt.make()))

    assert client.get("/ivp/meters/readings").status == 200
    assert [c.request.url for c in rsps.calls] == [READINGS, CHECK, READINGS]
    assert bearer(rsps.calls[1]) == bearer(rsps.calls[0])


def test_refused_token_is_refreshed_from_enlighten(rsps: responses.RequestsMock, jwt) -> None:
    old, new = jwt.make(timedelta(days=-1)), jwt.make()
    rsps.get(READINGS, status=401)
    rsps.get(CHECK, status=401)
    rsps.get(f"{BASE}/info", body=jwt.info_xml)
    rsps.post(LOGIN_URL, json={"message": "success", "session_id": "abc"})
    rsps.post(TOKEN_URL, body=new)
    rsps.get(CHECK, body=b"Valid token.")
    rsps.get(READINGS, json=[])
    credentials = Credentials(
        token=old, enlighten_username="me@example.com", enlighten_password="hunter2"
    )
    client = GatewayClient(BASE, credentials=credentials)

    assert client.get("/ivp/meters/readings").status == 200
    assert bearer(rsps.calls[-1]) == f"Bearer {new}"
    assert rsps.calls[4].request.body is not None
    assert b'"serial_num": "122233445566"' in rsps.calls[4].request.body
    assert client.token_expires_at is not None


def test_refused_token_without_enlighten_is_an_auth_error(
    rsps: responses.RequestsMock, jwt
) -> None:
    rsps.get(READINGS, status=401)
    rsps.get(CHECK, status=401)
    client = GatewayClient(BASE, credentials=Credentials(token=jwt.make(timedelta(days=-3))))

    with pytest.raises(AuthError) as caught:
        client.get("/ivp/meters/readings")

    message = str(caught.value)
    assert message.startswith("Gateway https://envoy.local refused the token")
    assert "it expired on" in message
    assert "envoylog token --serial" in message
    assert "ENVOYLOG_TOKEN" in message


def test_check_jwt_is_not_repeated_for_a_refused_token(rsps: responses.RequestsMock, jwt) -> None:
    rsps.get(READINGS, status=401)
    rsps.get(CHECK, status=401)
    client = GatewayClient(BASE, credentials=Credentials(token=jwt.make()))

    for _ in range(2):
        with pytest.raises(AuthError):
            client.get("/ivp/meters/readings")

    assert [c.request.url for c in rsps.calls].count(CHECK) == 1


def test_401_without_a_token_says_one_is_needed(rsps: responses.RequestsMock) -> None:
    rsps.get(READINGS, status=401)

    with pytest.raises(
        AuthError, match=r"needs a token .* fetch one with `envoylog token .* or ENVOYLOG_TOKEN\.$"
    ):
        GatewayClient(BASE).get("/ivp/meters/readings")


def test_failed_refresh_is_not_retried_within_the_hour(rsps: responses.RequestsMock, jwt) -> None:
    rsps.get(READINGS, status=401)
    rsps.get(f"{BASE}/info", body=jwt.info_xml)
    rsps.post(LOGIN_URL, status=401, json={"message": "Login failed"})
    now = [1000.0]
    credentials = Credentials(enlighten_username="me@example.com", enlighten_password="pw")
    client = GatewayClient(
        BASE,
        credentials=credentials,
        clock=lambda: now[0],
    )

    with pytest.raises(TokenError, match="Enlighten refused the login"):
        client.get("/ivp/meters/readings")
    now[0] += 60
    with pytest.raises(TokenError, match="less than an hour ago"):
        client.get("/ivp/meters/readings")

    assert [c.request.url for c in rsps.calls].count(LOGIN_URL) == 1


def test_token_expiring_soon_logs_a_warning(caplog: pytest.LogCaptureFixture, jwt) -> None:
    token = jwt.make(timedelta(days=10, hours=1))
    with caplog.at_level(logging.WARNING, logger="envoylog.client"):
        client = GatewayClient(BASE, credentials=Credentials(token=token))

    assert client.token_expires_at is not None
    assert "token_expiring host=https://envoy.local" in caplog.text
    assert "days_left=10" in caplog.text
    assert token not in caplog.text


def test_token_with_a_long_life_logs_nothing(caplog: pytest.LogCaptureFixture, jwt) -> None:
    with caplog.at_level(logging.WARNING, logger="envoylog.client"):
        GatewayClient(BASE, credentials=Credentials(token=jwt.make(timedelta(days=300))))

    assert caplog.text == ""


def test_malformed_token_is_refused_at_start(jwt) -> None:
    with pytest.raises(TokenError, match="given by the token setting cannot be used") as caught:
        GatewayClient(BASE, credentials=Credentials(token="not-a-jwt-secret"))

    assert "not-a-jwt-secret" not in str(caught.value)


def test_a_slow_token_fetch_leaves_the_gateway_requests_a_deadline_of_their_own(
    rsps: responses.RequestsMock, jwt
) -> None:
    def slow_login(request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        time.sleep(0.6)  # the cloud takes longer than the gateway's whole deadline
        return 200, {}, b'{"session_id": "abc"}'

    rsps.get(READINGS, status=401)
    rsps.get(f"{BASE}/info", body=jwt.info_xml)
    rsps.add_callback(responses.POST, LOGIN_URL, callback=slow_login)
    rsps.post(TOKEN_URL, body=jwt.make())
    rsps.get(CHECK, body=b"Valid token.")
    rsps.get(READINGS, json=[])
    credentials = Credentials(enlighten_username="me@example.com", enlighten_password="pw")
    client = GatewayClient(BASE, credentials=credentials, deadline_s=0.5)

    assert client.get("/ivp/meters/readings").status == 200
