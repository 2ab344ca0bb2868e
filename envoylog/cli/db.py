"""``envoylog db``: create, migrate and inspect the database schema."""

from __future__ import annotations

import click

from envoylog.db import current, describe, head_revision, resolve_db_url, upgrade

db_option = click.option(
    "--db",
    "db_url",
    metavar="URL",
    help="Database URL or SQLite file (default: $ENVOYLOG_DB, else the state folder's file).",
)


@click.group("db")
def db() -> None:
    """Create, migrate and inspect the database schema."""


@db.command("upgrade")
@db_option
def upgrade_command(db_url: str | None) -> None:
    """Create the schema, or bring it to this version's newest revision."""
    url = resolve_db_url(db_url)
    revision = upgrade(url)
    click.echo(f"{describe(url)} is at schema revision {revision} (newest).")


@db.command("current")
@db_option
def current_command(db_url: str | None) -> None:
    """Show the database's schema revision."""
    url = resolve_db_url(db_url)
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
