"""A gateway emulator: replays capture folders, and renders payloads of simulated sites.

``simulator-cert.pem`` / ``simulator-key.pem`` are a self-signed certificate and key
for the simulator's HTTPS only (CN=envoy.local, 10 years, RSA 2048, made with
openssl). They are published on purpose and protect nothing: never use them for
anything else.
"""

from envoylog.simulator.payloads import Payload, render_all
from envoylog.simulator.replay import RecordedRequest, ReplayServer
from envoylog.simulator.site import AcBattery, Ct, CtPhase, Microinverter, Site

__all__ = [
    "AcBattery",
    "Ct",
    "CtPhase",
    "Microinverter",
    "Payload",
    "RecordedRequest",
    "ReplayServer",
    "Site",
    "render_all",
]
