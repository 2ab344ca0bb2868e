"""Secrets never show in repr(), str(), logs or exception messages."""

from __future__ import annotations

import logging

import pytest
import responses

from envoylog.client import Credentials, GatewayClient, Secret
from envoylog.errors import AuthError

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
