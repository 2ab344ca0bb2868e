"""Benchmark 8: bytes per gateway-day compacted vs as polled, and compaction time.

Days of the three-phase, 36-inverter site (benchmarks/yeardata.py: minute readings,
5-minute inverter reports, exact counters) are written with save_polls and rolled
up; then every day is compacted (envoylog.history, the default step, an hour). Sizes
are those of the database minus an empty one of the same schema, raw bodies aside
(yeardata writes none), after VACUUM on SQLite (dbstat) and VACUUM FULL on PostgreSQL
(pg_total_relation_size), so freed pages do not count as kept. A compacted day's polls
and their endpoints are folded into runs (envoylog.history.poll_runs; yeardata's polls
all succeed, so a day is a run or two). The daily export and the report are timed over
the same days as polled and compacted. The same site as the simulator serves it (its
inverters report every 15 minutes while producing, not every 5 minutes around the clock)
is also logged through the service's job and store worker for a few days, its raw bodies
pruned, and compacted.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_storage import sizes
from benchmarks.common import Section, postgres

AIM_MB = 0.3
SIMULATED = "metered-three-phase-device-data"
AIM_YEAR_S = 60.0
LATER = datetime(2030, 1, 1, tzinfo=UTC)
JOBS = 2  # this machine's cores: `envoylog compact --jobs 2`


def vacuum(db_url: str) -> None:
    from sqlalchemy import create_engine, text

    if db_url.startswith("sqlite"):
        with sqlite3.connect(db_url.split("///", 1)[1]) as conn:
            conn.execute("VACUUM")
        return
    engine = create_engine(db_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("VACUUM FULL"))
    finally:
        engine.dispose()


def grown(db_url: str, empty: dict[str, int]) -> tuple[int, dict[str, int]]:
    vacuum(db_url)
    now = sizes(db_url)
    by_table = {t: now[t] - empty.get(t, 0) for t in now if now[t] - empty.get(t, 0) > 0}
    return sum(by_table.values()), dict(sorted(by_table.items(), key=lambda kv: -kv[1]))


def readers(store: Any, folder: str, rounds: int = 5) -> dict[str, float]:
    """Median seconds of the daily CSV export and of the HTML report (its day: the last)."""
    import io

    from benchmarks.bench_year import time_rounds
    from envoylog.export import ExportKind, export
    from envoylog.report import write_report

    def daily() -> int:
        return export(store, ExportKind.DAILY, fmt="csv", output=io.BytesIO()).rows

    target = Path(folder) / "report.html"
    write_report(store, target)  # warm imports and caches
    daily()
    return {
        "export_daily_s": time_rounds(daily, rounds)[0]["median"],
        "report_s": time_rounds(lambda: write_report(store, target), rounds)[0]["median"],
    }


def twin(db_url: str, pg: Any) -> str:
    """A copy of the database (a file copy; CREATE DATABASE ... TEMPLATE)."""
    if db_url.startswith("sqlite"):
        path = Path(db_url.split("///", 1)[1])
        copy = path.with_name(f"twin-{path.name}")
        shutil.copyfile(path, copy)
        return f"sqlite:///{copy}"
    name = db_url.rsplit("/", 1)[1]
    return str(pg.create_database(f"{name}_twin", template=name))


def timed_compaction(db_url: str, jobs: int = 1) -> tuple[float, float, Any]:
    """Seconds to compact every day, seconds a year would take, and the summary.

    A year: the time to the first day written (start-up included: with ``jobs``, the
    processes' start) plus 364 days at the pace of the days written after it, so a few
    days' run does not charge its start-up to each day."""
    from envoylog.db import open_store
    from envoylog.history.compact import compact
    from envoylog.history.settings import STEP_DEFAULT

    written: list[float] = []
    with open_store(db_url) as store:
        t0 = time.perf_counter()
        summary = compact(
            store,
            now=LATER,
            window_days=0,
            step=STEP_DEFAULT,
            before=date(2030, 1, 1),
            progress=lambda done, total: written.append(time.perf_counter()),
            jobs=jobs,
        )
    seconds = time.perf_counter() - t0
    first, pace = written[0] - t0, (written[-1] - written[0]) / (len(written) - 1)
    return seconds, first + 364 * pace, summary


def measure(
    db_url: str,
    empty_url: str,
    days: int,
    folder: str,
    rounds: int = 0,
    *,
    simulated: bool = False,
    pg: Any = None,
) -> dict[str, Any]:
    """Bytes per day as polled and compacted, and the compaction's time, of ``days`` days of
    the site: generated (benchmarks/yeardata.py), or ``simulated``: the simulator's site
    (the one section 5 sizes as polled: its inverters report every 15 minutes or so while
    producing) logged through the service's job and store worker, its raw bodies pruned as
    the service prunes them long before the full-resolution window ends. The readers are
    timed ``rounds`` times over both (0: not). The compaction is timed in one process and,
    on a copy, with ``--jobs 2``."""
    from benchmarks.bench_storage import log_site
    from benchmarks.bench_year import fill
    from envoylog.db import open_store, prune_raw_bodies
    from envoylog.energy.rollup import rollup

    open_store(empty_url).close()
    vacuum(empty_url)
    empty = sizes(empty_url)
    if simulated:
        log_site(SIMULATED, db_url, Path(folder) / f"spool-{db_url.split(':')[0]}", days * 1440)
    with open_store(db_url) as store:
        if simulated:
            prune_raw_bodies(store, LATER)
        else:
            fill(store, days)
        rollup(store, now=LATER)
    full, full_tables = grown(db_url, empty)
    with open_store(db_url) as store:  # both timed on a vacuumed file
        full_readers = readers(store, folder, rounds) if rounds else {}
    jobs_url = twin(db_url, pg)
    seconds, year, summary = timed_compaction(db_url)
    jobs_seconds, jobs_year, jobs_summary = timed_compaction(jobs_url, JOBS)
    assert jobs_summary == summary, (jobs_summary, summary)
    compacted, compacted_tables = grown(db_url, empty)
    result = {
        "logged_days": days,
        "days": summary.days,
        "full_bytes_per_day": round(full / days),
        "compacted_bytes_per_day": round(compacted / days),
        "readings_before": summary.readings_before,
        "readings_after": summary.readings_after,
        "compact_s": round(seconds, 2),
        "year_s": round(year, 1),
        "jobs_s": round(jobs_seconds, 2),
        "year_jobs_s": round(jobs_year, 1),
        "full_tables": full_tables,
        "compacted_tables": compacted_tables,
    }
    if rounds:
        with open_store(db_url) as store:
            result["readers_full"] = full_readers
            result["readers_compacted"] = readers(store, folder, rounds)
    return result


def year_end(pg: Any, last_days: int = 8) -> dict[str, Any]:
    """Seconds per gateway-day of compacting the last ``last_days`` days of a generated year
    on PostgreSQL: a month written with save_polls and copied 11 times a month later
    (bench_partitions.replicate), in its month partitions, rolled up. A day's cost there
    is what a year's days cost once months of history lie before them (a search not bounded
    by the instant looks in every month's partition)."""
    from benchmarks.bench_partitions import SHIFT_DAYS, replicate
    from benchmarks.bench_year import fill
    from envoylog.db import downgrade, open_store, upgrade
    from envoylog.energy.rollup import rollup
    from envoylog.history.compact import compact_day, pending
    from envoylog.history.settings import STEP_DEFAULT

    url = pg.create_database("year_end")
    with open_store(url) as store:
        fill(store, SHIFT_DAYS)
    downgrade(url, "0006")  # plain tables, copied in SQL, then partitioned
    replicate(url, 11)
    upgrade(url)
    with open_store(url) as store:
        rollup(store, now=LATER)
        targets = pending(store, now=LATER, window_days=0, before=date(2030, 1, 1))
        t0 = time.perf_counter()
        for target in targets[-last_days:]:
            compact_day(store, target, step=STEP_DEFAULT, now=LATER)
        seconds = time.perf_counter() - t0
    done = min(last_days, len(targets))
    return {"days": done, "days_before": len(targets) - done, "compact_s": round(seconds, 2),
            "year_s": round(seconds / done * 365, 1)}  # fmt: skip


def run(*, quick: bool, days: int | None = None) -> Section:
    days = days or (7 if quick else 28)
    section = Section(
        "8. Compaction: bytes per gateway-day and time (three-phase, 36 inverters)",
        [
            "backend",
            "as polled MB / day",
            "compacted MB / day",
            "readings / day (as polled -> kept)",
            "compaction s (gateway-days)",
            "a year, s (extrapolated)",
            f"--jobs {JOBS}: s, a year",
        ],
    )
    with tempfile.TemporaryDirectory() as tmp, postgres() as pg:
        urls = {"sqlite": (f"sqlite:///{tmp}/c.sqlite", f"sqlite:///{tmp}/e.sqlite")}
        if pg is not None:
            urls["postgresql"] = (pg.create_database("compact"), pg.create_database("empty"))
        urls["sqlite, simulator's site"] = (
            f"sqlite:///{tmp}/s.sqlite",
            f"sqlite:///{tmp}/se.sqlite",
        )
        if pg is not None:
            urls["postgresql, simulator's site"] = (
                pg.create_database("simulated"), pg.create_database("simulated_empty")
            )  # fmt: skip
        simulated_days = 2 if quick else 14
        for name, (url, empty) in urls.items():
            if name.endswith("site"):
                result = measure(url, empty, simulated_days, tmp, simulated=True, pg=pg)
            else:
                result = measure(url, empty, days, tmp, 2 if quick else 5, pg=pg)
            section.data[name] = result
            section.rows.append(
                [
                    name,
                    f"{result['full_bytes_per_day'] / 1e6:.2f}",
                    f"{result['compacted_bytes_per_day'] / 1e6:.3f}",
                    f"{result['readings_before'] // result['days']:,} -> "
                    f"{result['readings_after'] // result['days']:,}",
                    f"{result['compact_s']:.1f} ({result['days']})",
                    f"{result['year_s']:.0f}",
                    f"{result['jobs_s']:.1f}, {result['year_jobs_s']:.0f}",
                ]
            )
        if pg is not None and not quick:
            end = section.data["postgresql, a year's last days"] = year_end(pg)
            section.rows.append(
                ["postgresql, a year's last days", "-", "-", "-",
                 f"{end['compact_s']:.1f} ({end['days']})", f"{end['year_s']:.0f}", "-"]
            )  # fmt: skip
    for name, result in section.data.items():
        if "logged_days" not in result:
            continue
        n = result["logged_days"]
        tables = ", ".join(
            f"{t} {result['full_tables'].get(t, 0) / n / 1e3:.0f} -> {b / n / 1e3:.0f}"
            for t, b in result["compacted_tables"].items()
        )
        if "readers_full" not in result:
            section.notes.append(f"{name}: KB per gateway-day as polled -> compacted: {tables}.")
            continue
        full, small = result["readers_full"], result["readers_compacted"]
        section.notes.append(
            f"{name}: daily export {full['export_daily_s']:.3f} s as polled, "
            f"{small['export_daily_s']:.3f} s compacted; report (library, its day compacted) "
            f"{full['report_s']:.2f} s as polled, {small['report_s']:.2f} s compacted; "
            f"KB per gateway-day as polled -> compacted: {tables}."
        )
    section.notes += [
        f"The simulator's site ({SIMULATED}, the site of section 5): {simulated_days} "
        "simulated local days from 2024-06-15 logged through the service's job and store "
        "worker at the default cadences, raw bodies pruned, rolled up and compacted; its "
        "inverters report every 897-901 s while producing. Few days: each table's part-filled "
        "last pages weigh on its bytes per day.",
        f"{days} generated days (benchmarks/yeardata.py: minute meter and production.json "
        "readings, 5-minute reports of 36 inverters) written with save_polls, rolled up, then "
        "compacted with the defaults (an hour's step); sizes after VACUUM (SQLite) / VACUUM "
        "FULL (PostgreSQL), minus an empty database; raw bodies none.",
        "A year's time is the time to the first day written (start-up included) plus 364 "
        "days at the pace of the days written after it: each day is its own transaction "
        "reading only its day and a guard on each side. On PostgreSQL a search "
        "not bounded by the instant looks in every month's partition, so the full run also "
        "compacts the last 8 days of a generated year there (a month copied 11 times, "
        "rolled up) and extrapolates from them.",
        f"--jobs {JOBS}: the same days compacted again, from a copy made before, as "
        f"`envoylog compact --jobs {JOBS}` does: on PostgreSQL {JOBS} processes compact "
        f"days at once; on SQLite {JOBS} processes read and plan days while this one writes "
        "each. The time includes starting the processes.",
        f"Aims: at most {AIM_MB} MB per gateway-day compacted; a year in under {AIM_YEAR_S:.0f} s.",
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
