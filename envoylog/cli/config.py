"""`envoylog config check`: is the config file right, and can every gateway be reached."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click

from envoylog.cli.options import required_config
from envoylog.client import gateway_client
from envoylog.config import GatewaySettings, credentials_for
from envoylog.config.summary import database_source, summarise
from envoylog.errors import EnvoylogError
from envoylog.probe import ProbeReport, probe


@click.group(name="config")
def config() -> None:
    """Check the configuration file (see docs/configuration.md for every key)."""


@config.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Config file (default: $ENVOYLOG_CONFIG, then /etc/envoylog/envoylog.toml, "
    "then ~/.config/envoylog/envoylog.toml).",
)
@click.option("--offline", is_flag=True, help="Validate and summarise only; contact no gateway.")
def check(config_path: Path | None, offline: bool) -> None:
    """Validate the config file, show what it says and reach each gateway once.

    Prints the settings as understood (never a secret), then for each enabled
    gateway its serial, firmware, whether it is metered and which endpoints
    answered. Exits non-zero when the file is invalid or a gateway could not be
    reached.
    """
    path, settings = required_config(config_path)
    click.echo(summarise(settings, settings.db_url(), database_source(settings)))
    if not settings.gateways:
        raise click.ClickException(
            f"{path}: there is no [[gateway]] table; add one with name and host."
        )
    if offline:
        return
    failed = []
    for gateway in settings.enabled_gateways:
        reached = reach(gateway)
        click.echo()
        click.echo(render_reached(reached))
        if not reached.ok:
            failed.append(gateway.name)
    if failed:
        total = len(settings.enabled_gateways)
        raise click.ClickException(
            f"{len(failed)} of {total} gateways could not be reached or gave no data "
            f"({', '.join(failed)}); see above for why."
        )


@dataclass(frozen=True, slots=True)
class Reached:
    """What reaching one gateway gave: a report, or the error that stopped it."""

    gateway: GatewaySettings
    report: ProbeReport | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.report is not None and self.report.data_endpoints_ok > 0


def reach(gateway: GatewaySettings, *, retries: int = 0) -> Reached:
    """Read every endpoint of one gateway once, with its configured credentials."""
    try:
        with gateway_client(
            gateway.host,
            credentials_for(gateway),
            retries=retries,
            deadline_s=gateway.request_deadline_s,
        ) as client:
            return Reached(gateway, probe(client, gateway.host), None)
    except EnvoylogError as exc:
        return Reached(gateway, None, str(exc))


def render_reached(reached: Reached) -> str:
    """One block per gateway: its identity and which endpoints answered."""
    gateway = reached.gateway
    lines = [f"Gateway {gateway.name} ({gateway.host})"]
    report = reached.report
    if report is None:
        return "\n".join([*lines, f"  unreachable  {reached.error}"])
    metered = {True: "yes", False: "no", None: "unknown"}[report.metered]
    answered = [e.name for e in report.endpoints if e.ok]
    lines += [
        f"  serial       {report.serial}",
        f"  firmware     {report.firmware}",
        f"  metered      {metered}",
        f"  answered     {', '.join(answered) or 'nothing'}",
    ]
    lines += [f"  failed       {e.name}: {e.error}" for e in report.endpoints if not e.ok]
    if not reached.ok:
        lines.append("  no data      only /info answered; check the gateway's auth settings")
    return "\n".join(lines)
