"""`envoylog status`: what the service and the database say about each gateway."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from envoylog.client import token_expiry
from envoylog.config import Settings, credentials_for
from envoylog.db import EngineOptions, StoreOptions, describe, open_store
from envoylog.db.deadline import deadline
from envoylog.db.engine import database_key
from envoylog.db.spool import SpoolFolder, spool_folders
from envoylog.db.status import GatewayStatus, database_bytes, gateway_statuses
from envoylog.errors import EnvoylogError, StorageError
from envoylog.service.scheduler import LATE_LIMIT_S

# A poll made this long after the last one stored and still not in the database is shown.
NOT_STORED_AFTER = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Report:
    database: str
    database_bytes: int | None
    database_error: str | None
    gateways: list[GatewayStatus]
    spool_polls: int
    spool_bytes: int
    other_spools: list[SpoolFolder] = field(default_factory=list)  # other databases' polls
    set_aside: int = 0  # polls kept aside for this database (.bad files)
    set_aside_reasons: tuple[str, ...] = ()  # newest first
    service: dict[str, Any] | None = None  # the running service's status file, if any
    token_expiry: dict[str, datetime | None] = field(default_factory=dict)  # by gateway name
    database_key: str = ""  # the database's address (engine.database_key): whose service
    now: datetime = field(default_factory=lambda: datetime.now(tz=UTC))


def token_expiries(settings: Settings) -> dict[str, datetime | None]:
    """Each configured gateway's token expiry (None: no token, or unreadable)."""
    found: dict[str, datetime | None] = {}
    for gateway in settings.gateways:
        try:
            token, _ = credentials_for(gateway).resolve_token()
            found[gateway.name] = token_expiry(token) if token is not None else None
        except EnvoylogError:
            found[gateway.name] = None
    return found


