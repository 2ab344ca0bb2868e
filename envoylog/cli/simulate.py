"""``envoylog simulate``: run a local fake gateway for trying envoylog without hardware."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from types import FrameType

import click

from envoylog.errors import EnvoylogError
from envoylog.simulator.replay import ReplayServer

DEFAULT_HTTP_PORT = 8080
DEFAULT_HTTPS_PORT = 8443


class _Stop(Exception):
    """Raised from the SIGTERM handler to leave serve_forever like Ctrl-C does."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def _build_server(replay: Path, *, host: str, port: int, tls: bool, verbose: bool) -> ReplayServer:
    # One place that picks what to serve, so a --site PROFILE source slots in beside --replay.
    return ReplayServer(replay, host=host, port=port, tls=tls, verbose=verbose)


@click.command(name="simulate")
@click.option(
    "--replay",
    "replay",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Capture folder to serve: one file per endpoint, as in sample_data/ "
    "or envoy-captures/ (must contain an 'info' file).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help=f"TCP port to listen on (default {DEFAULT_HTTP_PORT}, or {DEFAULT_HTTPS_PORT} "
    "with --tls; 0 picks a free port).",
)
@click.option(
    "--tls",
    is_flag=True,
    help="Serve HTTPS with the simulator's self-signed certificate, as firmware 7+ does.",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; use 0.0.0.0 to reach the simulator from other machines.",
)
@click.option("--verbose", is_flag=True, help="Log every request received.")
def simulate(replay: Path, port: int | None, tls: bool, host: str, verbose: bool) -> None:
    """Serve a fake Envoy gateway on this machine until Ctrl-C or SIGTERM.

    Point envoylog (or a browser) at the printed address to poll recorded
    payloads without a real gateway.
    """
    if port is None:
        port = DEFAULT_HTTPS_PORT if tls else DEFAULT_HTTP_PORT
    if verbose:
        logging.getLogger("envoylog.simulator").setLevel(logging.INFO)
    try:
        server = _build_server(replay, host=host, port=port, tls=tls, verbose=verbose)
    except EnvoylogError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Serving {replay} at {server.url} (Ctrl-C to stop)")
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, _Stop):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
