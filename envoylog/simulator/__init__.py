"""A gateway emulator: replays capture folders, and simulates living sites with faults.

Public API (see ``docs/simulator.md``)::

    SimulatedGateway(profile="metered-split-phase", *, start=None, speed=1.0, seed=1,
                     faults=(), tls=None, host="127.0.0.1", port=0, clock=None,
                     inverters=None, timezone=None, verbose=False)
        context manager; .url .serial .token .clock .profile .requests
        .truth(start, end) -> {flow: Wh}   .truth_report(start, end) -> JSON-ready dict
        .site(at=None) -> Site             .start() .close() .serve_forever()
    SimulatedFleet(count, *, profile=None (a mix), start, speed, seed, faults, tls,
                   host, port=0 (else consecutive ports), clock, ...)
        context manager; a sequence of SimulatedGateway
    SimClock(start, speed, real=time.monotonic)   ManualClock(start).advance(timedelta)
    PROFILES, FLOWS, parse_fault(spec, start=..., timezone=..., firmware=...)

The renderer (``render_all(Site)``) and ``ReplayServer`` stay as they were.

``simulator-cert.pem`` / ``simulator-key.pem`` are a self-signed certificate and key
for the simulator's HTTPS only (CN=envoy.local, 10 years, RSA 2048, made with
openssl). They are published on purpose and protect nothing: never use them for
anything else.
"""

from envoylog.simulator.clock import Clock, ManualClock, SimClock
from envoylog.simulator.faults import Fault, parse_fault
from envoylog.simulator.gateway import SimulatedFleet, SimulatedGateway, make_token
from envoylog.simulator.payloads import Payload, render_all
from envoylog.simulator.profiles import PROFILES, Profile
from envoylog.simulator.replay import RecordedRequest, ReplayServer
from envoylog.simulator.site import AcBattery, Ct, CtPhase, Microinverter, Site
from envoylog.simulator.truth import FLOWS

__all__ = [
    "FLOWS",
    "PROFILES",
    "AcBattery",
    "Clock",
    "Ct",
    "CtPhase",
    "Fault",
    "ManualClock",
    "Microinverter",
    "Payload",
    "Profile",
    "RecordedRequest",
    "ReplayServer",
    "SimClock",
    "SimulatedFleet",
    "SimulatedGateway",
    "Site",
    "make_token",
    "parse_fault",
    "render_all",
]
