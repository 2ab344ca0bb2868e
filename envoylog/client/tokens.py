"""Read a gateway JWT's expiry without verifying it (the gateway does the verifying)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime

from envoylog.client.credentials import Secret
from envoylog.errors import TokenError

WARN_DAYS = 30


def token_expiry(token: str | Secret) -> datetime | None:
    """Return the token's `exp` claim as a UTC datetime, or None when it has none."""
    value = token.reveal() if isinstance(token, Secret) else token
    parts = value.strip().split(".")
    if len(parts) != 3 or not parts[1]:
        raise TokenError(
            "The token is not a JWT (three dot-separated parts): copy the whole token again."
        )
    payload_b64 = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        payload = json.loads(base64.urlsafe_b64decode(payload_b64))
    except (binascii.Error, ValueError):
        # `from None`: the decoding error would carry part of the token into tracebacks.
        raise TokenError(
            "The token's payload cannot be decoded (not base64url JSON): "
            "copy the whole token again."
        ) from None
    if not isinstance(payload, dict):
        raise TokenError("The token's payload is not a JSON object: copy the whole token again.")
    exp = payload.get("exp")
    if exp is None:
        return None
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise TokenError("The token's expiry claim (exp) is not a number: get a new token.")
    try:
        return datetime.fromtimestamp(exp, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise TokenError(
            "The token's expiry claim (exp) is out of range: get a new token."
        ) from None


def days_left(expires_at: datetime, now: datetime | None = None) -> float:
    """Days from `now` (default: this instant) until `expires_at`; negative once expired."""
    current = now or datetime.now(tz=UTC)
    return (expires_at - current).total_seconds() / 86400
