"""Fetch a gateway token from the Enlighten cloud with the owner's account.

Two steps, both over verified TLS: log in (an Enlighten session id), then ask the
token service for a token for one gateway serial. Accounts with multi-factor login
get no session id from the login step, so they cannot fetch tokens this way.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import requests

from envoylog.client.credentials import Secret
from envoylog.client.transport import TransportFailure, send
from envoylog.errors import CloudError

log = logging.getLogger(__name__)

LOGIN_URL = "https://enlighten.enphaseenergy.com/login/login.json"
TOKEN_URL = "https://entrez.enphaseenergy.com/tokens"
CLOUD_TIMEOUTS = (10.0, 30.0)

_PASTE_HINT = (
    "copy a token from the Enlighten website (or entrez.enphaseenergy.com) and give it "
    "with --token, --token-file or ENVOYLOG_TOKEN"
)
_MFA_MESSAGE = (
    "Enlighten asks this account for a multi-factor login, and accounts with multi-factor "
    f"login cannot fetch tokens automatically: {_PASTE_HINT}."
)


def fetch_token(
    username: str,
    password: str | Secret,
    serial: str,
    *,
    session: requests.Session | None = None,
    timeouts: tuple[float, float] = CLOUD_TIMEOUTS,
) -> str:
    """Log in to Enlighten and return a new token for the gateway with this serial."""
    own_session = session is None
    cloud = session if session is not None else requests.Session()
    try:
        session_id = _login(cloud, username, password, timeouts)
        token = _request_token(cloud, session_id, serial, username, timeouts)
    finally:
        if own_session:
            cloud.close()
    log.info("token_fetched serial=%s", serial)
    return token


def _login(
    cloud: requests.Session, username: str, password: str | Secret, timeouts: tuple[float, float]
) -> str:
    secret = password.reveal() if isinstance(password, Secret) else password
    form = {"user[email]": username, "user[password]": secret}
    response = _post(cloud, LOGIN_URL, timeouts, data=form)
    if response.status_code in (401, 403):
        raise CloudError(
            f"Enlighten refused the login (HTTP {response.status_code}): check the account "
            "e-mail and password, and that you can log in on the Enlighten website."
        )
    if response.status_code != 200:
        raise CloudError(
            f"The Enlighten login answered HTTP {response.status_code}: try again later."
        )
    answer = _json_object(response, "login")
    session_id = answer.get("session_id")
    if isinstance(session_id, str) and session_id:
        return session_id
    # A multi-factor account gets {"success": true, "isBlocked": false} and an OTP nonce
    # cookie instead of a session id (home-assistant/core#155793).
    if answer.get("requires_mfa") or "login_otp_nonce" in response.cookies:
        raise CloudError(_MFA_MESSAGE)
    if answer.get("isBlocked") is True:
        raise CloudError(
            "Enlighten reports this account as blocked (too many failed logins?): "
            "log in on the Enlighten website to unblock it, then try again."
        )
    if answer.get("success") is True:
        raise CloudError(_MFA_MESSAGE)
    raise CloudError(
        "The Enlighten login gave no session id: check the e-mail and password; if the "
        "account uses multi-factor login, tokens cannot be fetched automatically, so "
        f"{_PASTE_HINT}."
    )


def _request_token(
    cloud: requests.Session,
    session_id: str,
    serial: str,
    username: str,
    timeouts: tuple[float, float],
) -> str:
    body = {"session_id": session_id, "serial_num": serial, "username": username}
    response = _post(cloud, TOKEN_URL, timeouts, json=body)
    if response.status_code in (400, 401, 403, 404):
        raise CloudError(
            f"The Enlighten token service refused a token for gateway serial {serial} "
            f"(HTTP {response.status_code}): check that this serial belongs to the account."
        )
    if response.status_code != 200:
        raise CloudError(
            f"The Enlighten token service answered HTTP {response.status_code}: try again later."
        )
    token = response.text.strip()
    if token.count(".") != 2 or any(ch.isspace() for ch in token):
        raise CloudError(
            "The Enlighten token service answered something that is not a token: "
            f"try again later, or {_PASTE_HINT}."
        )
    return token


def _post(
    cloud: requests.Session, url: str, timeouts: tuple[float, float], **kwargs: Any
) -> requests.Response:
    try:
        # verify=True on every call: a caller's session must not be able to turn it off.
        return send(
            cloud, "POST", url, timeout=timeouts, verify=True, allow_redirects=False, **kwargs
        )
    except TransportFailure as failure:
        host = url.split("/")[2]
        if failure.kind == "tls":
            raise CloudError(
                f"The TLS certificate of {host} could not be verified: check this machine's "
                "clock and CA certificates (a proxy may be intercepting HTTPS)."
            ) from failure
        raise CloudError(
            f"Cannot reach the Enlighten cloud at {host} ({failure.kind.replace('_', ' ')}): "
            "check this machine's internet connection and try again."
        ) from failure


def _json_object(response: requests.Response, step: str) -> dict[str, Any]:
    try:
        answer = json.loads(response.content)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise CloudError(
            f"The Enlighten {step} answered something that is not a JSON object: try again later."
        )
    return answer
