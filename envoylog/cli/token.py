"""`envoylog token`: fetch a gateway token from the Enlighten cloud."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from envoylog.client import save_token, token_expiry
from envoylog.client.enlighten import fetch_token
from envoylog.client.tokens import days_left


@click.command()
@click.option(
    "--serial",
    required=True,
    help="Serial number of the gateway the token is for (on its label, or <sn> in /info).",
)
@click.option(
    "--username",
    required=True,
    help="E-mail address of the Enlighten account that owns the gateway.",
)
@click.option(
    "--password-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="File holding the Enlighten password (default: ask for it, hidden).",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the token to this file, readable by you only (default: print it).",
)
def token(serial: str, username: str, password_file: Path | None, output: Path | None) -> None:
    """Fetch a token for a gateway with firmware 7 or later from Enlighten.

    Accounts with multi-factor login cannot do this: copy a token from the
    Enlighten website instead and give it with --token or ENVOYLOG_TOKEN.
    """
    if password_file is not None:
        password = password_file.read_text(encoding="utf-8").strip()
    else:
        password = click.prompt("Enlighten password", hide_input=True)
    new_token = fetch_token(username, password, serial)
    expires_at = token_expiry(new_token)
    if output is not None:
        save_token(output, new_token)
        click.echo(f"Token written to {output} (mode 0600).", err=True)
    else:
        click.echo(new_token)
    click.echo(_describe_expiry(expires_at), err=True)


def _describe_expiry(expires_at: datetime | None) -> str:
    if expires_at is None:
        return "The token carries no expiry date."
    days = int(days_left(expires_at))
    return f"The token expires on {expires_at:%Y-%m-%d %H:%M} UTC (in {days} days)."
