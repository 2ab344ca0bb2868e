"""A PostgreSQL frozen under the running service: no poll lost or doubled, a stop within 30 s.

    python benchmarks/bench_frozen_db.py [--frozen-s 300] [--tick-s 5] [--json out.json]

The scenario of issue 14's first finding, for real: `envoylog run` (a child process)
polls a replayed gateway every TICK seconds into a private PostgreSQL; the server is
frozen with SIGSTOP (the postmaster and every child: connections stay open and the
kernel still acknowledges, so neither keepalives nor statement_timeout fire) for
FROZEN seconds; SIGTERM is sent during the freeze; then the server is thawed and the
service started again until the spool is replayed. Reported: polls made (requests the
gateway answered), stored, found in the spool at the stop, lost, stored twice, seconds
from SIGTERM to exit, and the service's peak RSS. tests/service/test_frozen_database.py
runs it short; the figures in docs/reliability.md come from the full run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import REPO, envoylog_cmd

if str(REPO / "tests") not in sys.path:
    sys.path.append(str(REPO / "tests"))

SITE = REPO / "sample_data" / "legacy-5.0-nonmetered"  # plain HTTP: no token to manage
PRODUCTION = "/production.json"
STOP_BUDGET_S = 30.0


def run(
    server: Any,
    folder: Path,
    *,
    frozen_s: float,
    tick_s: int = 5,
    before_polls: int = 2,
    db_timeout_s: int = 2,
    say: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Run the scenario on ``server`` (a tests/pg_server.PostgresServer); return its figures."""
    from envoylog.simulator.replay import ReplayServer

    url = server.create_database(f"frozen_{int(time.time() * 1000) % 10**9}")
    with ReplayServer(SITE) as gateway:
        config = _config(folder, gateway.url, url, tick_s=tick_s, db_timeout_s=db_timeout_s)
        service = _start(folder, config, "first")
        try:
            _wait(lambda: len(_stored(server, url)) >= before_polls, 120, "polls stored")
            say(f"{len(_stored(server, url))} polls stored; freezing PostgreSQL")
            server.freeze()
            frozen_at = time.monotonic()
            time.sleep(frozen_s)
            peak_kb = _peak_rss_kb(service.pid)
            say(f"frozen {time.monotonic() - frozen_at:.0f} s; SIGTERM")
            terminated = time.monotonic()
            service.send_signal(signal.SIGTERM)
            code = service.wait(120)
            stop_s = time.monotonic() - terminated
        finally:
            if service.poll() is None:
                service.kill()
                service.wait()
        made = _made(gateway)
        spooled = _spooled(folder / "spool")
        say(f"stopped in {stop_s:.1f} s (exit {code}); {spooled} polls in the spool; thawing")
        server.thaw()
        stored_before = len(_stored(server, url))
        again = _start(folder, config, "second")
        try:
            _wait(lambda: _spooled(folder / "spool") == 0, 120, "spool replayed")
            _wait(lambda: len(_stored(server, url)) > made, 60, "a new poll stored")
            again.send_signal(signal.SIGTERM)
            again_code = again.wait(60)
        finally:
            if again.poll() is None:
                again.kill()
                again.wait()
        made_total = _made(gateway)
    started = _stored(server, url)
    log = (folder / "first.log").read_text()
    return {
        "frozen_s": round(frozen_s),
        "tick_s": tick_s,
        "polls_made_before_stop": made,
        "polls_stored_before_freeze_ended": stored_before,
        "polls_in_spool_at_stop": spooled,
        "polls_made": made_total,
        "polls_stored": len(set(started)),
        "polls_lost": made_total - len(set(started)),
        "polls_duplicated": len(started) - len(set(started)),
        "stored_in_order": started == sorted(started),
        "stop_s": round(stop_s, 1),
        "exit_code": code,
        "exit_code_after": again_code,
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "warnings_unavailable": log.count("database_unavailable"),
        "warnings_still_unavailable": log.count("database_still_unavailable"),
        "tracebacks": log.count("Traceback"),
    }


def _config(folder: Path, host: str, url: str, *, tick_s: int, db_timeout_s: int) -> Path:
    config = folder / "envoylog.toml"
    config.write_text(
        f'database = "{url}"\nspool_dir = "{folder / "spool"}"\n'
        f"db_timeout_s = {db_timeout_s}\n"
        'quiet_start = "00:00"\nquiet_end = "00:00"\nrollup_interval_s = 0\n\n'
        f"[cadence]\nproduction_json = {tick_s}\n\n"
        f'[[gateway]]\nname = "garage"\nhost = "{host}"\n'
    )
    return config


def _start(folder: Path, config: Path, name: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "XDG_STATE_HOME": str(folder / "state"),
        "ENVOYLOG_CONFIG": str(config),
    }
    env.pop("ENVOYLOG_DB", None)
    with open(folder / f"{name}.log", "wb") as out:
        return subprocess.Popen(envoylog_cmd("run"), env=env, stdout=out, stderr=out)


def _made(gateway: Any) -> int:
    return sum(1 for r in gateway.requests if r.path.startswith(PRODUCTION))


def _spooled(spool: Path) -> int:
    return len(list(spool.glob("*/*-*.json")))


def _stored(server: Any, url: str) -> list[Any]:
    """Each stored poll's start, in the order they were stored ([] while unreachable)."""
    import psycopg

    database = url.rsplit("/", 1)[1]
    try:
        with psycopg.connect(
            host=server.host, port=server.port, user="postgres", dbname=database, connect_timeout=2
        ) as conn:
            return [r[0] for r in conn.execute("select started_at from polls order by id")]
    except psycopg.Error:
        return []


def _peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _wait(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout_s:g} s")
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frozen-s", type=float, default=300.0)
    parser.add_argument("--tick-s", type=int, default=5)
    parser.add_argument("--db-timeout-s", type=int, default=30)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    from pg_server import PostgresServer

    with PostgresServer.start(durable=True) as server, tempfile.TemporaryDirectory() as tmp:
        figures = run(
            server,
            Path(tmp),
            frozen_s=args.frozen_s,
            tick_s=args.tick_s,
            db_timeout_s=args.db_timeout_s,
            say=lambda line: print(line, file=sys.stderr, flush=True),
        )
    text = json.dumps(figures, indent=1, default=str)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0 if figures["polls_lost"] == 0 and figures["stop_s"] <= STOP_BUDGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
