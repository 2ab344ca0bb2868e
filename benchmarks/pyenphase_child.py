"""pyenphase's side of the poll benchmark; runs in the benchmark's own venv, never envoylog's.

    <bench-venv>/bin/python benchmarks/pyenphase_child.py HOST:PORT --rounds N [--token JWT]

Prints one JSON line: CPU seconds of this process per ``Envoy.update()`` (fetch + parse
of every endpoint pyenphase reads), the requests one update makes, and what it read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import aiohttp
from pyenphase import Envoy
from pyenphase.ssl import NO_VERIFY_SSL_CONTEXT


async def bench(host: str, token: str | None, rounds: int, warmup: int) -> dict[str, object]:
    requests: list[str] = []

    async def on_start(
        session: object, ctx: object, params: aiohttp.TraceRequestStartParams
    ) -> None:
        requests.append(params.url.path)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=NO_VERIFY_SSL_CONTEXT), trace_configs=[trace]
    )
    envoy = Envoy(host, client=session)
    try:
        await envoy.setup()
        # Firmware < 7: the replay server wants digest as user envoy (last 6 of the serial).
        await envoy.authenticate(username="envoy", token=token)
        for _ in range(warmup):  # the first update probes; a few more warm the caches
            await envoy.update()
        cpu: list[float] = []
        per_update = 0
        for _ in range(rounds):
            requests.clear()
            c0 = time.process_time()
            data = await envoy.update()
            cpu.append(time.process_time() - c0)
            per_update = len(requests)
        return {
            "cpu_s": cpu,
            "requests_per_update": per_update,
            "paths": sorted(set(requests)),
            "inverters": len(data.inverters or {}),
            "meters": len(data.ctmeters or {}),
            "firmware": str(envoy.firmware),
        }
    finally:
        await envoy.close()
        await session.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("--token")
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(bench(args.host, args.token, args.rounds, args.warmup))))


if __name__ == "__main__":
    main()
