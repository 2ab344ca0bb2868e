"""`envoylog status`: how logging is going, per gateway."""

from __future__ import annotations

import json
from pathlib import Path

import click

from envoylog.cli.options import database_options, settings_from
from envoylog.paths import status_file
from envoylog.service.status import as_json as status_json
from envoylog.service.status import collect_status, render, token_expiries


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@database_options
def status(db_url: str | None, config_path: Path | None, as_json: bool) -> None:
    """Show each gateway's last poll stored, last error, token expiry and readings in 24 h.

    Also the spool (polls waiting for the database, or set aside), the database size,
    and what became of the service's polls (stored, spooled, set aside, lost, dropped)
    when the running service logs to this database. Reads the database without
    changing it (nor creating it); exits 1 when it cannot be read.
    """
    settings = settings_from(config_path)
    report = collect_status(
        settings.db_url(db_url), status_file(), settings.spool_dir, token_expiries(settings)
    )
    if as_json:
        click.echo(json.dumps(status_json(report), indent=2))
    else:
        click.echo(render(report))
    if report.database_error is not None:
        raise click.exceptions.Exit(1)
