"""``envoylog spool``: the polls that wait for the database, or were set aside."""

from __future__ import annotations

from pathlib import Path

import click

from envoylog.cli.options import database_options, settings_from
from envoylog.db import Writer, describe


@click.group("spool")
def spool() -> None:
    """Polls waiting in the spool for the database, and polls set aside."""


@spool.command("retry")
@database_options
def retry_command(db_url: str | None, config_path: Path | None) -> None:
    """Store the polls set aside for the database, and any still waiting.

    A poll is set aside (a .bad file, its reason in a .reason file beside it) when the
    database refused it or storing it failed unexpectedly: `envoylog status` counts
    them. Run this after upgrading envoylog: each is tried again in arrival order;
    those refused again are set aside again with the new reason. Exits non-zero when
    the database cannot be reached or a poll is still set aside.
    """
    settings = settings_from(config_path)
    url = settings.db_url(db_url)
    writer = Writer(url, settings.spool_dir, options=settings.store_options())
    try:
        retried = writer.spool.retry_set_aside()
        waiting = len(writer.spool)
        result = writer.replay()
    finally:
        writer.close()
    if result.error is not None:
        raise click.ClickException(
            f"{result.error}; the {waiting} polls stay in {writer.spool.directory}"
        )
    again = writer.spool.set_aside_files()
    click.echo(
        f"{describe(url)}: {result.replayed} of {waiting} polls stored "
        f"({retried} of them had been set aside)."
    )
    if again:
        for bad in again:
            click.echo(f"  still set aside: {bad.name}: {writer.spool.reason(bad)}")
        raise click.ClickException(
            f"{len(again)} polls are still set aside in {writer.spool.directory}."
        )
