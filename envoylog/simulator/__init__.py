"""A gateway emulator: replays capture folders, and renders payloads of simulated sites.

``simulator-cert.pem`` / ``simulator-key.pem`` are a self-signed certificate and key
for the simulator's HTTPS only (CN=envoy.local, generated with openssl). They are
published on purpose and protect nothing: never use them for anything else.
"""

from envoylog.simulator.replay import RecordedRequest, ReplayServer

__all__ = ["RecordedRequest", "ReplayServer"]
