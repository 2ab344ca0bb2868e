"""What `envoylog config check` shows: the settings as understood, and each gateway reached."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from envoylog.client import GatewayClient
from envoylog.config.model import GatewaySettings, Settings, credentials_for
from envoylog.db import describe
from envoylog.db.url import ENV_VAR as DB_ENV
from envoylog.errors import EnvoylogError
from envoylog.probe import ProbeReport, probe


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
    ]


def _cadences(cadences: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {'off' if s == 0 else f'{s}s'}" for name, s in cadences.items())


@dataclass(frozen=True, slots=True)
class Reached:
    """What reaching one gateway gave: a report, or the error that stopped it."""

    gateway: GatewaySettings
    report: ProbeReport | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.report is not None and self.report.data_endpoints_ok > 0


def reach(gateway: GatewaySettings, *, retries: int = 0) -> Reached:
    """Read every endpoint of one gateway once, with its configured credentials."""
    try:
        with GatewayClient(
            gateway.host, credentials=credentials_for(gateway), retries=retries
        ) as client:
            return Reached(gateway, probe(client, gateway.host), None)
    except EnvoylogError as exc:
        return Reached(gateway, None, str(exc))


def render_reached(reached: Reached) -> str:
    """One block per gateway: its identity and which endpoints answered."""
    gateway = reached.gateway
    lines = [f"Gateway {gateway.name} ({gateway.host})"]
    report = reached.report
    if report is None:
        return "\n".join([*lines, f"  unreachable  {reached.error}"])
    metered = {True: "yes", False: "no", None: "unknown"}[report.metered]
    answered = [e.name for e in report.endpoints if e.ok]
    lines += [
        f"  serial       {report.serial}",
        f"  firmware     {report.firmware}",
        f"  metered      {metered}",
        f"  answered     {', '.join(answered) or 'nothing'}",
    ]
    lines += [f"  failed       {e.name}: {e.error}" for e in report.endpoints if not e.ok]
    if not reached.ok:
        lines.append("  no data      only /info answered; check the gateway's auth settings")
    return "\n".join(lines)


def _rollups(interval_s: int) -> str:
    if interval_s == 0:
        return "updated only by `envoylog rollup`"
    return (
        f"updated every {interval_s // 60} min"
        if interval_s % 60 == 0
        else (f"updated every {interval_s} s")
    )
