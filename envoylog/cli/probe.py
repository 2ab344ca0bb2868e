"""`envoylog probe`: what is this gateway, and which endpoints work."""

from __future__ import annotations

import json

import click

from envoylog.cli.options import gateway_options, with_client
from envoylog.cli.progress import WaitNotice
from envoylog.client import GatewayClient
from envoylog.probe import probe as probe_gateway
from envoylog.probe import render_text
from envoylog.service.jobs import POLL_DEADLINE_S


@click.command()
@gateway_options
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@with_client
def probe(client: GatewayClient, host: str, as_json: bool) -> None:
    """Read every endpoint of a gateway once and describe what it found.

    Prints serial, part number, firmware, CT meters, inverters, batteries, and
    which endpoints answered (and why the others failed), and a line while an
    endpoint keeps it waiting. Stores nothing.
    """
    limit = f"the probe gives up on its endpoints after {POLL_DEADLINE_S:g} s"
    watched = WaitNotice(client, limit=limit)
    report = probe_gateway(watched, host, deadline_s=POLL_DEADLINE_S)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(render_text(report))
    if report.data_endpoints_ok == 0:
        failed = next((e for e in report.endpoints if e.name != "info"), None)
        reason = failed.error if failed else "no endpoint besides /info was asked"
        raise click.ClickException(f"Gateway {host} identified itself but gave no data: {reason}")
