"""Benchmark the store: CPU per save_poll, bulk replay vs plain executemany, bytes per day.

The site is the largest we plan for: three phases, 3 CTs, 36 inverters with
device_data detail, every endpoint in every poll (worse than real cadences).

    python benchmarks/bench_store.py --out report.json [--rounds 300] [--replay-rounds 5]
        [--no-postgres]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "tests" / "db")]

from factories import T0, make_poll  # noqa: E402
from sqlalchemy import text  # noqa: E402

from benchmarks.bench_storage import TABLE_BYTES  # noqa: E402
from envoylog.db import Store, open_store, save_poll, save_polls  # noqa: E402
from envoylog.db.models import Base  # noqa: E402
from envoylog.records import PollResult  # noqa: E402


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 3),
        "p10_ms": round(ordered[len(ordered) // 10] * 1000, 3),
        "p90_ms": round(ordered[len(ordered) * 9 // 10] * 1000, 3),
        "stdev_ms": round(statistics.pstdev(ordered) * 1000, 3),
    }


def bench_save_poll(store: Store, rounds: int) -> dict[str, Any]:
    """CPU and wall time per save_poll; each round is a new minute, so nothing is ignored."""
    polls = [make_poll(T0 + timedelta(minutes=i)) for i in range(rounds + 20)]
    for poll in polls[:20]:  # warm the statement and id caches
        save_poll(store, poll)
    cpu: list[float] = []
    wall: list[float] = []
    rows = 0
    for poll in polls[20:]:
        c0, w0 = time.process_time(), time.perf_counter()
        rows += save_poll(store, poll).rows
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return {
        "rounds": rounds,
        "rows_per_poll": rows / rounds,
        "cpu": _percentiles(cpu),
        "wall": _percentiles(wall),
    }


def _spread(values: list[float], digits: int = 0) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": round(statistics.median(ordered), digits),
        "min": round(ordered[0], digits),
        "max": round(ordered[-1], digits),
    }


def _chunks(rows: list[Any], parts: int) -> list[list[Any]]:
    size = -(-len(rows) // parts)
    return [rows[i * size : (i + 1) * size] for i in range(parts)]


def replay_round(
    make_store: Callable[[str], Store], polls: list[PollResult], batch: int, n: int
) -> dict[str, float]:
    """One round: replay polls as the Writer does (save_polls per batch), then write exactly
    the rows it stored into a fresh database of the same schema with plain executemany.

    Both ceilings use the same tables and indexes and the same number of transactions as
    the replay: parent rows (gateways, meters, inverters) in the first, every other table
    cut into as many slices (in key order) as there were batches.
    - core: SQLAlchemy ``table.insert()`` executemany of dicts (what the issue calls the
      ceiling; instants go through the column types);
    - driver: the DBAPI cursor's executemany of tuples already in stored form.
    """
    replay_store = make_store(f"replay{n}")
    batches = [polls[i : i + batch] for i in range(0, len(polls), batch)]
    t0 = time.perf_counter()
    rows = 0
    for chunk in batches:
        rows += save_polls(replay_store, chunk).rows
    replay_s = time.perf_counter() - t0

    tables = Base.metadata.sorted_tables
    parents = {"gateways", "meters", "inverters"}
    with replay_store.reading("dumping") as conn:
        dumped = {
            t.name: [dict(r._mapping) for r in conn.execute(t.select().order_by(*t.primary_key))]
            for t in tables
        }
        raw = {
            t.name: [
                tuple(r)
                for r in conn.exec_driver_sql(
                    f"SELECT {', '.join(c.name for c in t.columns)} FROM {t.name} "
                    f"ORDER BY {', '.join(c.name for c in t.primary_key)}"
                )
            ]
            for t in tables
        }
    replay_store.close()
    copied = sum(len(v) for v in dumped.values())

    def plan(source: dict[str, list[Any]]) -> list[list[tuple[Any, list[Any]]]]:
        steps: list[list[tuple[Any, list[Any]]]] = [[] for _ in batches]
        for table in tables:
            slices = (
                [source[table.name]] + [[]] * (len(batches) - 1)
                if table.name in parents
                else _chunks(source[table.name], len(batches))
            )
            for step, part in zip(steps, slices, strict=True):
                if part:
                    step.append((table, part))
        return steps

    core_store = make_store(f"core{n}")
    t0 = time.perf_counter()
    for step in plan(dumped):
        with core_store.transaction("plain executemany") as txn:
            for table, part in step:
                txn.conn.execute(table.insert(), part)
    core_s = time.perf_counter() - t0
    core_store.close()

    driver_store = make_store(f"driver{n}")
    mark = "?" if driver_store.dialect == "sqlite" else "%s"
    t0 = time.perf_counter()
    for step in plan(raw):
        with driver_store.transaction("driver executemany") as txn:
            cursor = txn.conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            for table, part in step:
                names = [c.name for c in table.columns]
                cursor.executemany(
                    f"INSERT INTO {table.name} ({', '.join(names)}) "
                    f"VALUES ({', '.join([mark] * len(names))})",
                    part,
                )
            cursor.close()
    driver_s = time.perf_counter() - t0
    driver_store.close()
    return {
        "rows": rows,
        "copied": copied,
        "replay": rows / replay_s,
        "core": copied / core_s,
        "driver": copied / driver_s,
    }


def bench_replay(
    make_store: Callable[[str], Store], polls: list[PollResult], batch: int, rounds: int
) -> dict[str, Any]:
    """Replay vs the plain-executemany ceilings, median (min-max) over several rounds."""
    results = [replay_round(make_store, polls, batch, n) for n in range(rounds)]
    assert len({(r["rows"], r["copied"]) for r in results}) == 1
    return {
        "polls": len(polls),
        "batch": batch,
        "rounds": rounds,
        "rows": results[0]["rows"],
        "rows_copied_by_ceilings": results[0]["copied"],
        "replay_rows_per_s": _spread([r["replay"] for r in results]),
        "executemany_rows_per_s": _spread([r["core"] for r in results]),
        "driver_executemany_rows_per_s": _spread([r["driver"] for r in results]),
        "replay_vs_ceiling": _spread([r["replay"] / r["core"] for r in results], 3),
        "replay_vs_driver_ceiling": _spread([r["replay"] / r["driver"] for r in results], 3),
    }


def day_of_polls() -> list[PollResult]:
    """One day at a 60 s cadence with the real endpoint cadences (readings every minute,
    inverter endpoints every 5 minutes, /info and /ivp/meters hourly, /home daily)."""
    polls = []
    for minute in range(24 * 60):
        poll = make_poll(T0 + timedelta(minutes=minute))
        wanted = {"production_json", "meter_readings"}
        if minute % 5 == 0:
            wanted |= {"api_v1_inverters", "device_data"}
        if minute % 60 == 0:
            wanted |= {"info", "meters"}
        if minute == 0:
            wanted.add("home")
        polls.append(
            replace(poll, endpoints=tuple(e for e in poll.endpoints if e.endpoint in wanted))
        )
    return polls


def bytes_per_day(store: Store, polls: list[PollResult]) -> dict[str, Any]:
    for i in range(0, len(polls), 60):
        save_polls(store, polls[i : i + 60])
    if store.dialect == "sqlite":
        path = str(store.engine.url.database)
        store.close()  # the last connection checkpoints the WAL into the file
        with sqlite3.connect(path) as conn:
            sizes = dict(conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"))
    else:
        with store.reading("sizing") as conn:
            sizes = {
                t.name: conn.execute(text(TABLE_BYTES), {"t": t.name}).scalar_one()
                for t in Base.metadata.sorted_tables
            }
        store.close()
    raw = sum(v for k, v in sizes.items() if "raw_bodies" in k)
    total = sum(sizes.values())
    return {
        "total_bytes": total,
        "without_raw_bodies_bytes": total - raw,
        "mb_per_day_without_raw_bodies": round((total - raw) / 1e6, 3),
        "largest": dict(sorted(sizes.items(), key=lambda kv: -kv[1])[:8]),
    }


def run_backend(
    name: str, make_store: Callable[[str], Store], rounds: int, replay_rounds: int
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    store = make_store("save")
    result["save_poll"] = bench_save_poll(store, rounds)
    store.close()
    polls = [make_poll(T0 + timedelta(minutes=i)) for i in range(500)]
    result["replay"] = bench_replay(make_store, polls, batch=50, rounds=replay_rounds)
    result["storage"] = bytes_per_day(make_store("day"), day_of_polls())
    print(f"{name}: {json.dumps(result, indent=2)}", file=sys.stderr)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--replay-rounds", type=int, default=5)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        report["sqlite"] = run_backend(
            "sqlite",
            lambda n: open_store(f"sqlite:///{folder}/{n}.sqlite"),
            args.rounds,
            args.replay_rounds,
        )
    if not args.no_postgres:
        from pg_server import PostgresServer, PostgresUnavailable

        try:
            with PostgresServer.start() as server:
                report["postgresql"] = run_backend(
                    "postgresql",
                    lambda n: open_store(server.create_database(f"bench_{n}")),
                    args.rounds,
                    args.replay_rounds,
                )
        except PostgresUnavailable as exc:
            report["postgresql"] = {"skipped": str(exc)}
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
