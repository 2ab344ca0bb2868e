"""Run every envoylog benchmark on this machine and write one report (Markdown + JSON).

    python benchmarks/run.py --out report.md [--json report.json] [--quick] [--only NAME,...]

NAME is one of: poll, ingest, fleet, year, storage, memory, report, compaction, partitions,
spool.
--quick runs fewer rounds and shorter steps (minutes instead of about an hour for the full run).
pyenphase's side of `poll` needs its own venv (ENVOYLOG_BENCH_VENV, default
.bench-venv in the project folder): python3 -m venv .bench-venv &&
.bench-venv/bin/pip install pyenphase.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import (
    bench_compaction,
    bench_fleet,
    bench_memory,
    bench_partitions,
    bench_poll,
    bench_report,
    bench_spool,
    bench_storage,
    bench_year,
)
from benchmarks.common import REPO, Section, fmt, postgres, write_report

NAMES = (
    "poll",
    "ingest",
    "fleet",
    "year",
    "storage",
    "memory",
    "report",
    "compaction",
    "partitions",
    "spool",
)


def ingest(*, quick: bool, polls: int | None = None) -> Section:
    """Benchmark 2 through benchmarks/bench_store.py (replay vs executemany ceilings)."""
    if str(REPO / "tests" / "db") not in sys.path:
        sys.path.append(str(REPO / "tests" / "db"))
    from factories import T0, make_poll

    from benchmarks import bench_store
    from envoylog.db import open_store

    count = polls or (100 if quick else 500)
    sample = [make_poll(T0 + timedelta(minutes=i)) for i in range(count)]
    rounds = 2 if quick else 5
    section = Section(
        "2. Ingest throughput (replay of stored polls vs executemany)",
        [
            "backend",
            "rows",
            "replay rows/s",
            "executemany rows/s",
            "replay / ceiling",
            "driver executemany rows/s",
            "replay / driver",
        ],
    )
    with tempfile.TemporaryDirectory() as folder, postgres() as pg:
        makers: dict[str, Callable[[str], Any]] = {
            "SQLite": lambda n: open_store(f"sqlite:///{folder}/{n}.sqlite")
        }
        if pg is not None:
            makers["PostgreSQL"] = lambda n: open_store(pg.create_database(f"ingest_{n}"))
        for name, make in makers.items():
            r = bench_store.bench_replay(make, sample, batch=min(50, count), rounds=rounds)
            section.data[name] = r
            section.rows.append(
                [
                    name,
                    f"{r['rows']:,}",
                    fmt(r["replay_rows_per_s"], digits=0),
                    fmt(r["executemany_rows_per_s"], digits=0),
                    fmt(r["replay_vs_ceiling"]),
                    fmt(r["driver_executemany_rows_per_s"], digits=0),
                    fmt(r["replay_vs_driver_ceiling"]),
                ]
            )
    section.notes += [
        f"bench_store.bench_replay: {count} polls of the largest site (36 inverters, every "
        f"endpoint) replayed with save_polls in batches of 50, then the same rows written "
        f"with plain executemany in the same transactions; {rounds} rounds.",
        "Aim: replay at least half the executemany ceiling (ratio >= 0.5).",
    ]
    return section


def runners(quick: bool) -> dict[str, Callable[[], Section]]:
    return {
        "poll": lambda: bench_poll.run(quick=quick),
        "ingest": lambda: ingest(quick=quick),
        "fleet": lambda: bench_fleet.run(quick=quick),
        "year": lambda: bench_year.run(quick=quick),
        "storage": lambda: bench_storage.run(quick=quick),
        "memory": lambda: bench_memory.run(quick=quick),
        "report": lambda: bench_report.run(quick=quick),
        "compaction": lambda: bench_compaction.run(quick=quick),
        "partitions": lambda: bench_partitions.run(quick=quick),
        "spool": lambda: bench_spool.run([1000] if quick else [1000, 6000], 300),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="Markdown report to write")
    parser.add_argument("--json", type=Path, help="JSON report to write")
    parser.add_argument("--quick", action="store_true", help="fewer rounds, shorter steps")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(NAMES)}")
    args = parser.parse_args()
    chosen = args.only.split(",") if args.only else list(NAMES)
    unknown = set(chosen) - set(NAMES)
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(sorted(unknown))}; choose from {NAMES}")
    meta = {
        "when": datetime.now(tz=UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
        "mode": "quick" if args.quick else "full",
        "seconds": {},
    }
    sections = []
    table = runners(args.quick)
    for name in NAMES:
        if name not in chosen:
            continue
        print(f"== {name}", file=sys.stderr)
        t0 = time.perf_counter()
        sections.append(table[name]())
        meta["seconds"][name] = round(time.perf_counter() - t0)
        write_report(sections, args.out, args.json, meta)  # partial results survive a crash
    print(f"wrote {args.out}" + (f" and {args.json}" if args.json else ""), file=sys.stderr)


if __name__ == "__main__":
    main()
