"""Benchmark 3: one `envoylog run` logging N simulated gateways into PostgreSQL.

Each step runs `envoylog simulate --site PROFILE --gateways N` in one process and
`envoylog run --config fleet.toml` (N [[gateway]] tables, no quiet window) in another,
for a warm-up and then a measured window. N rises until a step has fewer than 99.5%
of its polls on time, or its store worker falls more than a minute of polls behind.

On time, precisely: each gateway's job fires on its own grid, its first tick plus
k x cadence (the service spreads the first ticks of a fleet over one cadence and writes
each gateway's first tick in its status file, `first_tick_at`; without it, the grid's
origin is that gateway's earliest poll stored, which a late first poll would shift:
every later poll, on time, would then look up to a tick late). For each gateway and each tick
of its grid inside the window, the tick is on time when a poll of that gateway started
within TOLERANCE_S after it. On-time share = on-time ticks / all ticks of all gateways
in the window: a late, missed or coalesced poll all count against it.
"Evenly spaced" is the share of a gateway's consecutive polls whose spacing is within
the cadence +- TOLERANCE_S (a constant lag does not count against it).
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import itertools

from benchmarks.common import (
    ProcessSampler,
    Section,
    envoylog_cmd,
    free_port,
    postgres,
    serve,
    stop,
)

TOLERANCE_S = 5.0
STORE_SAMPLE_S = 30.0
STORE_LAG_S = 10.0  # a poll takes well under this to fetch and store
EARLY_S = 1.0
# Unless told, a rollup round starts every window's length (600 s in a full step: six
# times the service's default rate), so that each window holds one. At 300 s, a round of
# 5,000 gateways (35 ms each, section 3d) was more work than the polls themselves.
ROLLUP_INTERVAL_S: int | None = None
AIM = 0.995
# After the warm-up, the window waits at most this much longer for every gateway's
# first poll (the service holds them while its store is behind).
START_LIMIT_S = 900.0
FAST_ENDPOINTS = ("production_json", "meter_readings", "production")


def allow_files(wanted: int) -> None:
    """Let the simulator (a socket per gateway and per connection) and the service open
    ``wanted`` files: children inherit the limit; raising the hard limit needs root."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
        except (ValueError, OSError) as exc:
            print(f"fleet: cannot allow {wanted} open files ({exc})", file=sys.stderr)
    elif soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def default_warmup(n: int, *, quick: bool) -> float:
    """A fleet's first start pins every gateway's certificate, polls every endpoint and
    creates every device row: 5,000 gateways took 2.5-3 minutes to settle here (section
    3c of docs/performance.md). A large fleet's first polls are also spread over several
    ticks (service.scheduler.first_spread_s). The window begins after both."""
    from envoylog.service.scheduler import first_spread_s

    if quick:
        return 45.0
    return max(90.0, 0.06 * n, first_spread_s(n, 60.0) + 30.0)


def warmup_note(warmup_s: float | None, quick: bool) -> str:
    if warmup_s is not None:
        return f"{warmup_s:.0f} s warm-up"
    if quick:
        return "45 s warm-up"
    return "a warm-up of the longest of 90 s, 60 s per 1,000 gateways, first polls' spread + 30 s"


def write_config(
    path: Path,
    db_url: str,
    port: int,
    n: int,
    token: str,
    cadence_s: int,
    state: Path,
    rollup_interval_s: int = 600,
    first: int = 0,
) -> None:
    """One process's config: ``n`` gateways from number ``first`` of the fleet."""
    lines = [
        f'database = "{db_url}"',
        f'spool_dir = "{state / "spool"}"',
        'quiet_start = "00:00"',
        'quiet_end = "00:00"',
        'log_level = "warning"',
        f"rollup_interval_s = {rollup_interval_s}",
        "",
        "[cadence]",
        *(f"{name} = {cadence_s}" for name in FAST_ENDPOINTS),
        "",
    ]
    for i in range(first, first + n):
        lines += [
            "[[gateway]]",
            f'name = "gw{i:04d}"',
            f'host = "https://127.0.0.1:{port + i}"',
            f'token = "{token}"',
            "",
        ]
    path.write_text("\n".join(lines))
    path.chmod(0o600)


