"""Reading a JWT's expiry without verifying it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from envoylog.client import Secret, token_expiry
from envoylog.errors import TokenError


def test_expiry_is_the_exp_claim_in_utc(jwt) -> None:
    token = jwt.make(timedelta(days=365))

    expires = token_expiry(token)

    assert expires is not None and expires.tzinfo is UTC
    assert abs(expires - (datetime.now(tz=UTC) + timedelta(days=365))) < timedelta(minutes=1)


def test_expiry_accepts_a_secret(jwt) -> None:
    assert token_expiry(Secret(jwt.make())) is not None


def test_token_without_exp_has_no_expiry(jwt) -> None:
    assert token_expiry(jwt.make(None, username="owner")) is None


@pytest.mark.parametrize(
    "token",
    ["abc", "a.b", "a.!!!!.c", "a.bm90IGpzb24.c", "a.WzFd.c", "a..c"],
    ids=["one-part", "two-parts", "not-base64", "not-json", "not-an-object", "empty"],
)
def test_malformed_token_is_a_token_error_without_the_token(token: str) -> None:
    with pytest.raises(TokenError) as caught:
        token_expiry(token)

    assert token not in str(caught.value)
    assert "token" in str(caught.value)


def test_non_numeric_exp_is_a_token_error(jwt) -> None:
    bad = jwt.make(None, exp="tomorrow")

    with pytest.raises(TokenError, match=r"expiry claim \(exp\) is not a number"):
        token_expiry(bad)
