"""`GatewayClient`: one session per gateway, one request at a time, and authentication.

Authentication follows what the gateway asks for: a 401 with a Digest challenge
(firmware < 7) gets HTTP Digest; over HTTPS (firmware >= 7) a bearer token is sent,
checked with /auth/check_jwt when refused, and renewed from Enlighten when possible.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from types import TracebackType

from requests.auth import HTTPDigestAuth

from envoylog.client.connection import INFO_PATH, Connection
from envoylog.client.credentials import Credentials, Secret
from envoylog.client.pinning import PinStore
from envoylog.client.response import HttpResponse
from envoylog.client.tokens import WARN_DAYS, days_left, token_expiry
from envoylog.errors import AuthError, CloudError, TokenError
from envoylog.paths import pin_file

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
DEADLINE_S = 30.0
RETRIES = 2
CHECK_JWT_PATH = "/auth/check_jwt"
# After a failed token fetch, wait this long before asking Enlighten again: every
# endpoint of every poll would otherwise log in to the cloud.
REFRESH_COOLDOWN_S = 3600.0

_TOKEN_HINT = (
    "{verb} one with `envoylog token --serial {serial} --username EMAIL`, "
    "or paste one with --token, --token-file or ENVOYLOG_TOKEN"
)


class GatewayClient:
    """Talk to one gateway: TLS, pinning, a deadline, bounded retries, no redirects, auth.

    Safe to share between threads: requests to the gateway are made one at a time, over
    one keep-alive requests Session (envoylog.client.transport). Every `get` returns or
    raises within `deadline_s`, whatever the gateway does (a token fetch from Enlighten
    aside). Commands build it with `gateway_client`, which pins certificates.
    """

    def __init__(
        self,
        host: str,
        *,
        credentials: Credentials | None = None,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        deadline_s: float = DEADLINE_S,
        retries: int = RETRIES,
        backoff_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        pin_store: PinStore | None = None,
        retrust: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._conn = Connection(
            host,
            connect_timeout_s=connect_timeout_s,
            deadline_s=deadline_s,
            retries=retries,
            backoff_s=backoff_s,
            sleep=sleep,
            pin_store=pin_store,
            retrust=retrust,
        )
        self._credentials = credentials or Credentials()
        self._clock = clock
        self._lock = threading.Lock()
        self._digest: HTTPDigestAuth | None = None
        self._refresh_failed_at: float | None = None
        self._token: Secret | None = None
        self._token_source = "nowhere"
        self._token_expires_at: datetime | None = None
        self._token_refused = False
        self._use_token(*self._credentials.resolve_token())

    def __repr__(self) -> str:
        return f"GatewayClient(host={self.host!r}, base_url={self.base_url!r})"

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def host(self) -> str:
        return self._conn.host

    @property
    def base_url(self) -> str | None:
        """The URL that answered ("https://envoy.local"); None until a bare host answers."""
        return self._conn.base_url

    @property
    def serial(self) -> str | None:
        """The serial from the last /info read, if any."""
        return self._conn.serial

    @property
    def token_expires_at(self) -> datetime | None:
        """When the token in use expires (None: no token, or no expiry in it)."""
        return self._token_expires_at

    def close(self) -> None:
        """Close the gateway connection."""
        self._conn.close()

    def get(self, path: str) -> HttpResponse:
        """GET `path` from the gateway; every HTTP status comes back as an HttpResponse."""
        if not path.startswith("/"):
            raise ValueError(f"gateway paths start with '/', got {path!r}")
        with self._lock, self._conn.deadline():
            info = self._conn.ensure_ready()
            if info is not None and path == INFO_PATH:
                return info
            response = self._conn.request(path, headers=self._bearer(), auth=self._digest)
            if response.status != 401:
                return response
            return self._on_unauthorized(path, response)

    # -- authentication ----------------------------------------------------------------

    def _bearer(self) -> dict[str, str]:
        # Only over HTTPS: a token sent in plain text could be replayed by anyone listening.
        if self._token is None or not self._conn.uses_tls:
            return {}
        return {"Authorization": f"Bearer {self._token.reveal()}"}

    def _on_unauthorized(self, path: str, refused: HttpResponse) -> HttpResponse:
        challenge = refused.headers.get("www-authenticate", "")
        if challenge.lower().startswith("digest"):
            return self._with_digest(path)
        if not self._conn.uses_tls:
            # Old firmware serves its own 401 pages for absent features; the caller records it.
            return refused
        if self._token is None:
            if self._credentials.can_fetch_token:
                return self._with_fresh_token(path)
            raise TokenError(
                f"Gateway {self.host} needs a token (firmware 7 or later) and none was given: "
                + self._token_hint("fetch")
                + ".",
                host=self.host,
            )
        if not self._token_refused:
            check = self._conn.request(CHECK_JWT_PATH, headers=self._bearer())
            if check.status == 200:
                # Some firmware opens a session (a cookie) only after check_jwt: try once more.
                log.info("token_checked host=%s path=%s", self.host, path)
                return self._conn.request(path, headers=self._bearer())
            self._token_refused = True
            log.warning(
                "token_refused host=%s source=%s expires=%s",
                self.host,
                self._token_source,
                _date(self._token_expires_at),
            )
        if self._credentials.can_fetch_token:
            return self._with_fresh_token(path)
        raise TokenError(
            f"Gateway {self.host} refused the token given by {self._token_source} "
            f"({self._expiry_phrase()}): " + self._token_hint("get a new") + ".",
            host=self.host,
        )

    def _with_fresh_token(self, path: str) -> HttpResponse:
        now = self._clock()
        if self._refresh_failed_at is not None and now - self._refresh_failed_at < (
            REFRESH_COOLDOWN_S
        ):
            raise TokenError(
                f"Gateway {self.host} needs a new token and fetching one from Enlighten "
                "failed less than an hour ago; it will be tried again later, or "
                + self._token_hint("get a new")
                + ".",
                host=self.host,
            )
        serial = self._known_serial()
        username = self._credentials.enlighten_username
        password = self._credentials.enlighten_password
        assert username is not None and password is not None
        from envoylog.client.enlighten import fetch_token

        try:
            token = fetch_token(username, password, serial)
        except CloudError as exc:
            self._refresh_failed_at = now
            raise TokenError(
                f"Gateway {self.host} needs a new token, and Enlighten did not give one: {exc}",
                host=self.host,
            ) from exc
        try:
            self._use_token(Secret(token), "Enlighten")
        except TokenError:
            self._refresh_failed_at = now
            raise
        log.info("token_refreshed host=%s expires=%s", self.host, _date(self._token_expires_at))
        with self._conn.deadline():  # the cloud's time is not the gateway's
            check = self._conn.request(CHECK_JWT_PATH, headers=self._bearer())
            if check.status != 200:
                self._token_refused = True
                self._refresh_failed_at = now
                raise TokenError(
                    f"Gateway {self.host} refused even a token just fetched from Enlighten "
                    f"(HTTP {check.status} from {CHECK_JWT_PATH}): check that the Enlighten "
                    f"account owns the gateway with serial {serial}.",
                    host=self.host,
                )
            return self._conn.request(path, headers=self._bearer())

    def _with_digest(self, path: str) -> HttpResponse:
        # requests' HTTPDigestAuth answers each challenge (a stale nonce too) once by itself:
        # a challenge that comes back while it is in use is a refused password.
        username = self._credentials.digest_username
        if self._digest is None:
            password = self._credentials.digest_password or Secret(self._known_serial()[-6:])
            digest = HTTPDigestAuth(username, password.reveal())
            response = self._conn.request(path, auth=digest)
            if response.status != 401:
                self._digest = digest
                log.info("digest_enabled host=%s user=%s", self.host, username)
                return response
        source = (
            "the configured password"
            if self._credentials.digest_password
            else ("the default password (last 6 digits of the serial)")
        )
        raise AuthError(
            f"Gateway {self.host} refused the digest login of user {username!r} with "
            f"{source} on {path}: set the right digest password.",
            host=self.host,
        )

    def _known_serial(self) -> str:
        if self._conn.serial is None:
            self._conn.request(INFO_PATH)
        serial = self._conn.serial
        if serial is None or len(serial) < 6:
            raise AuthError(
                f"Gateway {self.host} did not give its serial number on {INFO_PATH}, which "
                "is needed for the digest password or a new token: set the digest password, "
                "or give a token with --token / ENVOYLOG_TOKEN.",
                host=self.host,
            )
        return serial

    def _use_token(self, token: Secret | None, source: str) -> None:
        expires_at = None
        if token is not None:
            try:
                expires_at = token_expiry(token)
            except TokenError as exc:
                raise TokenError(
                    f"The token for gateway {self.host} given by {source} cannot be used. {exc}",
                    host=self.host,
                ) from None
        self._token = token
        self._token_source = source
        self._token_refused = False
        self._token_expires_at = expires_at
        if expires_at is None:
            return
        left = days_left(expires_at)
        if left < 0:
            log.warning(
                "token_expired host=%s source=%s expired=%s", self.host, source, _date(expires_at)
            )
        elif left < WARN_DAYS:
            log.warning(
                "token_expiring host=%s source=%s expires=%s days_left=%d",
                self.host,
                source,
                _date(expires_at),
                int(left),
            )

    def _token_hint(self, verb: str) -> str:
        return _TOKEN_HINT.format(verb=verb, serial=self.serial or "SERIAL")

    def _expiry_phrase(self) -> str:
        if self._token_expires_at is None:
            return "its expiry date is unknown"
        if days_left(self._token_expires_at) < 0:
            return f"it expired on {_date(self._token_expires_at)}"
        return f"it expires on {_date(self._token_expires_at)}"


def _date(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d") if moment else "unknown"


def gateway_client(
    host: str,
    credentials: Credentials,
    *,
    pin: bool = True,
    pins: PinStore | None = None,
    retrust: bool = False,
    retries: int = RETRIES,
    deadline_s: float = DEADLINE_S,
) -> GatewayClient:
    """The client every command talks to a gateway through.

    Its HTTPS certificate is pinned on first contact in the state folder's pin file (or
    `pins`), and checked on every connection before any header, the token included, is
    sent; `pin=False` (--no-pin) turns that off, `retrust` accepts a changed certificate.
    """
    store = (pins or PinStore(pin_file())) if pin else None
    return GatewayClient(
        host,
        credentials=credentials,
        pin_store=store,
        retrust=retrust,
        retries=retries,
        deadline_s=deadline_s,
    )