def on_time(
    polls: list[tuple[int, datetime]],
    n: int,
    w0: datetime,
    w1: datetime,
    cadence_s: int,
    first_ticks: dict[int, float] | None = None,
) -> dict[str, Any]:
    """On-time share, lateness and spacing of the polls (gateway_id, started_at) of a step;
    ``first_ticks``: each gateway's first tick (epoch seconds) by gateway_id, where known."""
    if not polls:
        return {"on_time_share": 0.0, "ticks": 0}
    first_ticks = first_ticks or {}
    by_gateway: dict[int, list[float]] = {}
    for gateway, started in polls:
        by_gateway.setdefault(gateway, []).append(started.timestamp())
    on = 0
    expected = 0
    lateness: list[float] = []
    for gateway, times in by_gateway.items():
        origin = first_ticks.get(gateway, min(times))
        first_k = -(-(w0.timestamp() - origin) // cadence_s)
        last_k = (w1.timestamp() - origin) // cadence_s  # a tick at the window's end is out
        if (w1.timestamp() - origin) % cadence_s == 0:
            last_k -= 1
        expected += max(0, int(last_k - first_k + 1))
        seen: set[int] = set()
        for t in times:
            # A poll up to EARLY_S before a tick belongs to that tick.
            k = (t - origin + EARLY_S) // cadence_s
            if first_k <= k <= last_k:
                late = max(0.0, t - (origin + k * cadence_s))
                lateness.append(late)
                if late <= TOLERANCE_S:
                    seen.add(int(k))
        on += len(seen)
    # Gateways that never polled in the window still had their ticks.
    ticks = expected // len(by_gateway) if by_gateway else 0
    expected += ticks * max(0, n - len(by_gateway))
    gaps = [b - a for ts in map(sorted, by_gateway.values()) for a, b in itertools.pairwise(ts)]
    even = [abs(g - cadence_s) <= TOLERANCE_S for g in gaps]
    lateness.sort()
    return {
        "ticks": ticks,
        "expected_polls": expected,
        "polls": len(lateness),
        "gateways_polled": len(by_gateway),
        "on_time_share": round(on / expected, 4) if expected else None,
        "evenly_spaced_share": round(sum(even) / len(even), 4) if even else None,
        "lateness_s_p50": round(statistics.median(lateness), 2) if lateness else None,
        "lateness_s_p99": round(lateness[int(len(lateness) * 0.99)], 2) if lateness else None,
        "lateness_s_max": round(lateness[-1], 2) if lateness else None,
    }


def fetch_polls(db_url: str, since: datetime) -> list[tuple[int, datetime]]:
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT gateway_id, started_at FROM polls WHERE started_at >= :s"),
                {"s": since},
            ).all()
    finally:
        engine.dispose()
    return [(int(g), s if s.tzinfo else s.replace(tzinfo=UTC)) for g, s in rows]


def first_ticks(db_url: str, state: Path) -> dict[int, float]:
    """Each gateway's first tick (epoch seconds) by gateway_id, from the service's status
    file (``first_tick_at`` per gateway, with its serial) and the gateways table."""
    from sqlalchemy import create_engine, text

    try:
        gateways = json.loads((state / "status.json").read_text())["gateways"]
    except (OSError, ValueError, KeyError):
        return {}
    by_serial = {
        g["serial"]: datetime.fromisoformat(g["first_tick_at"]).timestamp()
        for g in gateways.values()
        if g.get("serial") and g.get("first_tick_at")
    }
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, serial FROM gateways")).all()
    finally:
        engine.dispose()
    return {int(i): by_serial[s] for i, s in rows if s in by_serial}


def wait_started(states: list[Path], since: float, limit_s: float) -> float | None:
    """Wait until every service has made every gateway's first poll, at most ``limit_s``
    from ``since`` (time.monotonic()); the seconds from ``since`` it took (to the status
    file's next rewrite, 15 s), or None when some had not started by then."""
    while True:
        counts = [status_count(state, "gateways_not_started") for state in states]
        if all(count == 0 for count in counts):
            return round(time.monotonic() - since)
        if time.monotonic() - since >= limit_s:
            return None
        time.sleep(5.0)


