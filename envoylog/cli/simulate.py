"""``envoylog simulate``: run a local fake gateway for trying envoylog without hardware."""

from __future__ import annotations

import logging
import signal
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Protocol, TypedDict

import click

from envoylog.cli.options import ISO_INSTANT
from envoylog.errors import ConfigError, EnvoylogError
from envoylog.simulator.faults import describe
from envoylog.simulator.gateway import SimulatedFleet, SimulatedGateway
from envoylog.simulator.profiles import PROFILES
from envoylog.simulator.replay import ReplayServer

DEFAULT_HTTP_PORT = 8080
DEFAULT_HTTPS_PORT = 8443
MIXED = "mixed"


class _Stop(Exception):
    """Raised from the SIGTERM handler to leave serve_forever like Ctrl-C does."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


class _Server(Protocol):
    def serve_forever(self) -> None: ...


class _SiteOptions(TypedDict):
    """What a simulated gateway and a fleet are built with alike."""

    start: datetime | None
    speed: float
    seed: int
    faults: tuple[str, ...]
    tls: bool | None
    host: str
    port: int
    inverters: int | None
    timezone: str | None
    verbose: bool


def _build_server(
    replay: Path | None,
    site: str | None,
    *,
    host: str,
    port: int | None,
    tls: bool,
    verbose: bool,
    speed: float = 1.0,
    start: datetime | None = None,
    timezone: str | None = None,
    inverters: int | None = None,
    faults: tuple[str, ...] = (),
    gateways: int = 1,
    first_gateway: int = 0,
    seed: int = 1,
) -> tuple[_Server, list[str]]:
    """Build what to serve and the lines that tell the user where it is."""
    if (replay is None) == (site is None):
        raise ConfigError("Give either --replay DIR or --site PROFILE.")
    if replay is not None:
        chosen = port if port is not None else DEFAULT_HTTPS_PORT if tls else DEFAULT_HTTP_PORT
        server = ReplayServer(replay, host=host, port=chosen, tls=tls, verbose=verbose)
        return server, [f"Serving {replay} at {server.url} (Ctrl-C to stop)"]
    assert site is not None
    if site == MIXED and gateways == 1:
        raise ConfigError(f"--site {MIXED} needs --gateways 2 or more.")
    profile = None if site == MIXED else PROFILES.get(site)
    if site != MIXED and profile is None:
        raise ConfigError(
            f"Unknown site profile {site!r}: choose one of {', '.join(PROFILES)} "
            f"(or {MIXED} with --gateways)."
        )
    https = tls or (profile is not None and profile.modern)
    if port is None:
        port = DEFAULT_HTTPS_PORT if https else DEFAULT_HTTP_PORT
    if speed <= 0:
        raise ConfigError(f"--speed must be more than 0, not {speed:g}.")
    options = _SiteOptions(
        start=start,
        speed=speed,
        seed=seed,
        faults=faults,
        tls=True if tls else None,
        host=host,
        port=port,
        inverters=inverters,
        timezone=timezone,
        verbose=verbose,
    )
    if gateways == 1:
        assert profile is not None
        gateway = SimulatedGateway(profile, **options)
        lines = [f"Serving {site} (serial {gateway.serial}) at {gateway.url} (Ctrl-C to stop)"]
        if gateway.profile.modern:
            lines.append(f"Token: {gateway.token}")
        lines.append(f"Truth: {gateway.url}/__sim/truth  Clock: {gateway.url}/__sim/clock")
        return gateway, lines
    fleet = SimulatedFleet(gateways, profile=profile, first=first_gateway, **options)
    lines = [f"Serving {len(fleet)} gateways, {fleet[0].url} to {fleet[-1].url} (Ctrl-C to stop)"]
    lines.extend(f"{g.url} {g.serial} {g.profile.name}" for g in fleet)
    return fleet, lines


@click.command(name="simulate", epilog="Faults (--fault NAME[:ARGS]):\n\n\b\n" + describe())
@click.option(
    "--replay",
    "replay",
    type=click.Path(path_type=Path, file_okay=False),
    help="Capture folder to serve: one file per endpoint, as in sample_data/ "
    "or envoy-captures/ (must contain an 'info' file).",
)
@click.option(
    "--site",
    help=f"Simulate a living site: {', '.join(PROFILES)}; or {MIXED} (with --gateways).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help=f"TCP port to listen on (default {DEFAULT_HTTP_PORT}, or {DEFAULT_HTTPS_PORT} "
    "with HTTPS; 0 picks a free port); with --gateways, the first of consecutive ports.",
)
@click.option(
    "--tls",
    is_flag=True,
    help="Serve HTTPS with the simulator's self-signed certificate, as firmware 7+ does "
    "(a --site with firmware 7+ always does).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; use 0.0.0.0 to reach the simulator from other machines.",
)
@click.option(
    "--speed",
    type=float,
    default=1.0,
    show_default=True,
    help="Simulated seconds per real second (60: an hour per minute).",
)
@click.option(
    "--start",
    type=ISO_INSTANT,
    help="Simulated start, ISO-8601 (no offset: the site's local time); default now.",
)
@click.option("--timezone", help="IANA timezone of the site instead of the profile's.")
@click.option("--inverters", type=int, help="Number of microinverters instead of the profile's.")
@click.option(
    "--fault",
    "faults",
    multiple=True,
    help="Inject a fault, e.g. slow:5, html200:rate=0.05, restart:at=+1h (repeatable; "
    "see the list below and docs/simulator.md).",
)
@click.option(
    "--gateways",
    type=click.IntRange(1, 20000),
    default=1,
    show_default=True,
    help="Serve this many independent gateways on consecutive ports.",
)
@click.option(
    "--first-gateway",
    type=click.IntRange(0, 10**6 - 20000),
    default=0,
    show_default=True,
    help="With --gateways, number the gateways from this one, so that several simulators "
    "serve one fleet with distinct serials (the second of two 5,000-gateway halves: 5000).",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of weather and faults.")
@click.option("--verbose", is_flag=True, help="Log every request received.")
def simulate(
    replay: Path | None,
    site: str | None,
    port: int | None,
    tls: bool,
    host: str,
    speed: float,
    start: datetime | None,
    timezone: str | None,
    inverters: int | None,
    faults: tuple[str, ...],
    gateways: int,
    first_gateway: int,
    seed: int,
    verbose: bool,
) -> None:
    """Serve a fake Envoy gateway on this machine until Ctrl-C or SIGTERM.

    With --replay, serve recorded payloads; with --site, a simulated site that lives:
    its sun, household, batteries and counters move with a clock you can speed up.
    Point envoylog (or curl) at the printed address.
    """
    if verbose:
        logging.getLogger("envoylog.simulator").setLevel(logging.INFO)
    try:
        server, lines = _build_server(
            replay,
            site,
            host=host,
            port=port,
            tls=tls,
            verbose=verbose,
            speed=speed,
            start=start,
            timezone=timezone,
            inverters=inverters,
            faults=faults,
            gateways=gateways,
            first_gateway=first_gateway,
            seed=seed,
        )
    except EnvoylogError as exc:
        raise click.ClickException(str(exc)) from exc
    for line in lines:
        click.echo(line)
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, _Stop):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
