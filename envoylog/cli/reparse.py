"""``envoylog reparse``: rebuild readings from the kept raw bodies with today's parsers."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from envoylog.db import open_store, reparse, resolve_db_url


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
@click.option("--db", "db_url", metavar="URL", help="Database URL or SQLite file.")
def reparse_command(since: str | None, db_url: str | None) -> None:
    """Rebuild readings from kept raw bodies; rows already stored are kept."""
    start = _instant(since)
    with open_store(resolve_db_url(db_url)) as store:
        summary = reparse(store, start)
    added = ", ".join(f"{k}={v}" for k, v in summary.as_dict().items() if v)
    click.echo(f"reparse done: {added or 'nothing new'}")