def status_count(state: Path, key: str) -> int | None:
    """A count from the service's status file (rewritten every heartbeat, 15 s):
    ``rollup_rounds`` (rounds the store worker has finished), ``gateways_not_started``
    (first polls not made yet: they wait while the store is behind); None: unknown."""
    try:
        return int(json.loads((state / "status.json").read_text())[key])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def stored_during(db_url: str, window_s: float) -> list[tuple[datetime, int]]:
    """Every STORE_SAMPLE_S of the window: (cutoff, polls stored so far that started before
    it), the cutoff being STORE_LAG_S ago; polls are stored when they finish, so the store
    keeps up when these counts are, once the run is over, still the counts."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import ProgrammingError

    engine = create_engine(db_url)
    samples = []
    end = time.monotonic() + window_s
    try:
        while (left := end - time.monotonic()) > 0:
            time.sleep(min(STORE_SAMPLE_S, left))
            cutoff = datetime.now(tz=UTC) - timedelta(seconds=STORE_LAG_S)
            try:
                with engine.connect() as conn:
                    count = conn.execute(
                        text("SELECT count(*) FROM polls WHERE started_at < :c"), {"c": cutoff}
                    ).scalar_one()
            except ProgrammingError:  # a slow start: the service has not made the schema yet
                count = 0
            samples.append((cutoff, int(count)))
    finally:
        engine.dispose()
    return samples


def backlog(stored: list[tuple[datetime, int]], polls: list[tuple[int, datetime]]) -> int:
    """The most polls, at any sample, started over STORE_LAG_S ago and not stored yet."""
    starts = sorted(started for _, started in polls)
    return max((bisect.bisect_left(starts, cutoff) - count for cutoff, count in stored), default=0)


def halves(n: int, processes: int) -> list[tuple[int, int]]:
    """(first gateway, count) of each process's share of a fleet of ``n``."""
    size, extra = divmod(n, processes)
    parts, first = [], 0
    for k in range(processes):
        count = size + (1 if k < extra else 0)
        parts.append((first, count))
        first += count
    return parts


def combined(windows: list[dict[str, float]]) -> dict[str, float]:
    """CPU and RSS of several processes together."""
    if not windows or any(not w for w in windows):
        return {}
    return {key: round(sum(w[key] for w in windows), 1) for key in windows[0]}


