"""`envoylog now`: each gateway's power now, energy today so far, and its last poll."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import click

from envoylog import now as library
from envoylog.cli.options import (
    database_options,
    gateway_filter,
    settings_from,
    timezone_overrides,
)
from envoylog.db.exports import open_existing

sleep: Callable[[float], None] = time.sleep  # tests replace it


@click.command("now")
@gateway_filter
@click.option("--watch", is_flag=True, help="Refresh every --interval seconds until Ctrl-C.")
@click.option(
    "--interval",
    type=click.FloatRange(1, 3600),
    default=10,
    show_default=True,
    help="Seconds between refreshes with --watch.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines (no --watch).")
@database_options
def now(
    gateways: tuple[str, ...],
    watch: bool,
    interval: float,
    as_json: bool,
    config_path: Path | None,
    db_url: str | None,
) -> None:
    """Show each gateway's power now, today's energy so far and the age of its last poll.

    Power is the latest reading of each flow (production, consumption, grid,
    battery with its state of charge where known); today is the gateway's local
    day, computed from its counters as the rollup would.
    """
    if watch and as_json:
        raise click.UsageError("--json prints once: leave out --watch")
    settings = settings_from(config_path)
    zones = timezone_overrides(settings)
    with open_existing(settings.db_url(db_url), settings.store_options()) as store:
        try:
            while True:
                moment = datetime.now(UTC)
                items = library.current(store, moment, gateways=gateways, timezone_override=zones)
                if as_json:
                    click.echo(json.dumps(library.as_json(items, moment), indent=2))
                    return
                if watch:
                    click.clear()
                click.echo(library.render(items, moment))
                if not watch:
                    return
                sleep(interval)
        except KeyboardInterrupt:
            return
