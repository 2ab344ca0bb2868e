"""`envoylog poll`: one complete poll of a gateway, stored."""

from __future__ import annotations

from pathlib import Path

import click

from envoylog.cli.options import database_options, gateway_options, settings_from, with_client
from envoylog.cli.progress import WaitNotice
from envoylog.client import GatewayClient
from envoylog.db import WriteStatus, describe
from envoylog.poller import GatewayState, no_data_error
from envoylog.service.build import Collected, collect, open_writer


@click.command()
@gateway_options
@database_options
@click.option(
    "--spool",
    "spool_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where polls wait while the database is down (default: the config's spool_dir).",
)
@click.option("--name", help="A name for this gateway in the database (default: none).")
@with_client
def poll(
    client: GatewayClient,
    host: str,
    db_url: str | None,
    config_path: Path | None,
    spool_dir: Path | None,
    name: str | None,
) -> None:
    """Poll every endpoint the gateway supports once and store what it gave.

    Prints the rows stored per table and the endpoints that failed, and why, and a
    line while an endpoint keeps it waiting. Exits 0 when the poll was stored with
    readings; non-zero when it could not be stored, or when only /info answered (a
    refused or expired token).
    """
    settings = settings_from(config_path)
    url = settings.db_url(db_url)
    writer = open_writer(url, spool_dir or settings.spool_dir)
    try:
        state = GatewayState(host=host, name=name)
        limit = f"the poll gives up on its endpoints after {settings.poll_deadline_s} s"
        watched = WaitNotice(client, limit=limit)
        collected = collect(watched, state, writer, deadline_s=settings.poll_deadline_s)
    finally:
        writer.close()
    click.echo(render(collected, describe(url)))
    write = collected.write
    no_data = no_data_error(collected.poll)
    if write.status is WriteStatus.SPOOLED:
        raise click.ClickException(
            f"{write.error}; the poll is kept in the spool at {writer.spool.directory} "
            "and is stored by the next poll (or the service) once the database answers."
        )
    if write.status is WriteStatus.LOST:
        raise click.ClickException(
            f"The poll was lost: the database did not store it and the spool could not keep "
            f"it ({write.error}); free space in {writer.spool.directory}."
        )
    if write.status is WriteStatus.SET_ASIDE:
        raise click.ClickException(
            f"The poll was not stored: {write.error}. It is set aside in "
            f"{writer.spool.directory}; `envoylog spool retry` tries it again (after an "
            "upgrade of envoylog)."
        )
    if no_data is not None:
        raise click.ClickException(
            f"Gateway {host} answered only /info, so this poll holds no readings: {no_data}"
        )


def render(collected: Collected, where: str) -> str:
    """Say what a poll gave and where it went, for a person."""
    poll = collected.poll
    answered = sum(1 for e in poll.endpoints if e.ok)
    lines = [
        f"Polled gateway {poll.gateway.serial} at {poll.gateway.host}: "
        f"{answered} of {len(poll.endpoints)} endpoints answered "
        f"in {(poll.finished_at - poll.started_at).total_seconds():.1f} s."
    ]
    if collected.write.status is WriteStatus.STORED:
        rows = {k: v for k, v in collected.summary.as_dict().items() if v and k != "skipped_polls"}
        lines.append(f"Stored in {where}:" if rows else f"Nothing new for {where}.")
        lines.extend(f"  {table:<18} {count:>6}" for table, count in rows.items())
        replayed = collected.write.replayed
        if replayed:
            noun = "poll" if replayed == 1 else "polls"
            lines.append(f"  (including {replayed} earlier {noun} replayed from the spool)")
    failed = [e for e in poll.endpoints if not e.ok]
    if failed:
        lines.append("Failed endpoints:")
        lines.extend(f"  {e.path:<30} {e.error}" for e in failed)
    return "\n".join(lines)
