"""``envoylog reparse``: rebuild readings from the kept raw bodies with today's parsers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from envoylog.cli.options import database_options, database_url
from envoylog.db import open_store
from envoylog.reparse import reparse


def _instant(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO date or date-time") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


@click.command("reparse")
@click.option("--since", metavar="ISO", help="Only polls from this instant on (UTC if no zone).")
@database_options
def reparse_command(since: str | None, db_url: str | None, config_path: Path | None) -> None:
    """Rebuild readings from kept raw bodies; rows already stored are kept."""
    start = _instant(since)
    with open_store(database_url(db_url, config_path)) as store:
        summary = reparse(store, start)
    added = ", ".join(f"{k}={v}" for k, v in summary.as_dict().items() if v)
    click.echo(f"reparse done: {added or 'nothing new'}")
