"""The loaded configuration: frozen settings for the service and each gateway."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from types import MappingProxyType

from envoylog.client.credentials import Credentials, Secret
from envoylog.config import table
from envoylog.db.engine import EngineOptions
from envoylog.db.store import StoreOptions
from envoylog.db.url import resolve_db_url
from envoylog.errors import ConfigError


def default_cadences() -> Mapping[str, int]:
    return MappingProxyType({s.key: s.default or 0 for s in table.CADENCES})


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """One [[gateway]] table, validated; `cadences` holds every endpoint, overrides applied."""

    name: str
    host: str
    token: Secret | None = None
    token_file: Path | None = None
    token_from_env: bool = False  # `token` came from $ENVOYLOG_TOKEN
    enlighten_username: str | None = None
    enlighten_password_file: Path | None = None
    digest_password: Secret | None = None
    timezone: str | None = None
    cadences: Mapping[str, int] = field(default_factory=default_cadences)
    enabled: bool = table.ENABLED.default_value
    request_deadline_s: int = table.REQUEST_DEADLINE_S.default_value

    @property
    def auth_kind(self) -> str:
        """Say how this gateway authenticates, without a secret."""
        if self.token_file is not None:
            how = f"token file {self.token_file}"
        elif self.token is not None:
            how = "token from $ENVOYLOG_TOKEN" if self.token_from_env else "token (inline)"
        else:
            password = "configured" if self.digest_password else "last 6 digits of the serial"
            how = f"none, or HTTP Digest for firmware before 7 (password: {password})"
        if self.enlighten_username:
            how += f"; new tokens from Enlighten as {self.enlighten_username}"
        return how


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the service needs besides the command line; build it with load_settings."""

    source: Path | None  # the file read, None for built-in defaults
    database: str | None
    spool_dir: Path
    spool_max_bytes: int
    raw_body_days: float
    rollup_interval_s: int
    full_resolution_days: int
    compaction_step_s: int
    sqlite_synchronous: str
    db_timeout_s: int
    db_connect_timeout_s: int
    quiet_start: time
    quiet_end: time
    log_level: str
    cadences: Mapping[str, int]
    poll_deadline_s: int
    max_backoff_s: int
    request_deadline_s: int
    gateways: tuple[GatewaySettings, ...] = ()

    @property
    def enabled_gateways(self) -> tuple[GatewaySettings, ...]:
        return tuple(g for g in self.gateways if g.enabled)

    def db_url(self, flag: str | None = None) -> str:
        """The database URL: --db flag, then $ENVOYLOG_DB, then this file, then the default."""
        return resolve_db_url(flag, self.database)

    def store_options(self) -> StoreOptions:
        return StoreOptions(
            engine=EngineOptions(
                sqlite_synchronous=self.sqlite_synchronous,
                connect_timeout_s=self.db_connect_timeout_s,
                timeout_s=self.db_timeout_s,
            ),
            raw_body_days=self.raw_body_days,
        )


def credentials_for(gateway: GatewaySettings) -> Credentials:
    """Build the client's Credentials for one gateway (reads the Enlighten password file)."""
    password: str | None = None
    if gateway.enlighten_password_file is not None:
        path = gateway.enlighten_password_file
        try:
            password = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"gateway {gateway.name}: cannot read the Enlighten password file {path} "
                f"({exc.strerror or exc}); check the path and its permissions."
            ) from exc
    return Credentials(
        token=gateway.token,
        token_file=gateway.token_file,
        digest_password=gateway.digest_password,
        enlighten_username=gateway.enlighten_username,
        enlighten_password=password,
    )
