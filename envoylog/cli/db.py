"""``envoylog db``: create, migrate and inspect the database schema."""

from __future__ import annotations

from pathlib import Path

import click

from envoylog.cli.options import database_options, database_url
from envoylog.db import current, describe, head_revision, upgrade


@click.group("db")
def db() -> None:
    """Create, migrate and inspect the database schema."""


@db.command("upgrade")
@database_options
def upgrade_command(db_url: str | None, config_path: Path | None) -> None:
    """Create the schema, or bring it to this version's newest revision."""
    url = database_url(db_url, config_path)
    revision = upgrade(url)
    click.echo(f"{describe(url)} is at schema revision {revision} (newest).")


@db.command("current")
@database_options
def current_command(db_url: str | None, config_path: Path | None) -> None:
    """Show the database's schema revision."""
    url = database_url(db_url, config_path)
    revision = current(url)
    head = head_revision()
    if revision is None:
        click.echo(f"{describe(url)} has no envoylog schema yet (run: envoylog db upgrade).")
    elif revision == head:
        click.echo(f"{describe(url)} is at schema revision {revision} (newest).")
    else:
        click.echo(
            f"{describe(url)} is at schema revision {revision}; newest is {head} "
            "(run: envoylog db upgrade)."
        )
