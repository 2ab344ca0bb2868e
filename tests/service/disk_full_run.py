"""Run by test_disk_full.py inside its own mount namespace, on a small tmpfs at argv[1]:
the database and the spool share it, nearly full; polls go to the store worker until
the disk is full; prints one JSON line of what became of them (argv[2] is outside it)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "db"))  # factories.py

from factories import at, make_poll

from envoylog.db import Writer, open_store
from envoylog.service.scheduler import Service
from envoylog.service.worker import StoreWorker

POLLS = 40
FREE_BYTES = 600_000  # a few polls fit in the database, then it is full
SPOOL_ROOM = 150_000  # freed once the database has failed: room for a few spooled polls


def fill(folder: Path, leave: int) -> None:
    stat = os.statvfs(folder)
    size = stat.f_bavail * stat.f_frsize - leave
    with open(folder / "filler", "wb") as filler:
        filler.write(b"\0" * max(size, 0))


def main(small: Path, out: Path) -> None:
    log_file = out / "service.log"
    logging.basicConfig(filename=log_file, level=logging.DEBUG, format="%(levelname)s %(message)s")
    url = f"sqlite:///{small / 'envoylog.sqlite'}"
    open_store(url).close()
    writer = Writer(url, small / "spool")
    fill(small, FREE_BYTES)
    worker = StoreWorker(writer, rollup_interval_s=None)
    service = Service([], worker, status_file=out / "state" / "status.json")
    worker.start()
    freed = False
    for minute in range(POLLS):
        worker.submit(make_poll(at(minute)))
        worker.queue.join()
        if writer.outage is not None and not freed:  # the database is full: some room
            filler = small / "filler"
            os.truncate(filler, filler.stat().st_size - SPOOL_ROOM)
            freed = True
    service.write_status()  # while running: what `envoylog status` shows
    with open_store(url, migrate=False) as store, store.reading("counting") as conn:
        stored = conn.exec_driver_sql("SELECT count(*) FROM polls").scalar_one()
    config = out / "envoylog.toml"
    config.write_text(f'database = "{url}"\nspool_dir = "{small / "spool"}"\n')
    status = subprocess.run(
        [sys.executable, "-m", "envoylog", "status", "--config", str(config)],
        env={**os.environ, "STATE_DIRECTORY": str(out / "state")},
        capture_output=True,
        text=True,
        check=False,
    )
    worker.stop()
    worker.join(30)
    log = log_file.read_text()
    print(
        json.dumps(
            {
                "made": POLLS,
                "stored": stored,
                "spooled": len(writer.spool.pending()),
                "lost": writer.lost,
                "logged_spooled": log.count("poll_spooled gateway="),
                "logged_lost": log.count("ERROR poll_lost gateway="),
                "status_file": json.loads((out / "state" / "status.json").read_text()),
                "status_output": status.stdout + status.stderr,
            }
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
