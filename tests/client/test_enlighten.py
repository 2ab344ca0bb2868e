"""Fetching a token from the Enlighten cloud."""

from __future__ import annotations

import pytest
import requests
import responses

from envoylog.client.enlighten import LOGIN_URL, TOKEN_URL, fetch_token
from envoylog.errors import CloudError

PASSWORD = "s3cret-pw"


def verified(request: requests.PreparedRequest) -> bool:
    # True, or the CA bundle that REQUESTS_CA_BUNDLE names: verified either way.
    verify = request.req_kwargs["verify"]  # type: ignore[attr-defined]
    return verify is True or (isinstance(verify, str) and bool(verify))


def test_login_then_token(rsps: responses.RequestsMock, jwt) -> None:
    token = jwt.make()
    rsps.post(LOGIN_URL, json={"message": "success", "session_id": "f00d"})
    rsps.post(TOKEN_URL, body=token + "\n")

    assert fetch_token("me@example.com", PASSWORD, "122233445566") == token

    login, issue = rsps.calls[0].request, rsps.calls[1].request
    assert login.body is not None and "user%5Bemail%5D=me%40example.com" in str(login.body)
    assert issue.body == (
        b'{"session_id": "f00d", "serial_num": "122233445566", "username": "me@example.com"}'
    )
    assert verified(login) and verified(issue)


def test_cloud_tls_is_verified_even_if_the_session_says_not(
    rsps: responses.RequestsMock, jwt
) -> None:
    rsps.post(LOGIN_URL, json={"session_id": "f00d"})
    rsps.post(TOKEN_URL, body=jwt.make())
    session = requests.Session()
    session.verify = False

    fetch_token("me@example.com", PASSWORD, "1", session=session)

    assert all(verified(call.request) for call in rsps.calls)


def test_multi_factor_login_is_explained(rsps: responses.RequestsMock) -> None:
    rsps.post(
        LOGIN_URL,
        json={"success": True, "isBlocked": False},
        headers={"Set-Cookie": "login_otp_nonce=abc; Secure; HttpOnly"},
    )

    with pytest.raises(CloudError) as caught:
        fetch_token("me@example.com", PASSWORD, "1")

    message = str(caught.value)
    assert "multi-factor login cannot fetch tokens automatically" in message
    assert "--token" in message and "ENVOYLOG_TOKEN" in message
    assert len(rsps.calls) == 1


def test_answer_without_session_id_mentions_mfa(rsps: responses.RequestsMock) -> None:
    rsps.post(LOGIN_URL, json={"message": "odd"})

    with pytest.raises(CloudError, match=r"no session id.*multi-factor login"):
        fetch_token("me@example.com", PASSWORD, "1")


def test_bad_password_is_a_cloud_error_without_the_password(
    rsps: responses.RequestsMock,
) -> None:
    rsps.post(LOGIN_URL, status=401, json={"message": "Login failed. Please try again."})

    with pytest.raises(CloudError, match=r"refused the login .* e-mail and password") as caught:
        fetch_token("me@example.com", PASSWORD, "1")

    assert PASSWORD not in str(caught.value)


def test_token_service_refusal_names_the_serial(rsps: responses.RequestsMock) -> None:
    rsps.post(LOGIN_URL, json={"session_id": "f00d"})
    rsps.post(TOKEN_URL, status=403, body=b"Forbidden")

    with pytest.raises(CloudError, match="serial 122233445566"):
        fetch_token("me@example.com", PASSWORD, "122233445566")


def test_non_token_answer_is_a_cloud_error(rsps: responses.RequestsMock) -> None:
    rsps.post(LOGIN_URL, json={"session_id": "f00d"})
    rsps.post(TOKEN_URL, body=b"<html>maintenance</html>")

    with pytest.raises(CloudError, match="not a token"):
        fetch_token("me@example.com", PASSWORD, "1")


def test_network_failure_is_a_cloud_error(rsps: responses.RequestsMock) -> None:
    rsps.post(LOGIN_URL, body=requests.ConnectionError("Name or service not known"))

    with pytest.raises(CloudError, match="Cannot reach the Enlighten cloud") as caught:
        fetch_token("me@example.com", PASSWORD, "1")

    assert isinstance(caught.value.__cause__, Exception)