def run_step(
    pg: Any,
    n: int,
    *,
    site: str,
    warmup_s: float,
    window_s: float,
    cadence_s: int,
    folder: Path,
    rollup_interval_s: int = 600,
    processes: int = 1,
    stagger_s: float = 0.0,
) -> dict[str, Any]:
    """One step: ``processes`` `envoylog run` processes against one database, each with its
    share of the ``n`` gateways served by a simulator process of its own, started
    ``stagger_s`` apart (the warm-up counts from the last start)."""
    import subprocess

    from envoylog.simulator import make_token

    port = free_port(n)
    db_url = pg.create_database(f"fleet_{n}")
    token = make_token("fleet", expires_at=time.time() + 365 * 86400)
    sims: list[subprocess.Popen[bytes]] = []
    runs: list[subprocess.Popen[bytes]] = []
    logs = []
    states: list[Path] = []
    samplers: list[ProcessSampler] = []
    sim_samplers: list[ProcessSampler] = []
    started = datetime.now(tz=UTC)
    try:
        for k, (first, count) in enumerate(halves(n, processes)):
            sim = serve(
                envoylog_cmd(
                    "simulate",
                    "--site",
                    site,
                    "--gateways",
                    str(count),
                    "--first-gateway",
                    str(first),
                    "--port",
                    str(port + first),
                ),
                port + first + count - 1,
                log=folder / f"sim-{n}-{k}.log",
            )
            sims.append(sim)
            sim_samplers.append(ProcessSampler(sim.pid).start())
        # Every simulator listens before any service starts: a service's first minute
        # (every gateway pinned and polled at once) would slow the next simulator's start.
        for k, (first, count) in enumerate(halves(n, processes)):
            if k:
                time.sleep(stagger_s)
            state = folder / f"state-{n}-{k}"
            state.mkdir()
            states.append(state)
            config = folder / f"fleet-{n}-{k}.toml"
            write_config(
                config, db_url, port, count, token, cadence_s, state, rollup_interval_s, first
            )
            env = {**os.environ, "STATE_DIRECTORY": str(state)}
            log = open(folder / f"run-{n}-{k}.log", "wb")  # noqa: SIM115
            logs.append(log)
            run = subprocess.Popen(
                envoylog_cmd("run", "--config", str(config)),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
            runs.append(run)
            samplers.append(ProcessSampler(run.pid).start())
        last_start = time.monotonic()
        time.sleep(warmup_s)
        # The window measures the fleet polling, not starting: it opens once every
        # gateway has made its first poll (held while the store is behind), or after
        # START_LIMIT_S of waiting, whichever is first.
        started_s = wait_started(states, last_start, warmup_s + START_LIMIT_S)
        w0, m0 = datetime.now(tz=UTC), time.monotonic()
        rounds_before = [status_count(state, "rollup_rounds") for state in states]
        stored = stored_during(db_url, window_s)
        w1, m1 = datetime.now(tz=UTC), time.monotonic()
        rounds_after = [status_count(state, "rollup_rounds") for state in states]
        # Polls of the window's last ticks may start after w1: let them, then stop.
        time.sleep(min(cadence_s, 30.0))
        for run, log in zip(runs, logs, strict=True):
            if run.poll() is not None:
                raise RuntimeError(f"envoylog run exited early ({run.returncode}); see {log.name}")
    finally:
        for run in runs:
            stop(run, timeout_s=900)
        for sampler in samplers + sim_samplers:
            sampler.stop()
        for sim in sims:
            stop(sim)
        for log in logs:
            log.close()
    polls = fetch_polls(db_url, started)
    ticks: dict[int, float] = {}
    for state in states:
        ticks.update(first_ticks(db_url, state))
    result = on_time(polls, n, w0, w1, cadence_s, ticks)
    result["store_backlog_max"] = backlog(stored, polls)
    rounds = [
        after - before
        for before, after in zip(rounds_before, rounds_after, strict=True)
        if before is not None and after is not None
    ]
    result["rollup_rounds"] = (
        "+".join(map(str, rounds)) if len(rounds) == len(states) and rounds else None
    )
    result.update(
        {
            "gateways": n,
            "processes": processes,
            "window_s": round(m1 - m0),
            "warmup_s": warmup_s,
            "stagger_s": stagger_s,
            "started_s": started_s,
        }
    )
    result["runs"] = [sampler.window(m0, m1) for sampler in samplers]
    result["run"] = combined(result["runs"])
    result["simulator"] = combined([sampler.window(m0, m1) for sampler in sim_samplers])
    result["run_exit"] = [run.returncode for run in runs]
    pg.drop_database(f"fleet_{n}")
    return result


def run(
    *,
    quick: bool,
    steps: list[int] | None = None,
    window_s: float | None = None,
    warmup_s: float | None = None,
    cadence_s: int = 60,
    site: str = "metered-split-phase",
    rollup_interval_s: int | None = ROLLUP_INTERVAL_S,
    processes: int = 1,
    stagger_s: float = 0.0,
) -> Section:
    steps = steps or [10, 100, 300, 1000, 2000, 3000, 5000, 7500, 10000]
    window_s = window_s or (120.0 if quick else 600.0)
    rollup_interval_s = rollup_interval_s or round(window_s)
    section = Section(
        "3. Fleet scale (one `envoylog run`, PostgreSQL)"
        if processes == 1
        else f"3. Fleet scale ({processes} `envoylog run` processes, one PostgreSQL)",
        [
            "gateways",
            "on time",
            "evenly spaced",
            "lateness p50 / p99 / max s",
            "polls / expected",
            "store backlog (max polls)",
            "rollup rounds",
            "run CPU % of a core",
            "run RSS MB (max)",
            "simulator CPU %",
        ],
    )
    results = []
    largest_ok = None
    # Commits flushed to disk, as on an installer's server: the store worker pays for it.
    with tempfile.TemporaryDirectory() as tmp, postgres(fsync=True) as pg:
        if pg is None:
            section.notes.append("skipped: PostgreSQL is not available here")
            return section
        for n in steps:
            print(f"fleet: {n} gateways for {window_s:.0f} s", file=sys.stderr)
            allow_files(3 * n + 1024)
            r = run_step(
                pg,
                n,
                site=site,
                warmup_s=warmup_s if warmup_s is not None else default_warmup(n, quick=quick),
                window_s=window_s,
                cadence_s=cadence_s,
                folder=Path(tmp),
                rollup_interval_s=rollup_interval_s,
                processes=processes,
                stagger_s=stagger_s,
            )
            results.append(r)
            print(json.dumps(r), file=sys.stderr)
            share = r.get("on_time_share")
            section.rows.append(
                [
                    str(n),
                    f"{100 * share:.2f}%" if share is not None else "-",
                    f"{100 * r['evenly_spaced_share']:.2f}%"
                    if r.get("evenly_spaced_share") is not None
                    else "-",
                    f"{r.get('lateness_s_p50')} / {r.get('lateness_s_p99')} / "
                    f"{r.get('lateness_s_max')}",
                    f"{r.get('polls')} / {r.get('expected_polls')}",
                    str(r.get("store_backlog_max", "-")),
                    str(r.get("rollup_rounds", "-")),
                    " + ".join(str(w.get("cpu_percent", "-")) for w in r["runs"]),
                    " + ".join(
                        f"{w.get('rss_mb_median', '-')} ({w.get('rss_mb_max', '-')})"
                        for w in r["runs"]
                    ),
                    str(r["simulator"].get("cpu_percent", "-")),
                ]
            )
            if share is None or share < AIM or r["store_backlog_max"] > n:
                break  # late polls, or polls made on time but waiting a minute to be stored
            largest_ok = n
    section.data = {"steps": results, "largest_n_on_time": largest_ok, "site": site}
    section.notes += [
        f"Largest N with >= {100 * AIM:.1f}% of polls on time: {largest_ok} "
        f"(steps of {window_s / 60:.0f} min after {warmup_note(warmup_s, quick)}; site profile "
        f"{site}; cadence {cadence_s} s; tolerance {TOLERANCE_S:.0f} s after the tick).",
        "Simulator and service share this machine's 2 cores; the simulator's CPU is shown."
        + (
            f" Each of the {processes} processes has its share of the gateways and a "
            "simulator process of its own; run CPU and RSS are per process, simulator CPU "
            "all simulators together."
            + (f" The processes started {stagger_s:.0f} s apart." if stagger_s else "")
            if processes > 1
            else ""
        ),
        "The window opens after the warm-up once every gateway has made its first poll "
        "(a service holds first polls while its store is behind), waiting at most "
        f"{START_LIMIT_S:.0f} s more; started_s in the data says when every gateway had "
        "(to the status files' 15 s).",
        f"Store backlog: the most polls, sampled every {STORE_SAMPLE_S:.0f} s, that had "
        f"started over {STORE_LAG_S:.0f} s before and were not stored yet; a step also fails "
        "when it exceeds N (a minute of polls waiting).",
        "PostgreSQL flushes every commit to disk (fsync and synchronous_commit on), as an "
        "installer's server does.",
        f"The store worker starts an energy rollup round every {rollup_interval_s} s "
        "(rollup_interval_s; the service's default is 3600 s) so that each window holds "
        "one; each recomputes every gateway's day, which in a fresh database holds "
        "only the step's minutes of readings (bench_year measures a full day's cost). "
        "Rollup rounds = rounds finished in the window, from the service's status file.",
        "Aim: 1,000 gateways at 60 s cadence.",
    ]
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--steps", help="comma-separated N, e.g. 10,100,300,1000")
    parser.add_argument("--window", type=float)
    parser.add_argument("--warmup", type=float)
    parser.add_argument("--cadence", type=int, default=60)
    parser.add_argument("--site", default="metered-split-phase")
    parser.add_argument("--rollup-interval", type=int, default=ROLLUP_INTERVAL_S)
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="envoylog run processes sharing each step's gateways and one database",
    )
    parser.add_argument(
        "--stagger",
        type=float,
        default=0.0,
        help="seconds between the starts of the processes (the warm-up follows the last)",
    )
    args = parser.parse_args()
    steps = [int(s) for s in args.steps.split(",")] if args.steps else None
    section = run(
        quick=args.quick,
        steps=steps,
        window_s=args.window,
        warmup_s=args.warmup,
        cadence_s=args.cadence,
        site=args.site,
        rollup_interval_s=args.rollup_interval,
        processes=args.processes,
        stagger_s=args.stagger,
    )
    print(section.markdown())


if __name__ == "__main__":
    main()
