"""What gateway claims cost a fleet's process: one advisory lock per gateway on PostgreSQL.

    python benchmarks/bench_claims.py [--gateways 5000] [--json out.json]

Two GatewayClaims (two processes' worth) on a private PostgreSQL: the first claims every
gateway once (a call each, as at its first tick), then claims them all again (a tick
while it owns them: answered from memory), then once more after its connection is due
for its liveness check; the second is refused every gateway twice (a process whose
gateways another polls: a call and a lookup of the holder each at first, then a call
each). Reported: microseconds per claim for each.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import REPO

if str(REPO / "tests") not in sys.path:
    sys.path.append(str(REPO / "tests"))


def run(server: Any, gateways: int) -> dict[str, Any]:
    """Measure on ``server`` (a tests/pg_server.PostgresServer); return the figures."""
    from envoylog.db.claims import CHECK_EVERY_S, GatewayClaims

    url = server.create_database(f"claims_{int(time.time() * 1000) % 10**9}")
    serials = [f"{122_000_000_000 + n}" for n in range(gateways)]
    clock = [0.0]
    first = GatewayClaims(url, name="envoylog/bench/1", monotonic=lambda: clock[0])
    second = GatewayClaims(url, name="envoylog/bench/2")

    def per_claim_us(claims: GatewayClaims) -> tuple[float, int]:
        started = time.perf_counter()
        refused = sum(claims.claim(s, gateway=f"g{s}") is not None for s in serials)
        return (time.perf_counter() - started) / gateways * 1e6, refused

    try:
        first_tick, refused_first = per_claim_us(first)
        owned_tick, _ = per_claim_us(first)
        clock[0] += CHECK_EVERY_S
        checked_tick, _ = per_claim_us(first)
        refused_tick, refused = per_claim_us(second)
        refused_again_tick, _ = per_claim_us(second)
    finally:
        first.close()
        second.close()
    return {
        "gateways": gateways,
        "first_claim_us": round(first_tick, 1),
        "owned_claim_us": round(owned_tick, 2),
        "owned_claim_after_check_due_us": round(checked_tick, 2),
        "first_refused_claim_us": round(refused_tick, 1),
        "refused_claim_us": round(refused_again_tick, 1),
        "refused_by_first": refused_first,
        "refused_by_second": refused,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateways", type=int, default=5000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    from pg_server import PostgresServer

    with PostgresServer.start() as server:
        figures = run(server, args.gateways)
    text = json.dumps(figures, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0 if figures["refused_by_second"] == args.gateways else 1


if __name__ == "__main__":
    sys.exit(main())
