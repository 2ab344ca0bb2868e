"""Benchmark 6: resident memory of the service over 10,000 polls (1 gateway, then 100).

The simulator runs in its own process (`envoylog simulate --site ... --speed`), so its
memory is not counted. A child process holds what `envoylog run` holds per gateway
(GatewayClient, GatewayJob, the StoreWorker and its Writer on SQLite) and drives the
jobs tick after tick on a manual clock, as fast as polls complete, waiting each tick
until the worker has stored the polls (as at the real cadence, where the queue is
empty between ticks); the worker's hourly energy rollups run on the same clock. RSS
is read from /proc every 500 polls; the slope is a least-squares line through the
samples after the first 1,000 polls.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (
    Section,
    envoylog_cmd,
    free_port,
    rss_bytes,
    run_json,
    serve,
    spread,
    stop,
)

SITE = "metered-three-phase-device-data"
AIM_MB = 80.0
SAMPLE_EVERY = 500


def child(port: int, gateways: int, polls: int, folder: Path) -> dict[str, Any]:
    from benchmarks.driver import TICK_S, drive
    from envoylog.simulator import make_token

    token = make_token("memory", expires_at=time.time() + 365 * 86400)
    urls = [(f"https://127.0.0.1:{port + i}", token) for i in range(gateways)]
    clock = [time.time()]
    driven = drive(
        urls, f"sqlite:///{folder}/memory.sqlite", folder / "spool", lambda: clock[0], quiet=False
    )
    samples: list[tuple[int, float]] = [(0, rss_bytes() / 1e6)]
    done = 0
    next_sample = SAMPLE_EVERY
    started = time.perf_counter()
    try:
        while done < polls:
            done += driven.tick()
            clock[0] += TICK_S
            if done >= next_sample:
                samples.append((done, rss_bytes() / 1e6))
                next_sample += SAMPLE_EVERY
    finally:
        driven.close()
    wall = time.perf_counter() - started
    if samples[-1][0] != done:
        samples.append((done, rss_bytes() / 1e6))
    gc.collect()
    return {"samples": samples, "polls": done, "wall_s": wall}


def slope_per_1000(samples: list[tuple[int, float]], skip: int = 1000) -> float:
    points = [(x, y) for x, y in samples if x >= skip] or samples
    if len(points) < 2:
        return 0.0
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    den = sum((x - mx) ** 2 for x, _ in points)
    return 1000 * sum((x - mx) * (y - my) for x, y in points) / den if den else 0.0


def one(gateways: int, polls: int, rounds: int, folder: Path, speed: float) -> dict[str, Any]:
    from envoylog.db import upgrade

    results = []
    for r in range(rounds):
        port = free_port(gateways)
        cmd = envoylog_cmd("simulate", "--site", SITE, "--port", str(port))
        cmd += ["--speed", str(speed)]
        if gateways > 1:
            cmd += ["--gateways", str(gateways)]
        sim = serve(cmd, port + gateways - 1)
        work = folder / f"mem-{gateways}-{r}"
        work.mkdir()
        # The schema exists before the service starts, as on every start but the very
        # first (which also loads Alembic to create it: about 11 MB more, until restart).
        upgrade(f"sqlite:///{work}/memory.sqlite")
        try:
            args = [sys.executable, __file__, "--child", str(port), "--gateways", str(gateways)]
            results.append(
                run_json([*args, "--polls", str(polls), "--dir", str(work)], timeout_s=3600)
            )
        finally:
            stop(sim)
    return {
        "gateways": gateways,
        "polls": results[0]["polls"],
        "rounds": rounds,
        "rss_mb_after_first_500": spread([r["samples"][1][1] for r in results], 1),
        "rss_mb_end": spread([r["samples"][-1][1] for r in results], 1),
        "rss_mb_max": spread([max(y for _, y in r["samples"]) for r in results], 1),
        "slope_mb_per_1000_polls": spread([slope_per_1000(r["samples"]) for r in results], 3),
        "polls_per_s": spread([r["polls"] / r["wall_s"] for r in results], 1),
        "samples": results[0]["samples"],
    }


def run(*, quick: bool, polls: int | None = None, fleet: int = 100) -> Section:
    polls = polls or (3000 if quick else 10000)
    rounds = 1 if quick else 2
    section = Section(
        "6. Memory of the service (RSS)",
        [
            "gateways",
            "polls",
            "RSS after 500 polls MB",
            "RSS at end MB",
            "RSS max MB",
            "slope MB / 1,000 polls",
            "polls / s",
        ],
    )
    with tempfile.TemporaryDirectory() as tmp:
        for gateways in (1, fleet):
            r = one(gateways, polls, rounds, Path(tmp), speed=600.0)
            section.data[f"{gateways}_gateways"] = r
            section.rows.append(
                [
                    str(gateways),
                    str(r["polls"]),
                    str(r["rss_mb_after_first_500"]["median"]),
                    str(r["rss_mb_end"]["median"]),
                    str(r["rss_mb_max"]["median"]),
                    f"{r['slope_mb_per_1000_polls']['median']:+.3f} "
                    f"({r['slope_mb_per_1000_polls']['min']:+.3f}..."
                    f"{r['slope_mb_per_1000_polls']['max']:+.3f})",
                    str(r["polls_per_s"]["median"]),
                ]
            )
    section.notes += [
        f"Site {SITE} (36 inverters, 3 phases, 2 CTs) served by a separate simulator process; "
        f"SQLite; {rounds} round(s); RSS sampled every {SAMPLE_EVERY} polls.",
        "The database schema is created before the service starts, as on every start but "
        "the first; a first start creating it also loads Alembic (about 11 MB more, until "
        "the service restarts).",
        f"Aim: flat memory under {AIM_MB:.0f} MB for one gateway.",
    ]
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", type=int, metavar="PORT")
    parser.add_argument("--gateways", type=int, default=1)
    parser.add_argument("--polls", type=int)
    parser.add_argument("--dir", type=Path)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.gateways, args.polls, args.dir)))
        return
    print(run(quick=args.quick, polls=args.polls).markdown())


if __name__ == "__main__":
    main()