def collect_status(
    db_url: str,
    status_path: Path,
    spool_dir: Path,
    tokens: dict[str, datetime | None] | None = None,
) -> Report:
    """Read the database (without changing it), the spool and the service's status file."""
    now = datetime.now(tz=UTC)
    gateways: list[GatewayStatus] = []
    size: int | None = None
    error: str | None = None
    reader = StoreOptions(engine=EngineOptions(read_only=True))
    try:
        with (
            open_store(db_url, reader, migrate=False) as store,
            deadline(store.engine, reader.engine.timeout_s, "reading the status"),
        ):
            gateways = gateway_statuses(store, now)
            size = database_bytes(store)
    except StorageError as exc:  # unreachable, missing, not envoylog's, or newer
        error = str(exc)
    key = database_key(db_url)
    folders = spool_folders(spool_dir)
    mine = [f for f in folders if f.database == key]
    return Report(
        database=describe(db_url),
        database_bytes=size,
        database_error=error,
        gateways=gateways,
        spool_polls=sum(f.pending for f in mine),
        spool_bytes=sum(f.pending_bytes for f in mine),
        other_spools=[f for f in folders if f.database != key and f.pending],
        set_aside=sum(f.set_aside for f in mine),
        set_aside_reasons=tuple(r for f in mine for r in f.reasons),
        service=_service_status(status_path),
        database_key=key,
        token_expiry=tokens or {},
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
        lines.append(f"           cannot be read: {report.database_error}")
    elif report.database_bytes is not None:
        lines.append(f"           {report.database_bytes / 1e6:.1f} MB")
    lines.append(
        f"Spool      {report.spool_polls} polls waiting ({report.spool_bytes / 1e3:.0f} kB)"
    )
    if report.set_aside:
        lines.append(
            f"           {report.set_aside} polls set aside (not stored; "
            "`envoylog spool retry` tries them again after an upgrade), the latest because:"
        )
        lines.append(f"           {report.set_aside_reasons[0]}")
    for other in report.other_spools:
        lines.append(
            f"           {other.pending} more waiting for another database, {other.database} "
            f"({other.directory})"
        )
    service = report.service
    ours = _ours(report)
    if service is None:
        lines.append("Service    no status file (not running, or another state folder)")
    elif not ours:
        state = "running" if service.get("running") else "stopped"
        lines.append(
            f"Service    {state} (pid {service.get('pid')}), logging to "
            f"{service.get('database') or 'an unnamed database'}, not this one: "
            "not described here"
        )
    else:
        if service.get("running"):
            lines.append(
                f"Service    running (pid {service.get('pid')}) since "
                f"{service.get('started_at')}, last heartbeat {service.get('updated_at')}"
            )
            if service.get("unhealthy_reason"):
                lines.append(f"           UNHEALTHY: {service['unhealthy_reason']}")
        else:
            lines.append(f"Service    stopped at {service.get('updated_at')}")
        lines.append(f"           since its start: {_counts(service)}")
        if service.get("polls_lost"):
            lines.append(f"           the last poll lost: {service.get('last_loss')}")
    live = service.get("gateways", {}) if service and ours else {}
    if not report.gateways:
        lines.append("Gateways   none logged yet")
    for gateway in report.gateways:
        running: dict[str, Any] = next(
            (v for v in live.values() if v.get("serial") == gateway.serial), {}
        )
        label = gateway.name or gateway.host
        lines.append(f"Gateway    {label} ({gateway.serial}, firmware {gateway.firmware})")
        stored = gateway.last_success_at
        lines.append(f"  last poll stored {_when(stored, report.now)}")
        if running.get("polled_elsewhere"):
            lines.append(
                f"  not polled here  polled by another envoylog process "
                f"({running['polled_elsewhere']})"
            )
        made = _instant(running.get("last_success_at"))
        if made is not None and (stored is None or made - stored > NOT_STORED_AFTER):
            lines.append(
                f"  last poll made   {_when(made, report.now)}, not in the database "
                "(waiting in the spool, set aside or lost: see above)"
            )
        if gateway.last_error:
            when = _when(gateway.last_error_at, report.now)
            lines.append(f"  last error       {when}: {gateway.last_error}")
        lines.append(f"  readings (24 h)  {gateway.readings_last_24h}")
        if gateway.battery_soc_pct is not None and gateway.battery_soc_at is not None:
            when = _when(gateway.battery_soc_at, report.now)
            lines.append(f"  battery          {gateway.battery_soc_pct:.0f} % at {when}")
        expires = report.token_expiry.get(gateway.name or "")
        if expires is not None:
            lines.append(
                f"  token expires    {expires:%Y-%m-%d} ({(expires - report.now).days} days)"
            )
        elif running.get("token_expires_at"):
            lines.append(f"  token expires    {running['token_expires_at'][:10]}")
        if running.get("consecutive_failures"):
            lines.append(
                f"  failing          {running['consecutive_failures']} polls in a row, "
                f"next try {running.get('retry_at')}"
            )
    return "\n".join(lines)


def _ours(report: Report) -> bool:
    """Whether the service's status file is that of a service logging to this database."""
    service = report.service
    return service is not None and service.get("database_key") == report.database_key


def _instant(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _counts(service: dict[str, Any]) -> str:
    """What became of the service's polls since it started (status.json's counters)."""
    names = (
        ("polls_written", "stored"),
        ("polls_spooled", "spooled"),
        ("polls_set_aside", "set aside"),
        ("polls_lost", "LOST"),
        ("polls_dropped", "dropped from the full spool"),
        ("ticks_skipped", f"not made (over {LATE_LIMIT_S} s late)"),
        ("first_polls_held", "first polls held a tick (the store was behind)"),
    )
    return ", ".join(f"{int(service.get(key) or 0)} {label}" for key, label in names)


def as_json(report: Report) -> dict[str, Any]:
    """The status for machines (`envoylog status --json`): instants in ISO 8601 UTC, sizes in
    bytes, ages in seconds; the running service's own status file under ``service``."""

    def instant(moment: datetime | None) -> str | None:
        return None if moment is None else moment.astimezone(UTC).isoformat()

    def age(moment: datetime | None) -> float | None:
        return None if moment is None else round((report.now - moment).total_seconds(), 1)

    service = report.service if _ours(report) else None
    live = (service or {}).get("gateways", {})
    gateways = []
    for g in report.gateways:
        running: dict[str, Any] = next(
            (v for v in live.values() if v.get("serial") == g.serial), {}
        )
        expires = report.token_expiry.get(g.name or "")
        gateways.append(
            {
                "serial": g.serial,
                "name": g.name,
                "host": g.host,
                "firmware": g.firmware,
                "last_success_at": instant(g.last_success_at),
                "last_success_age_s": age(g.last_success_at),
                "last_poll_at": instant(g.last_poll_at),
                "last_error": g.last_error,
                "last_error_at": instant(g.last_error_at),
                "readings_last_24h": g.readings_last_24h,
                "battery_soc_pct": g.battery_soc_pct,
                "battery_soc_at": instant(g.battery_soc_at),
                "token_expires_at": instant(expires) or running.get("token_expires_at"),
                "consecutive_failures": running.get("consecutive_failures", 0),
                "polled_elsewhere": running.get("polled_elsewhere"),
            }
        )
    return {
        "now": instant(report.now),
        "database": report.database,
        "database_bytes": report.database_bytes,
        "database_error": report.database_error,
        "spool": {
            "polls": report.spool_polls,
            "bytes": report.spool_bytes,
            "set_aside": report.set_aside,
        },
        "service": service,  # only the status file of a service logging to this database
        "gateways": gateways,
    }


def _when(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    ago = int((now - moment).total_seconds())
    if ago < 120:
        return f"{moment:%Y-%m-%d %H:%M:%S} UTC ({ago} s ago)"
    if ago < 7200:
        return f"{moment:%Y-%m-%d %H:%M:%S} UTC ({ago // 60} min ago)"
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC ({ago // 3600} h ago)"
