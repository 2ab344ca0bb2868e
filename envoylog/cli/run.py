"""`envoylog run`: the long-running logging service."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import click

from envoylog.cli.options import database_options, required_config
from envoylog.client.pinning import flush_all as flush_pins
from envoylog.service import systemd
from envoylog.service.build import build_service

log = logging.getLogger(__name__)


@click.command()
@database_options
def run(db_url: str | None, config_path: Path | None) -> None:
    """Log every configured gateway until stopped (SIGTERM or Ctrl-C).

    Each endpoint is polled at its own cadence, the polls are stored (or spooled
    while the database is down), and systemd is told when the service is ready
    and healthy. On SIGTERM no endpoint is asked any more, the polls in flight are
    stored with what they got, and the service exits 0 within 30 s.
    """
    path, settings = required_config(config_path)
    if not settings.enabled_gateways:
        raise click.ClickException(f"{path}: no enabled [[gateway]]; add one with name and host.")
    logging.getLogger().setLevel(
        min(logging.getLogger().level, logging.getLevelName(settings.log_level.upper()))
    )
    service = build_service(settings, settings.db_url(db_url), notifier=systemd)
    signal.signal(signal.SIGTERM, service.request_stop)
    signal.signal(signal.SIGINT, service.request_stop)
    service.start()
    systemd.ready()
    systemd.status(f"logging {len(service.jobs)} gateway(s)")
    try:
        service.wait()
    finally:
        systemd.stopping()
        clean = service.stop()
        flush_pins()  # pins made in the last second (os._exit below skips atexit)
    if service.abandoned:
        # A request still hangs (its poll is stored with what it got): its thread would
        # hold the interpreter's exit until the request's own deadline. Nothing else is
        # left to do: the spool is durable, the database closed, the logs flushed here.
        logging.shutdown()
        os._exit(0 if clean else 1)
    if not clean:
        raise click.ClickException(
            "the store worker had died; the polls it had not stored are in the spool"
        )
