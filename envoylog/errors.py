"""The one exception tree of envoylog.

Every message says what went wrong and where (gateway, endpoint, file, key), and
what to do when there is something to do. Secrets never appear in messages.
"""

from __future__ import annotations


class EnvoylogError(Exception):
    """Root of every error envoylog raises on purpose."""


class ConfigError(EnvoylogError):
    """A configuration file, option or environment variable is wrong."""


class UnknownGateway(ConfigError):
    """No gateway in the database has the name or serial asked for."""


class GatewayError(EnvoylogError):
    """Talking to a gateway failed."""

    def __init__(self, message: str, *, host: str | None = None) -> None:
        super().__init__(message)
        self.host = host


class GatewayUnreachable(GatewayError):
    """The gateway could not be connected to, or did not answer in time."""


class GatewayTimeout(GatewayUnreachable):
    """The gateway accepted the connection but did not answer in time."""


class BadAnswer(GatewayError):
    """One answer was unusable (broken framing, far too large); other requests may work."""


class NotAnEnvoy(GatewayError):
    """Something answered, but it is not an Enphase gateway."""


class AuthError(GatewayError):
    """The gateway refused our credentials, or none were configured when needed."""


class TokenError(AuthError):
    """A JWT token is missing, malformed, expired, or could not be obtained."""


class CertificateMismatch(GatewayError):
    """The gateway's TLS certificate differs from the pinned one."""


class CloudError(EnvoylogError):
    """The Enlighten cloud refused or failed a login or token request."""


class ParseError(EnvoylogError):
    """An endpoint's body is not what that endpoint should send."""

    def __init__(self, endpoint: str, problem: str, *, excerpt: str | None = None) -> None:
        message = f"{endpoint}: {problem}"
        if excerpt:
            message += f" (body starts: {excerpt!r})"
        super().__init__(message)
        self.endpoint = endpoint
        self.problem = problem
        self.excerpt = excerpt


class StorageError(EnvoylogError):
    """The database could not be opened, migrated, read or written."""


class DatabaseUnavailable(StorageError):
    """The database cannot be reached or written right now; the spool takes over."""


class ChangedMeanwhile(DatabaseUnavailable):
    """A snapshot transaction (``Store.transaction(snapshot=True)``) met a row another
    transaction changed since it began (PostgreSQL's SQLSTATE 40001); it was rolled back."""


class SchemaError(StorageError):
    """The database schema is not one this version of envoylog can use."""


class SpoolError(StorageError):
    """The on-disk spool could not be written or read."""
