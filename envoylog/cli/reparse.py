"""``envoylog reparse``: rebuild readings from the kept raw bodies with today's parsers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from envoylog.cli.options import ISO_INSTANT, database_options, database_url
from envoylog.db import open_store
from envoylog.reparse import reparse


@click.command("reparse")
@click.option(
    "--since", type=ISO_INSTANT, help="Only polls from this instant on (UTC if no offset)."
)
@database_options
def reparse_command(since: datetime | None, db_url: str | None, config_path: Path | None) -> None:
    """Rebuild readings from kept raw bodies; rows already stored are kept."""
    start = since.replace(tzinfo=UTC) if since and since.tzinfo is None else since
    with open_store(database_url(db_url, config_path)) as store:
        summary = reparse(store, start)
    added = ", ".join(f"{k}={v}" for k, v in summary.as_dict().items() if v)
    click.echo(f"reparse done: {added or 'nothing new'}")
