"""A full spool: the CPU of a put, which drops the oldest polls to make room.

    python benchmarks/bench_spool.py [--files 1000,6000] [--puts 300]

When a fleet's store falls behind, every poll goes to the spool, and once the spool is
at its cap every put drops the oldest. That put is paid by the poll threads, so its cost
decides whether an overloaded service recovers or feeds its own overload (section 3e of
docs/performance.md: a 5,000-gateway service's spool holds about 6,000 polls at the
default 10 MB cap). Each step fills a spool folder with FILES polls shaped like the
fleet's minute poll (two-phase CT readings), then times PUTS puts at the cap (CPU time
of this process, and wall time, which includes the two fsyncs of each put).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import REPO, Section

if str(REPO / "tests" / "db") not in sys.path:
    sys.path.append(str(REPO / "tests" / "db"))  # factories.py


def a_poll() -> Any:
    """A poll of two-phase CT readings, no inverters: the fleet's minute poll's shape."""
    from factories import make_poll

    return make_poll(phases=2, inverters=0)


def step(files: int, puts: int, folder: Path) -> dict[str, float]:
    from envoylog.db import Spool
    from envoylog.records import poll_to_json

    poll = a_poll()
    size = len(poll_to_json(poll).encode())
    url = f"sqlite:///{folder / 'e.sqlite'}"
    spool = Spool(folder / f"spool-{files}", url, max_bytes=size * files + size // 2)
    for _ in range(files):  # the spool's own files, fsynced as a service writes them
        spool.put(poll)
    assert len(spool) == files and spool.dropped == 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(puts):
        spool.put(poll)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    assert spool.dropped == puts
    return {
        "files": files,
        "poll_bytes": size,
        "cpu_ms_per_put": round(1000 * cpu / puts, 3),
        "wall_ms_per_put": round(1000 * wall / puts, 3),
    }


def run(files: list[int], puts: int) -> Section:
    section = Section(
        "Spool: a put at the cap (the oldest poll dropped)",
        ["polls in the spool", "poll bytes", "CPU ms per put", "wall ms per put"],
    )
    with tempfile.TemporaryDirectory() as tmp:
        for n in files:
            r = step(n, puts, Path(tmp))
            section.data[str(n)] = r
            section.rows.append(
                [
                    f"{n:,}",
                    str(r["poll_bytes"]),
                    str(r["cpu_ms_per_put"]),
                    str(r["wall_ms_per_put"]),
                ]
            )
    section.notes.append(
        f"{puts} puts a step, each dropping the oldest poll; CPU is this process's, wall "
        "includes the file's and the folder's fsync."
    )
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", default="1000,6000")
    parser.add_argument("--puts", type=int, default=300)
    args = parser.parse_args()
    print(run([int(n) for n in args.files.split(",")], args.puts).markdown())


if __name__ == "__main__":
    main()
