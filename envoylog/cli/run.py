"""`envoylog run`: the long-running logging service."""

from __future__ import annotations

import logging
import signal
from pathlib import Path

import click

from envoylog import systemd
from envoylog.config import find_config_file, load_settings
from envoylog.service import build_service

log = logging.getLogger(__name__)


@click.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Config file (default: $ENVOYLOG_CONFIG, /etc/envoylog/envoylog.toml, per-user file).",
)
@click.option(
    "--db",
    "db_url",
    metavar="URL",
    help="Database URL or SQLite file (overrides $ENVOYLOG_DB and the config file).",
)
def run(config_path: Path | None, db_url: str | None) -> None:
    """Log every configured gateway until stopped (SIGTERM or Ctrl-C).

    Each endpoint is polled at its own cadence, the polls are stored (or spooled
    while the database is down), and systemd is told when the service is ready
    and healthy. On SIGTERM the poll in flight is finished and stored, then the
    service exits 0.
    """
    path = find_config_file(config_path)
    if path is None:
        raise click.ClickException(
            "No config file found (--config, $ENVOYLOG_CONFIG, /etc/envoylog/envoylog.toml, "
            "~/.config/envoylog/envoylog.toml); create one from deploy/envoylog.example.toml."
        )
    settings = load_settings(path)
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
        service.stop()
