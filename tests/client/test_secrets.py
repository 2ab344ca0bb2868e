"""Secrets never show in repr(), str(), logs or exception messages."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import responses
from requests.exceptions import ChunkedEncodingError

from envoylog.client import Credentials, GatewayClient, Secret
from envoylog.errors import AuthError, BadAnswer, TokenError

PASSWORD = "correct-horse-battery"


def test_secret_hides_its_value() -> None:
    secret = Secret(PASSWORD)

    shown = [repr(secret), str(secret), f"{secret}", f"{[secret]!r}"]

    assert all(PASSWORD not in text for text in shown)
    assert secret.reveal() == PASSWORD


def test_credentials_repr_shows_no_secret(jwt) -> None:
    token = jwt.make()
    credentials = Credentials(
        token=token,
        digest_password=PASSWORD,
        enlighten_username="me@example.com",
        enlighten_password=PASSWORD,
    )

    text = repr(credentials) + str(credentials)

    assert token not in text and PASSWORD not in text
    assert "me@example.com" in text


def test_secrets_stay_out_of_logs_and_errors(
    rsps: responses.RequestsMock, caplog: pytest.LogCaptureFixture, jwt
) -> None:
    token = jwt.make()
    rsps.get("https://envoy.local/ivp/meters/readings", status=401)
    rsps.get("https://envoy.local/auth/check_jwt", status=401)
    credentials = Credentials(token=token, digest_password=PASSWORD)

    with caplog.at_level(logging.DEBUG), pytest.raises(AuthError) as caught:
        client = GatewayClient("https://envoy.local", credentials=credentials)
        client.get("/ivp/meters/readings")

    everything = caplog.text + str(caught.value) + repr(client)
    assert token not in everything and PASSWORD not in everything
    assert "request host=https://envoy.local path=/ivp/meters/readings status=401" in caplog.text


@pytest.mark.parametrize("where", ["option", "file", "environment"])
def test_a_token_with_a_line_break_is_refused_in_one_sentence(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jwt
) -> None:
    token = jwt.make() + "\r\nX-Evil: 1"
    credentials = Credentials(token=token)
    if where == "file":
        credentials = Credentials(token_file=tmp_path / "token")
        (tmp_path / "token").write_text(token + "\n")
    elif where == "environment":
        credentials = Credentials()
        monkeypatch.setenv("ENVOYLOG_TOKEN", token)

    with pytest.raises(TokenError) as caught:
        GatewayClient("https://envoy.local", credentials=credentials)

    message = str(caught.value)
    assert "has a line break, a space or another character no token has" in message
    assert "\n" not in message and "Evil" not in message and jwt.make()[:20] not in message


def test_a_token_reflected_in_a_body_is_blanked_out(rsps: responses.RequestsMock, jwt) -> None:
    token = jwt.make()
    rsps.get("https://envoy.local/home", body=f'{{"error": "bad token {token}"}}'.encode())

    response = GatewayClient("https://envoy.local", credentials=Credentials(token=token)).get(
        "/home"
    )

    assert response.body == b'{"error": "bad token ********"}'


def test_a_token_reflected_in_a_broken_answer_stays_out_of_the_error(
    rsps: responses.RequestsMock, jwt
) -> None:
    token = jwt.make()
    rsps.get("https://envoy.local/home", body=ChunkedEncodingError(f"junk {token} junk"))
    client = GatewayClient("https://envoy.local", credentials=Credentials(token=token))

    with pytest.raises(BadAnswer) as caught:
        client.get("/home")

    assert token not in str(caught.value) and "junk ******** junk" in str(caught.value)
    assert caught.value.__cause__ is not None and token not in str(caught.value.__cause__)
    assert caught.value.__cause__.__cause__ is None  # the chain that held it is left off
