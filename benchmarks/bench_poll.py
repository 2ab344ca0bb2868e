"""Benchmark 1: CPU per poll, envoylog vs pyenphase, against `envoylog simulate --replay`.

For each sample_data/ site one replay server runs in its own process. Each round
starts, one after the other against that server:
- pyenphase (in its own venv, benchmarks/pyenphase_child.py): CPU per ``update()``;
- envoylog on SQLite and on PostgreSQL (this file with --child): per poll, CPU of
  ``poll_once`` over every endpoint (fetch + parse), of ``save_poll`` (store; the poll
  is moved a minute on each round so every row is new), and of ``poll_once`` over
  only the endpoints pyenphase reads (the like-for-like fetch + parse).
Only the client process's CPU is counted (time.process_time around the calls).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (
    REPO,
    SAMPLES,
    SITES,
    Section,
    battery_note,
    envoylog_cmd,
    fmt,
    free_port,
    postgres,
    run_json,
    serve,
    spread,
    stop,
)

# pyenphase's own venv: .bench-venv in the project folder (ignored by git), or ENVOYLOG_BENCH_VENV.
DEFAULT_VENV = Path(os.environ.get("ENVOYLOG_BENCH_VENV", REPO / ".bench-venv"))


def modern(site: str) -> bool:
    return any('"bearer"' in p.read_text() for p in (SAMPLES / site).glob("*_log.json"))


def bench_token() -> str:
    from envoylog.simulator import make_token

    return make_token("benchmark", expires_at=time.time() + 365 * 86400)


# -- envoylog's side, in a child process ---------------------------------------------


def child(
    url: str, db_url: str, rounds: int, warmup: int, same_as: list[str], recorded: datetime
) -> dict[str, Any]:
    """``recorded``: when the replayed site was recorded, the clock its polls run on (on
    another, its instants would read as a gateway clock far off, and be left out)."""
    from benchmarks.timeshift import shift_poll
    from envoylog import endpoints as ep
    from envoylog.client import Credentials, GatewayClient
    from envoylog.db import open_store, save_poll
    from envoylog.poller import GatewayState, poll_once

    token = bench_token() if url.startswith("https") else None
    client = GatewayClient(url, credentials=Credentials(token=token))
    state = GatewayState(host=url)
    store = open_store(db_url)
    like = [e for e in ep.ALL if e.path.split("?")[0] in same_as]
    fetch, save, like_fetch = [], [], []
    rows = 0
    requests = 0
    for n in range(warmup + rounds):
        c0 = time.process_time()
        poll = poll_once(client, state, clock=lambda: recorded)
        c1 = time.process_time()
        moved = shift_poll(poll, timedelta(minutes=n))
        c2 = time.process_time()
        summary = save_poll(store, moved)
        c3 = time.process_time()
        poll_once(client, state, endpoints=like, clock=lambda: recorded)
        c4 = time.process_time()
        if n >= warmup:
            fetch.append(c1 - c0)
            save.append(c3 - c2)
            like_fetch.append(c4 - c3)
            rows = summary.rows
            requests = sum(e.http_status is not None for e in poll.endpoints)
    per_minute = cadence_minutes(client, store, first=warmup + rounds, start=recorded)
    store.close()
    client.close()
    return {
        "per_minute_s": statistics.median(per_minute),
        "fetch_parse_s": statistics.median(fetch),
        "store_s": statistics.median(save),
        "poll_s": statistics.median(f + s for f, s in zip(fetch, save, strict=True)),
        "like_fetch_parse_s": statistics.median(like_fetch),
        "rows_per_poll": rows,
        "requests_per_poll": requests,
        "like_endpoints": [e.name for e in like],
    }


def cadence_minutes(
    client: Any, store: Any, *, first: int, start: datetime, hours: int = 2
) -> list[float]:
    """CPU per minute of the service's own job at the default cadences, one value per hour.

    A ``GatewayJob`` (the service's per-gateway job, default cadences, no quiet window)
    runs one tick per minute on a manual clock: fetch + parse of what is due, then
    ``save_poll`` of it (moved in time like the polls above, so every row is new; the move
    itself is not counted). The first hour warms up (it reads every endpoint once); each
    later hour gives the mean CPU per minute, which includes the hourly, 5-minute and
    1-minute endpoints in the proportions a running service reads them.
    """
    from benchmarks.timeshift import shift_poll
    from envoylog.config.model import default_cadences
    from envoylog.db import save_poll
    from envoylog.records import PollResult
    from envoylog.service.jobs import GatewayJob

    now = [start]
    polls: list[PollResult] = []
    job = GatewayJob(
        name="bench",
        client=client,
        submit=polls.append,
        cadences=default_cadences(),
        clock=lambda: now[0],
        quiet=None,
    )
    per_hour: list[float] = []
    for hour in range(1 + hours):
        cpu = 0.0
        for minute in range(60):
            c0 = time.process_time()
            job.run()
            cpu += time.process_time() - c0
            # Moving the poll in time is the benchmark's own work: not counted.
            by = timedelta(minutes=first + hour * 60 + minute)
            moved = [shift_poll(poll, by) for poll in polls]
            c0 = time.process_time()
            for poll in moved:
                save_poll(store, poll)
            cpu += time.process_time() - c0
            polls.clear()
            now[0] += timedelta(minutes=1)
        if hour > 0:
            per_hour.append(cpu / 60)
    return per_hour


# -- the parent: servers, rounds, ratios ----------------------------------------------


def pyenphase_python(venv: Path) -> Path | None:
    python = venv / "bin" / "python"
    if not python.exists():
        return None
    probe = os.system(f"{python} -c 'import pyenphase' >/dev/null 2>&1")
    return python if probe == 0 else None


def run_site(
    site: str,
    rounds: int,
    polls: int,
    py: Path | None,
    pg: Any,
    folder: Path,
) -> dict[str, Any]:
    from support import fetched_at  # tests/, on the path once benchmarks.common is imported

    tls = modern(site)
    port = free_port()
    cmd = envoylog_cmd("simulate", "--replay", str(SAMPLES / site), "--port", str(port))
    server = serve(cmd + (["--tls"] if tls else []), port)
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    token = bench_token()
    results: dict[str, list[Any]] = {"pyenphase": [], "sqlite": [], "postgresql": []}
    try:
        for r in range(rounds):
            paths: list[str] = ["/production.json"]
            if py is not None:
                args = [str(py), str(Path(__file__).with_name("pyenphase_child.py"))]
                args += [f"127.0.0.1:{port}", "--rounds", str(polls), "--token", token]
                found = run_json(args)
                paths = found["paths"]
                found["median_s"] = statistics.median(found.pop("cpu_s"))
                results["pyenphase"].append(found)
            backends = {"sqlite": f"sqlite:///{folder}/{site}-{r}.sqlite"}
            if pg is not None:
                backends["postgresql"] = pg.create_database(f"poll_{site.replace('-', '_')}_{r}")
            for name, db_url in backends.items():
                args = [sys.executable, __file__, "--child", url, "--db", db_url]
                args += ["--polls", str(polls), "--same-as", ",".join(paths)]
                args += ["--recorded", fetched_at(SAMPLES / site).isoformat()]
                results[name].append(run_json(args))
    finally:
        stop(server)
    return summarise(site, results)


def summarise(site: str, results: dict[str, list[Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"site": site}
    for backend in ("sqlite", "postgresql"):
        got = results[backend]
        if not got:
            continue
        out[backend] = {
            key: spread([g[key] * 1000 for g in got])
            for key in ("poll_s", "fetch_parse_s", "store_s", "like_fetch_parse_s", "per_minute_s")
        }
        out[backend]["rows_per_poll"] = got[0]["rows_per_poll"]
        out[backend]["requests_per_poll"] = got[0]["requests_per_poll"]
        out["like_endpoints"] = got[0]["like_endpoints"]
    pe = results["pyenphase"]
    if pe:
        out["pyenphase"] = {
            "update_ms": spread([p["median_s"] * 1000 for p in pe]),
            "requests_per_update": pe[0]["requests_per_update"],
            "paths": pe[0]["paths"],
        }
        sq = results["sqlite"]
        out["ratio_poll_sqlite"] = spread(
            [s["poll_s"] / p["median_s"] for s, p in zip(sq, pe, strict=True)]
        )
        out["ratio_per_minute_sqlite"] = spread(
            [s["per_minute_s"] / p["median_s"] for s, p in zip(sq, pe, strict=True)]
        )
        out["ratio_like_fetch_parse"] = spread(
            [s["like_fetch_parse_s"] / p["median_s"] for s, p in zip(sq, pe, strict=True)]
        )
        if results["postgresql"]:
            out["ratio_poll_postgresql"] = spread(
                [
                    s["poll_s"] / p["median_s"]
                    for s, p in zip(results["postgresql"], pe, strict=True)
                ]
            )
    return out


def run(
    *,
    quick: bool,
    sites: list[str] | None = None,
    venv: Path = DEFAULT_VENV,
    rounds: int | None = None,
    polls: int | None = None,
) -> Section:
    rounds = rounds or (2 if quick else 5)
    polls = polls or (15 if quick else 100)
    py = pyenphase_python(venv)
    section = Section(
        "1. Overhead per poll (CPU ms)",
        [
            "site",
            "envoylog poll SQLite",
            "envoylog poll PostgreSQL",
            "of which store (SQLite)",
            "envoylog same endpoints",
            "envoylog per minute at default cadences (SQLite)",
            "pyenphase update()",
            "poll / pyenphase",
            "same endpoints / pyenphase",
            "per minute / pyenphase",
        ],
    )
    with tempfile.TemporaryDirectory() as tmp, postgres() as pg:
        for site in sites or list(SITES):
            result = run_site(site, rounds, polls, py, pg, Path(tmp))
            section.data[site] = result
            sq, pq, pe = result.get("sqlite", {}), result.get("postgresql"), result.get("pyenphase")
            section.rows.append(
                [
                    f"{site} ({sq['requests_per_poll']} req, {sq['rows_per_poll']} rows)",
                    fmt(sq["poll_s"]),
                    fmt(pq["poll_s"]) if pq else "-",
                    fmt(sq["store_s"]),
                    fmt(sq["like_fetch_parse_s"]),
                    fmt(sq["per_minute_s"]),
                    f"{fmt(pe['update_ms'])} ({pe['requests_per_update']} req)" if pe else "-",
                    fmt(result.get("ratio_poll_sqlite")),
                    fmt(result.get("ratio_like_fetch_parse")),
                    fmt(result.get("ratio_per_minute_sqlite")),
                ]
            )
    section.notes += [
        f"{rounds} rounds per site; each round is a fresh process per client making "
        f"{polls} polls after warm-up; a round's figure is the median poll.",
        "envoylog poll = fetch + parse of every endpoint the site serves (poll_once) + "
        "save_poll of it (moved one minute per poll, so every row is new).",
        "same endpoints = envoylog's poll_once over only the endpoints pyenphase reads "
        "(fetch + parse, no store), the like-for-like comparison.",
        "per minute = what a running service spends per gateway-minute: the service's own "
        "GatewayJob at the default cadences, one tick a minute on a manual clock for two "
        "hours after an hour of warm-up, fetch + parse + store of whatever is due "
        "(pyenphase's update() is what a Home Assistant poll does each minute).",
        "Aim: poll at most half of pyenphase's update() for the same site (ratio <= 0.5).",
    ]
    battery_note(
        section,
        "ms CPU per gateway-minute (SQLite)",
        lambda r: float(r["sqlite"]["per_minute_s"]["median"]),  # already in ms here
    )
    if py is None:
        section.notes.append(
            f"pyenphase skipped: no venv with pyenphase at {venv} "
            "(python3 -m venv DIR && DIR/bin/pip install pyenphase; ENVOYLOG_BENCH_VENV=DIR)."
        )
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", metavar="URL")
    parser.add_argument("--db")
    parser.add_argument("--polls", type=int, default=100)
    parser.add_argument("--same-as", default="/production.json")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--site", action="append")
    parser.add_argument("--recorded", type=datetime.fromisoformat)
    args = parser.parse_args()
    if args.child:
        result = child(args.child, args.db, args.polls, 5, args.same_as.split(","), args.recorded)
        print(json.dumps(result))
        return
    print(run(quick=args.quick, sites=args.site).markdown())


if __name__ == "__main__":
    main()
