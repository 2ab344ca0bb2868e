"""Credentials for gateways and the Enlighten cloud, with secrets that never print."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from envoylog.errors import ConfigError, TokenError
from envoylog.files import write_atomic

TOKEN_ENV = "ENVOYLOG_TOKEN"
DIGEST_USERNAME = "envoy"


class Secret:
    """A password or token that shows as asterisks in repr(), str(), logs and messages."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret itself; call only where it is sent or saved."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    def __str__(self) -> str:
        return "********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def as_secret(value: str | Secret | None) -> Secret | None:
    """Wrap a plain string (None and empty stay None)."""
    if value is None or isinstance(value, Secret):
        return value
    return Secret(value) if value else None


@dataclass(frozen=True, slots=True, init=False)
class Credentials:
    """How to authenticate to one gateway; every secret is a `Secret`.

    `digest_password` None means the last 6 digits of the gateway's serial.
    The Enlighten account is used only to fetch a new token when the gateway
    refuses the current one.
    """

    token: Secret | None
    token_file: Path | None
    digest_username: str
    digest_password: Secret | None
    enlighten_username: str | None
    enlighten_password: Secret | None

    def __init__(
        self,
        *,
        token: str | Secret | None = None,
        token_file: Path | None = None,
        digest_username: str = DIGEST_USERNAME,
        digest_password: str | Secret | None = None,
        enlighten_username: str | None = None,
        enlighten_password: str | Secret | None = None,
    ) -> None:
        object.__setattr__(self, "token", as_secret(token))
        object.__setattr__(self, "token_file", token_file)
        object.__setattr__(self, "digest_username", digest_username)
        object.__setattr__(self, "digest_password", as_secret(digest_password))
        object.__setattr__(self, "enlighten_username", enlighten_username or None)
        object.__setattr__(self, "enlighten_password", as_secret(enlighten_password))

    @property
    def can_fetch_token(self) -> bool:
        return self.enlighten_username is not None and self.enlighten_password is not None

    def resolve_token(self, environ: Mapping[str, str] | None = None) -> tuple[Secret | None, str]:
        """Find the token and say where it came from: option, then file, then environment."""
        if self.token is not None:
            source = "the token setting"
            token = Secret(self.token.reveal().strip())
        elif self.token_file is not None:
            source = f"token file {self.token_file}"
            token = read_token_file(self.token_file)
        else:
            value = (os.environ if environ is None else environ).get(TOKEN_ENV, "").strip()
            if not value:
                return None, "nowhere"
            source, token = TOKEN_ENV, Secret(value)
        check_token_text(token, source)
        return token, source


def check_token_text(token: Secret, source: str) -> None:
    """Refuse, in one sentence, a token that could not go into a header as it is."""
    value = token.reveal()
    bad = next((i for i, ch in enumerate(value) if ch.isspace() or not ch.isprintable()), None)
    if bad is not None or not value.isascii():
        where = f" at character {bad + 1}" if bad is not None else ""
        raise TokenError(
            f"The token given by {source} has a line break, a space or another character "
            f"no token has{where}: copy the whole token again, on one line."
        )


def read_token_file(path: Path) -> Secret:
    """Read a token saved by `envoylog token --output` or pasted into a file."""
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            f"Cannot read the token file {path} ({exc.strerror or exc}): "
            "check the path and its permissions."
        ) from exc
    if not value:
        raise ConfigError(f"The token file {path} is empty: paste the token into it.")
    return Secret(value)


def save_token(path: Path, token: str | Secret) -> None:
    """Write a token to `path`, readable by the owner only (mode 0600)."""
    value = token.reveal() if isinstance(token, Secret) else token
    try:
        write_atomic(path, value + "\n")
    except OSError as exc:
        raise ConfigError(
            f"Cannot write the token file {path} ({exc.strerror or exc}): "
            "check that its folder exists and is writable."
        ) from exc
