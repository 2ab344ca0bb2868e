"""Shared helpers for the benchmarks: rounds, median and spread, /proc sampling, reports."""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"
SAMPLES = REPO / "sample_data"
SITES = tuple(sorted(p.name for p in SAMPLES.iterdir() if (p / "info").is_file()))
# A battery site and its like without a battery: both 7.6.185, production and
# net-consumption CTs, a few dozen inverters; one IQ Battery read each minute.
BATTERY_PAIR = ("iq-battery-no-storage-ct", "metered-split-phase")
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")
NO_PG_ENV = "ENVOYLOG_BENCH_NO_POSTGRES"  # set: benchmarks run on SQLite only

if str(REPO / "tests") not in sys.path:
    sys.path.append(str(REPO / "tests"))


def spread(values: Sequence[float], digits: int = 3) -> dict[str, float]:
    """Median, min and max of several rounds, rounded."""
    ordered = sorted(values)
    return {
        "median": round(statistics.median(ordered), digits),
        "min": round(ordered[0], digits),
        "max": round(ordered[-1], digits),
        "n": len(ordered),
    }


def fmt(s: dict[str, float] | None, unit: str = "", digits: int = 2) -> str:
    """'median (min-max) unit' for a spread."""
    if not s:
        return "-"
    return f"{s['median']:.{digits}f} ({s['min']:.{digits}f}-{s['max']:.{digits}f}){unit}"


def battery_note(section: Section, what: str, value: Callable[[dict[str, Any]], float]) -> None:
    """Say what the battery site costs against the site without one, when both were run."""
    if not all(site in section.data for site in BATTERY_PAIR):
        return
    battery, plain = (value(section.data[site]) for site in BATTERY_PAIR)
    section.notes.append(
        f"Battery site against one without: {BATTERY_PAIR[0]} (16 inverters, one IQ Battery) "
        f"{battery:.2f} against {BATTERY_PAIR[1]} (20 inverters, no battery) {plain:.2f} {what} "
        f"({100 * (battery / plain - 1):+.0f} %)."
    )


def free_port(count: int = 1) -> int:
    """A loopback port with ``count`` consecutive free ports from it.

    Runs of ports are taken below the kernel's ephemeral range, so that a fleet's thousands
    of outgoing connections never compete with the simulated gateways for them.
    """
    if count == 1:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])
    low = _ephemeral_start()
    base = 10_000
    while base + count <= low:
        busy = next((base + i for i in range(count) if not _port_free(base + i)), None)
        if busy is None:
            return base
        base = busy + 1
    raise RuntimeError(f"no {count} consecutive free loopback ports below {low}")


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_for_port(port: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout_s:.0f} s")


def rss_bytes(pid: int | None = None) -> int:
    """Resident memory of a process (this one by default), from /proc."""
    with open(f"/proc/{pid or 'self'}/statm") as handle:
        return int(handle.read().split()[1]) * PAGE


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (threads included), from /proc."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


@dataclass
class ProcessSampler:
    """Sample a process's RSS and CPU every ``interval_s`` in a background thread."""

    pid: int
    interval_s: float = 1.0
    samples: list[tuple[float, float, int]] = field(default_factory=list)  # (t, cpu_s, rss)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> ProcessSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append((time.monotonic(), cpu_seconds(self.pid), rss_bytes(self.pid)))
            except OSError:
                return
            self._stop.wait(self.interval_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def window(self, start: float, end: float) -> dict[str, float]:
        """CPU share (% of one core) and RSS (MB, median and max) between two instants."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2:
            return {}
        (t0, c0, _), (t1, c1, _) = inside[0], inside[-1]
        rss = [s[2] / 1e6 for s in inside]
        return {
            "cpu_percent": round(100 * (c1 - c0) / (t1 - t0), 1),
            "rss_mb_median": round(statistics.median(rss), 1),
            "rss_mb_max": round(max(rss), 1),
        }


@contextmanager
def postgres(*, fsync: bool = False) -> Iterator[Any]:
    """A private PostgreSQL server (tests/pg_server.py), or None when it cannot start.

    ``fsync``: every commit flushed to disk, as on a production server; otherwise commits
    are asynchronous and never flushed, so only envoylog's own work is measured.
    """
    from pg_server import PostgresServer, PostgresUnavailable

    if os.environ.get(NO_PG_ENV):
        yield None
        return
    try:
        server = PostgresServer.start(fsync=fsync)
    except PostgresUnavailable as exc:
        print(f"postgresql unavailable: {exc}", file=sys.stderr)
        yield None
        return
    with server:
        yield server


def run_json(
    cmd: Sequence[str], *, timeout_s: float = 600, env: dict[str, str] | None = None
) -> Any:
    """Run a child process that prints one JSON document on its last stdout line."""
    done = subprocess.run(
        list(cmd), capture_output=True, text=True, timeout=timeout_s, env=env, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def serve(cmd: Sequence[str], port: int, *, log: Path | None = None) -> subprocess.Popen[bytes]:
    """Start a server process and wait until it listens on ``port``."""
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(list(cmd), stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, timeout_s=120)
    except RuntimeError:
        proc.kill()
        raise
    return proc


def stop(proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    """SIGTERM a child we started, then SIGKILL if it does not exit."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def envoylog_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "envoylog", *args]


@dataclass
class Section:
    """One benchmark's part of the report: a Markdown table, notes, and JSON data."""

    title: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def markdown(self) -> str:
        lines = [f"## {self.title}", ""]
        if self.rows:
            lines.append("| " + " | ".join(self.header) + " |")
            lines.append("|" + "---|" * len(self.header))
            lines += ["| " + " | ".join(row) + " |" for row in self.rows]
            lines.append("")
        lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


def write_report(
    sections: Sequence[Section], out: Path, json_out: Path | None, meta: dict[str, Any]
) -> None:
    head = [
        "# envoylog benchmarks",
        "",
        f"Run {meta['when']} on {meta['machine']}, mode {meta['mode']}; "
        "every figure is median (min-max) over the rounds shown; ratios are measured "
        "side by side in the same run.",
        "",
    ]
    out.write_text("\n".join(head) + "\n".join(s.markdown() for s in sections))
    if json_out is not None:
        document = {"meta": meta, **{s.title: s.data for s in sections}}
        json_out.write_text(json.dumps(document, indent=2, default=str) + "\n")


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(cpu seconds, wall seconds, result) of one call in this process."""
    c0, w0 = time.process_time(), time.perf_counter()
    result = fn()
    return time.process_time() - c0, time.perf_counter() - w0, result
