"""`envoylog status`: what the service and the database say about each gateway."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from envoylog.db import Spool, describe, open_store
from envoylog.db.status import GatewayStatus, database_bytes, gateway_statuses
from envoylog.errors import DatabaseUnavailable

STATUS_FILE = "status.json"


@dataclass(frozen=True, slots=True)
class Report:
    database: str
    database_bytes: int | None
    database_error: str | None
    gateways: list[GatewayStatus]
    spool_polls: int
    spool_bytes: int
    service: dict[str, Any] | None = None  # the running service's status file, if any
    now: datetime = field(default_factory=lambda: datetime.now(tz=UTC))


def collect_status(db_url: str, state_dir: Path, spool_dir: Path) -> Report:
    """Read the database (without changing it), the spool and the service's status file."""
    now = datetime.now(tz=UTC)
    gateways: list[GatewayStatus] = []
    size: int | None = None
    error: str | None = None
    try:
        with open_store(db_url, migrate=False) as store:
            gateways = gateway_statuses(store, now)
            size = database_bytes(store)
    except DatabaseUnavailable as exc:
        error = str(exc)
    spool = Spool(spool_dir)
    return Report(
        database=describe(db_url),
        database_bytes=size,
        database_error=error,
        gateways=gateways,
        spool_polls=len(spool),
        spool_bytes=spool.size_bytes,
        service=_service_status(state_dir / STATUS_FILE),
        now=now,
    )


def _service_status(path: Path) -> dict[str, Any] | None:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def render(report: Report) -> str:
    """Format a status report for a person."""
    lines = [f"Database   {report.database}"]
    if report.database_error:
        lines.append(f"           unreachable: {report.database_error}")
    elif report.database_bytes is not None:
        lines.append(f"           {report.database_bytes / 1e6:.1f} MB")
    lines.append(
        f"Spool      {report.spool_polls} polls waiting ({report.spool_bytes / 1e3:.0f} kB)"
    )
    service = report.service
    live = service.get("gateways", {}) if service else {}
    if service:
        lines.append(
            f"Service    pid {service.get('pid')}, up since {service.get('started_at')}, "
            f"status written {service.get('updated_at')}"
        )
    else:
        lines.append("Service    no status file (not running, or another state folder)")
    if not report.gateways:
        lines.append("Gateways   none logged yet")
    for gateway in report.gateways:
        running: dict[str, Any] = next(
            (v for v in live.values() if v.get("serial") == gateway.serial), {}
        )
        label = gateway.name or gateway.host
        lines.append(f"Gateway    {label} ({gateway.serial}, firmware {gateway.firmware})")
        lines.append(f"  last good poll   {_when(gateway.last_success_at, report.now)}")
        if gateway.last_error:
            when = _when(gateway.last_error_at, report.now)
            lines.append(f"  last error       {when}: {gateway.last_error}")
        lines.append(f"  readings (24 h)  {gateway.readings_last_24h}")
        if running.get("token_expires_at"):
            lines.append(f"  token expires    {running['token_expires_at'][:10]}")
        if running.get("consecutive_failures"):
            lines.append(
                f"  failing          {running['consecutive_failures']} polls in a row, "
                f"next try {running.get('retry_at')}"
            )
    return "\n".join(lines)


def _when(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    ago = int((now - moment).total_seconds())
    if ago < 120:
        return f"{moment:%Y-%m-%d %H:%M:%S} UTC ({ago} s ago)"
    if ago < 7200:
        return f"{moment:%Y-%m-%d %H:%M:%S} UTC ({ago // 60} min ago)"
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC ({ago // 3600} h ago)"
