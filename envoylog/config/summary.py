"""What `envoylog config check` shows of the settings as understood (never a secret)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from envoylog.config.model import GatewaySettings, Settings
from envoylog.db import describe
from envoylog.db.url import ENV_VAR as DB_ENV


def database_source(settings: Settings, flag: str | None = None) -> str:
    """Say which of --db, $ENVOYLOG_DB, the file or the default decides the database."""
    if flag:
        return "--db"
    if os.environ.get(DB_ENV, "").strip():
        return f"${DB_ENV}"
    return "the config file" if settings.database else "the default"


def summarise(settings: Settings, db_url: str, db_source: str) -> str:
    """The settings as a person reads them; secrets never appear."""
    mib = settings.spool_max_bytes / (1024 * 1024)
    quiet = (
        "none"
        if settings.quiet_start == settings.quiet_end
        else f"{settings.quiet_start:%H:%M}-{settings.quiet_end:%H:%M} gateway local time"
    )
    lines = [
        f"Config file   {settings.source or 'none (built-in defaults)'}",
        f"Database      {describe(db_url)} (from {db_source})",
        f"Spool         {settings.spool_dir}, at most {mib:g} MiB",
        f"Raw bodies    kept {settings.raw_body_days:g} days",
        f"Energy tables {_rollups(settings.rollup_interval_s)}",
        f"Quiet window  {quiet}",
        f"Log level     {settings.log_level}",
        f"Cadences      {_cadences(settings.cadences)}",
        f"Requests      {settings.request_deadline_s} s at most each, retries included",
        f"Gateways      {len(settings.gateways)} ({len(settings.enabled_gateways)} enabled)",
    ]
    for gateway in settings.gateways:
        lines += _gateway(gateway, settings)
    return "\n".join(lines)


_OWN_ZONE = "the gateway's own (/home)"


def _gateway(gateway: GatewaySettings, settings: Settings) -> list[str]:
    changed = {k: v for k, v in gateway.cadences.items() if settings.cadences.get(k) != v}
    return [
        f"  {gateway.name}{'' if gateway.enabled else ' (disabled, not polled)'}",
        f"    host      {gateway.host}",
        f"    auth      {gateway.auth_kind}",
        f"    timezone  {gateway.timezone or _OWN_ZONE}",
        f"    cadences  {_cadences(changed) + ', others' if changed else 'all'} as [cadence]",
    ] + (
        [f"    requests  {gateway.request_deadline_s} s at most each"]
        if gateway.request_deadline_s != settings.request_deadline_s
        else []
    )


def _cadences(cadences: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {'off' if s == 0 else f'{s}s'}" for name, s in cadences.items())


def _rollups(interval_s: int) -> str:
    if interval_s == 0:
        return "updated only by `envoylog rollup`"
    return (
        f"updated every {interval_s // 60} min"
        if interval_s % 60 == 0
        else (f"updated every {interval_s} s")
    )
