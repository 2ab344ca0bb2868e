"""Benchmark 7: the HTML report and `envoylog now` on a year of the three-phase, 36-inverter site.

The year (benchmarks/yeardata.py: minute readings, 5-minute inverter reports) is
written with save_polls and rolled up; then, on SQLite and PostgreSQL:
- the report of the whole year (the default range): its size, the library's time
  (envoylog.report.write_report on an open store) and the whole `envoylog report`
  command in a new process (interpreter, imports, schema check, queries, charts, file);
- `now` at noon of the last day: the latest power of each flow and the day so far
  (envoylog.now.current), and the whole `envoylog now --json` command.

Budgets (issue 16): a year's report at most 3 MB, made in at most 5 s.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_year import YEAR_START, fill, time_rounds
from benchmarks.common import Section, envoylog_cmd, fmt, postgres, spread

BUDGET_BYTES = 3_000_000
BUDGET_S = 5.0


def _command(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(envoylog_cmd(*args), check=True, capture_output=True, timeout=600)
    return time.perf_counter() - t0


def backend(store: Any, url: str, days: int, rounds: int, folder: Path) -> dict[str, Any]:
    from envoylog.energy.rollup import rollup
    from envoylog.now import current
    from envoylog.report import write_report

    out: dict[str, Any] = {"fill": fill(store, days)}
    t0 = time.perf_counter()
    rollup(store)
    out["rollup_s"] = round(time.perf_counter() - t0, 1)
    target = folder / "report.html"
    write_report(store, target)  # warm imports and caches
    out["report_s"], summary = time_rounds(lambda: write_report(store, target), rounds)
    out["report_bytes"] = summary.bytes
    out["report_days"] = sum((g.last - g.first).days + 1 for g in summary.gateways)
    samples = [
        _command(["report", "--db", url, "-o", str(target)]) for _ in range(max(2, rounds // 2))
    ]
    out["report_command_s"] = spread(samples)
    moment = YEAR_START + timedelta(days=days - 1, hours=12)
    current(store, moment)
    out["now_s"], items = time_rounds(lambda: current(store, moment), rounds)
    out["now_flows"] = sorted(items[0].power) if items else []
    samples = [_command(["now", "--db", url, "--json"]) for _ in range(max(2, rounds // 2))]
    out["now_command_s"] = spread(samples)
    return out


def run(*, quick: bool, days: int | None = None) -> Section:
    from envoylog.db import open_store

    days = days or (30 if quick else 366)
    rounds = 3 if quick else 5
    section = Section(
        f"7. Report and now ({days} days, 3 phases, 36 inverters)",
        [
            "backend",
            "report MB",
            "report s (library)",
            "envoylog report s",
            "now s (library)",
            "envoylog now --json s",
        ],
    )
    with tempfile.TemporaryDirectory() as tmp, postgres() as pg:
        urls = {"SQLite": f"sqlite:///{tmp}/year.sqlite"}
        if pg is not None:
            urls["PostgreSQL"] = pg.create_database("report")
        for name, url in urls.items():
            print(f"report: {name}", file=sys.stderr)
            with open_store(url) as store:
                r = backend(store, url, days, rounds, Path(tmp))
            section.data[name] = r
            section.rows.append(
                [
                    name,
                    f"{r['report_bytes'] / 1e6:.2f}",
                    fmt(r["report_s"]),
                    fmt(r["report_command_s"]),
                    fmt(r["now_s"], digits=3),
                    fmt(r["now_command_s"]),
                ]
            )
    section.notes += [
        f"A year of readings at the service's cadences ({days} days), rolled up, then the "
        "report of the default range (the last 365 days logged) and `now` at noon of the "
        "last day; the commands are timed in a new process each (Python start and imports "
        "included).",
        f"Budget: a year's report at most {BUDGET_BYTES / 1e6:.0f} MB, made in at most "
        f"{BUDGET_S:.0f} s.",
    ]
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--days", type=int)
    args = parser.parse_args()
    print(run(quick=args.quick, days=args.days).markdown())


if __name__ == "__main__":
    main()
