"""Poll gateways and store the results: the one path every logging command takes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from envoylog.client import gateway_client
from envoylog.config import GatewaySettings, Settings, credentials_for
from envoylog.db import Writer, WriteResult, describe, open_store
from envoylog.db.claims import GatewayClaims, claims_for
from envoylog.db.save import SaveSummary
from envoylog.errors import DatabaseUnavailable
from envoylog.oslimits import raise_open_files
from envoylog.paths import spool_dir, status_file
from envoylog.poller import Clock, Fetcher, GatewayState, PollControl, poll_once, utc_now
from envoylog.records import PollResult
from envoylog.service import systemd
from envoylog.service.jobs import DEFAULT_TICK_S, POLL_DEADLINE_S, GatewayJob, QuietWindow
from envoylog.service.scheduler import HEARTBEAT_S, Service
from envoylog.service.worker import QUEUE_MIN, StoreWorker

log = logging.getLogger(__name__)

MIN_TICK_S = 5
FILES_BESIDES_GATEWAYS = 256


@dataclass(frozen=True, slots=True)
class Collected:
    poll: PollResult
    write: WriteResult

    @property
    def summary(self) -> SaveSummary:
        return self.write.summary


def open_writer(db_url: str, spool: Path | None = None) -> Writer:
    """A Writer for ``db_url`` that falls back to the spool folder when the database is down."""
    return Writer(db_url, spool or spool_dir())


def collect(
    client: Fetcher,
    state: GatewayState,
    writer: Writer,
    *,
    clock: Clock = utc_now,
    deadline_s: float | None = POLL_DEADLINE_S,
) -> Collected:
    """Poll one gateway once (within ``deadline_s``) and store (or spool) everything it gave."""
    poll = poll_once(client, state, clock=clock, control=PollControl(deadline_s=deadline_s))
    return Collected(poll=poll, write=writer.write(poll))


def check_database(db_url: str, settings: Settings) -> bool:
    """Bring the database to the current schema; False (polls will spool) when it is down.

    A database envoylog must not touch (not SQLite, a newer schema) raises SchemaError.
    """
    try:
        open_store(db_url, settings.store_options()).close()
    except DatabaseUnavailable as exc:
        log.warning("database_unavailable_at_start spooling=yes error=%s", exc)
        return False
    return True


def gateway_job(
    gateway: GatewaySettings,
    settings: Settings,
    worker: StoreWorker,
    *,
    clock: Clock = utc_now,
    claims: GatewayClaims | None = None,
) -> GatewayJob:
    """Build the polling job (and its client) for one configured gateway; with ``claims``,
    it polls only while no other process does."""
    client = gateway_client(
        gateway.host, credentials_for(gateway), deadline_s=gateway.request_deadline_s
    )
    quiet = None
    if settings.quiet_start != settings.quiet_end:
        quiet = QuietWindow(settings.quiet_start, settings.quiet_end)
    positive = [c for c in gateway.cadences.values() if c > 0]
    return GatewayJob(
        name=gateway.name,
        client=client,
        submit=worker.submit,
        cadences=gateway.cadences,
        tick_s=max(MIN_TICK_S, min(positive, default=DEFAULT_TICK_S)),
        timezone=gateway.timezone,
        quiet=quiet,
        max_backoff_s=settings.max_backoff_s,
        poll_deadline_s=settings.poll_deadline_s,
        clock=clock,
        token_expires_at=lambda: client.token_expires_at,
        claim=None if claims is None else lambda serial: claims.claim(serial, gateway=gateway.name),
    )


def build_service(settings: Settings, db_url: str, *, notifier: object = None) -> Service:
    """Everything `envoylog run` runs: the writer, its spool, and one job per gateway."""
    check_database(db_url, settings)
    writer = Writer(
        db_url,
        settings.spool_dir,
        max_bytes=settings.spool_max_bytes,
        options=settings.store_options(),
    )
    writer.spool.adopt_legacy()
    zones = {g.name: g.timezone for g in settings.gateways if g.timezone}
    gateways = len(settings.enabled_gateways)
    # Other processes may log other gateways (or, by mistake, the same) to a PostgreSQL.
    claims = claims_for(db_url, settings.store_options().engine)
    worker = StoreWorker(
        writer,
        timezones=zones,
        rollup_interval_s=settings.rollup_interval_s or None,
        queue_size=max(QUEUE_MIN, gateways),  # a tick of the fleet
        own_gateways_only=claims is not None,
        full_resolution_days=settings.full_resolution_days or None,
        compaction_step=timedelta(seconds=settings.compaction_step_s),
    )
    jobs = [gateway_job(g, settings, worker, claims=claims) for g in settings.enabled_gateways]
    _check_open_files(len(jobs))
    log.info("service_built database=%r gateways=%d", describe(db_url), len(jobs))
    watchdog = systemd.watchdog_interval()
    # Ping at half the watchdog interval (sd_watchdog_enabled(3)); 15 s keeps the status fresh.
    heartbeat_s = min(HEARTBEAT_S, watchdog / 2) if watchdog else HEARTBEAT_S
    return Service(
        jobs,
        worker,
        status_file=status_file(),
        notifier=notifier,
        heartbeat_s=heartbeat_s,
        claims=claims,
    )


def _check_open_files(gateways: int) -> None:
    # One keep-alive connection per gateway, plus the database, the spool and the logs.
    wanted = gateways + FILES_BESIDES_GATEWAYS
    allowed = raise_open_files(wanted)
    if allowed < wanted:
        log.warning(
            "open_files_limit gateways=%d limit=%d wanted=%d: some gateways will fail with "
            "'Too many open files'; raise LimitNOFILE= in the systemd unit (or ulimit -n)",
            gateways,
            allowed,
            wanted,
        )
