"""Benchmark exports: a year of one 36-inverter site, daily/monthly/inverters, CSV and Parquet.

Fills the energy tables directly (one gateway, a year of hourly, daily and
monthly rows, and inverter_daily for 36 inverters), then times
``envoylog.export.export`` on an open store and the whole ``envoylog export``
command (open, schema check, query, write), on SQLite and PostgreSQL. Also
compares two ways of reading the rows: ``pandas.read_sql`` against building
the frame from fetched rows (what the library does).

    python benchmarks/bench_export.py [--rounds 20] [--out report.json] [--no-postgres]

Other benchmarks import :func:`fill_year` and :func:`time_export`.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "export")]

import pandas as pd  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from energy_rows import add_gateway, add_inverter, energy, insert_rows, inverter_day  # noqa: E402

from envoylog.cli import EnvoylogGroup  # noqa: E402
from envoylog.cli.export import export as export_command  # noqa: E402
from envoylog.db import Store, open_store  # noqa: E402
from envoylog.db.exports import _query, fetch_rows  # noqa: E402
from envoylog.export import ExportKind, Format, build_frame, export  # noqa: E402

SERIAL = "122233445566"
INVERTERS = 36


def _day_figures(day: date) -> dict[str, Any]:
    """Plausible figures for one day (summer peaks), so CSV cells have realistic widths."""
    season = 0.5 + 0.5 * abs(182 - day.timetuple().tm_yday) / 182
    production = 30000.0 * (1.2 - season) + 0.123
    return {
        "production_wh": production,
        "consumption_wh": 14000.0 + 0.456,
        "import_wh": 6000.0 * season,
        "export_wh": production * 0.6,
        "net_grid_wh": 6000.0 * season - production * 0.6,
        "self_consumption_wh": production * 0.4,
        "self_sufficiency": 0.57,
        "peak_production_w": 7000.0 * (1.2 - season),
        "coverage": 0.997,
        "production_source": "production-ct-delivered",
        "consumption_source": "total-ct-delivered",
        "grid_source": "net-ct",
    }


def fill_year(store: Store, year: int = 2024, inverters: int = INVERTERS) -> dict[str, int]:
    """One gateway with a year of hourly, daily, monthly and per-inverter daily energy."""
    gateway = add_gateway(store, SERIAL, "house", "Europe/Berlin")
    first = date(year, 1, 1)
    days = [first + timedelta(days=i) for i in range((date(year + 1, 1, 1) - first).days)]
    start = datetime(year, 1, 1, tzinfo=UTC) - timedelta(hours=1)
    hours = [start + timedelta(hours=h) for h in range(len(days) * 24)]
    insert_rows(
        store,
        "hourly",
        (
            {
                "gateway_id": gateway,
                "start_at": at,
                "local_start": at.isoformat(),
                **energy(production_wh=1000.0),
            }
            for at in hours
        ),
    )
    insert_rows(
        store,
        "daily",
        ({"gateway_id": gateway, "day": d, **energy(**_day_figures(d))} for d in days),
    )
    insert_rows(
        store,
        "monthly",
        (
            {"gateway_id": gateway, "month": date(year, m, 1), **energy(**_day_figures(first))}
            for m in range(1, 13)
        ),
    )
    ids = [add_inverter(store, gateway, f"4823{n:08d}") for n in range(inverters)]
    insert_rows(
        store,
        "inverters",
        (
            inverter_day(i, d, wh=900.0 + n, peak_w=290.0 + n / 10, coverage=0.99)
            for n, i in enumerate(ids)
            for d in days
        ),
    )
    counts = {"hourly": len(hours), "daily": len(days), "monthly": 12}
    return {**counts, "inverters": len(ids) * len(days)}


def _stats(samples: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(samples) * 1000, 2),
        "min_ms": round(min(samples) * 1000, 2),
        "max_ms": round(max(samples) * 1000, 2),
    }


def _timed(action: Callable[[], Any], rounds: int) -> tuple[dict[str, float], Any]:
    action()  # warm caches and imports
    samples: list[float] = []
    result: Any = None
    for _ in range(rounds):
        t0 = time.perf_counter()
        result = action()
        samples.append(time.perf_counter() - t0)
    return _stats(samples), result


def time_export(store: Store, kind: ExportKind, fmt: Format, rounds: int = 20) -> dict[str, Any]:
    """Median, min and max wall time of one export on an open store, with rows and bytes."""

    def once() -> tuple[int, int]:
        out = io.BytesIO()
        summary = export(store, kind, fmt=fmt, output=out)
        return summary.rows, len(out.getvalue())

    stats, (rows, size) = _timed(once, rounds)
    return {**stats, "rows": rows, "bytes": size}


def time_command(db_url: str, kind: ExportKind, fmt: Format, rounds: int = 5) -> dict[str, Any]:
    """The whole ``envoylog export`` command in-process: open, schema check, read, write."""
    group = EnvoylogGroup(name="bench", commands={"export": export_command})
    args = ["export", kind.value, "--db", db_url, "--format", fmt]

    def once() -> None:
        result = CliRunner().invoke(group, args)
        assert result.exit_code == 0, result.output

    stats, _ = _timed(once, rounds)
    return stats


def time_reading(store: Store, kind: ExportKind, rounds: int = 20) -> dict[str, Any]:
    """Rows into the export frame: pandas.read_sql vs fetched rows + build_frame."""
    query, _ = _query(kind.value, None, None, None)

    def with_read_sql() -> pd.DataFrame:
        with store.engine.connect() as conn:
            return pd.read_sql(query, conn)

    def with_rows() -> pd.DataFrame:
        return build_frame(kind, fetch_rows(store, kind.value))

    read_sql, _ = _timed(with_read_sql, rounds)
    rows, _ = _timed(with_rows, rounds)
    return {"read_sql (raw columns only)": read_sql, "rows + build_frame": rows}


def run_backend(store: Store, db_url: str, rounds: int) -> dict[str, Any]:
    report: dict[str, Any] = {"rows": fill_year(store)}
    for kind in ExportKind:
        for fmt in ("csv", "parquet"):
            key = f"{kind.value} {fmt}"
            report[f"export {key}"] = time_export(store, kind, fmt, rounds)  # type: ignore[arg-type]
        report[f"reading {kind.value}"] = time_reading(store, kind, rounds)
    report["command daily csv"] = time_command(db_url, ExportKind.DAILY, "csv")
    report["command inverters parquet"] = time_command(db_url, ExportKind.INVERTERS, "parquet")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.sqlite"
        with open_store(url) as store:
            report["sqlite"] = run_backend(store, url, args.rounds)
    if not args.no_postgres:
        from pg_server import PostgresServer, PostgresUnavailable

        try:
            with PostgresServer.start() as server:
                url = server.create_database("bench_export")
                with open_store(url) as store:
                    report["postgresql"] = run_backend(store, url, args.rounds)
        except PostgresUnavailable as exc:
            report["postgresql"] = {"skipped": str(exc)}
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
