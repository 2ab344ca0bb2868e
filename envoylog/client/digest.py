"""HTTP Digest (RFC 7616, and RFC 2617's MD5) computed here, so it works over any transport.

Gateways before firmware 7 answer a 401 with a Digest challenge; the answer to it goes
in an ordinary `Authorization` header, the same for requests and for http.client.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable

# Algorithm token -> hash function name (RFC 7616 section 3.3); "-sess" variants too.
_HASHES = {"MD5": "md5", "SHA-256": "sha256", "SHA-512-256": "sha512_256"}
_FIELD = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def parse_challenge(www_authenticate: str) -> dict[str, str] | None:
    """The fields of a `WWW-Authenticate: Digest ...` header, or None if it is not Digest."""
    scheme, _, rest = www_authenticate.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    return {
        key.lower(): (quoted.replace('\\"', '"') if quoted is not None else bare)
        for key, quoted, bare in _FIELD.findall(rest)
    }


class DigestAuth:
    """Answers one gateway's Digest challenge; `header()` gives each request's Authorization.

    The nonce count goes up with every header built from the same nonce, as RFC 7616
    requires; `prime()` with a new challenge (a stale nonce) starts over.
    """

    def __init__(
        self,
        username: str,
        password: str,
        challenge: str,
        *,
        cnonce: Callable[[], str] = lambda: os.urandom(8).hex(),
    ) -> None:
        self.username = username
        self._password = password
        self._cnonce = cnonce
        self._fields: dict[str, str] = {}
        self._count = 0
        self.prime(challenge)

    def __repr__(self) -> str:
        return f"DigestAuth(username={self.username!r}, realm={self._fields.get('realm')!r})"

    def prime(self, challenge: str) -> None:
        """Take the fields of a new `WWW-Authenticate: Digest` challenge."""
        self._fields = parse_challenge(challenge) or {}
        self._count = 0

    def header(self, method: str, uri: str) -> str:
        """The `Authorization` value for `method` on `uri` (path and query, as sent)."""
        fields = self._fields
        algorithm = fields.get("algorithm", "MD5")
        name = _HASHES.get(algorithm.upper().removesuffix("-SESS"), "md5")

        def digest(text: str) -> str:
            return hashlib.new(name, text.encode(), usedforsecurity=False).hexdigest()

        realm, nonce = fields.get("realm", ""), fields.get("nonce", "")
        self._count += 1
        nc, cnonce = f"{self._count:08x}", self._cnonce()
        ha1 = digest(f"{self.username}:{realm}:{self._password}")
        if algorithm.upper().endswith("-SESS"):
            ha1 = digest(f"{ha1}:{nonce}:{cnonce}")
        ha2 = digest(f"{method}:{uri}")
        parts = [
            f'username="{self.username}"',
            f'realm="{realm}"',
            f'nonce="{nonce}"',
            f'uri="{uri}"',
        ]
        if self._qops():
            response = digest(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
            parts += [f'response="{response}"', f"algorithm={algorithm}"]
            parts += ["qop=auth", f"nc={nc}", f'cnonce="{cnonce}"']
        else:
            response = digest(f"{ha1}:{nonce}:{ha2}")
            parts += [f'response="{response}"', f"algorithm={algorithm}"]
        if "opaque" in fields:
            parts.append(f'opaque="{fields["opaque"]}"')
        return "Digest " + ", ".join(parts)

    def _qops(self) -> list[str]:
        return [q.strip().lower() for q in self._fields.get("qop", "").split(",") if q.strip()]
