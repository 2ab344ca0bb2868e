"""`envoylog demo`: a simulated gateway logged for a whole day through the service's code path.

The simulator runs on a manual clock that the demo moves forward one tick at a
time, as fast as polls complete; each tick the gateway's job decides what is due
(cadences, quiet window), polls over a real socket, and hands the poll to the
same store worker `envoylog run` uses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from envoylog.client import Credentials, PinStore, gateway_client
from envoylog.db import Writer, open_store
from envoylog.db.energy import daily_energy
from envoylog.db.status import row_counts
from envoylog.endpoints import ALL
from envoylog.errors import GatewayError
from envoylog.service.jobs import GatewayJob, Outcome, QuietWindow
from envoylog.service.worker import StoreWorker
from envoylog.simulator import ManualClock, SimulatedGateway
from envoylog.simulator.profiles import get_profile
from envoylog.simulator.serving import simulator_certificate_sha256

TICK_S = 60
# energy_daily column -> the simulator's truth flow it must match
FLOWS = {
    "production_wh": "production",
    "consumption_wh": "consumption",
    "import_wh": "import",
    "export_wh": "export",
    "battery_charge_wh": "battery_charge",
    "battery_discharge_wh": "battery_discharge",
}
TABLES = (
    "polls",
    "system_readings",
    "phase_readings",
    "meter_readings",
    "inverters",
    "inverter_readings",
    "batteries",
    "battery_readings",
    "battery_system_readings",
    "gateway_events",
)


@dataclass(frozen=True, slots=True)
class DemoResult:
    db_path: Path
    profile: str
    timezone: str
    day: date
    days: int
    polls: int
    quiet_ticks: int
    rows: dict[str, int]
    truth_wh: dict[str, float]
    energy: dict[date, dict[str, float | None]]  # energy_daily per logged day
    truth_days: dict[date, dict[str, float]]  # the simulator's truth per local day


def yesterday(timezone: str) -> date:
    return datetime.now(ZoneInfo(timezone)).date() - timedelta(days=1)


def run_demo(
    db_path: Path,
    *,
    profile: str = "metered-split-phase",
    day: date | None = None,
    days: int = 1,
    progress: Callable[[int, int], None] | None = None,
    db_url: str | None = None,
    faults: Sequence[str] = (),
) -> DemoResult:
    """Simulate ``days`` local days of one site and log them into a new SQLite file.

    ``db_url`` logs into that (empty) database instead; ``db_path`` then only
    names the spool folder. ``faults`` are the simulator's (``envoylog simulate --fault``).
    """
    zone_name = get_profile(profile).timezone
    zone = ZoneInfo(zone_name)
    day = day or yesterday(zone_name)
    start = datetime.combine(day, time(0), zone)
    end = datetime.combine(day + timedelta(days=days), time(0), zone)
    for stale in (db_path, *db_path.parent.glob(db_path.name + "-*")):
        stale.unlink(missing_ok=True)
    db_url = db_url or f"sqlite:///{db_path}"
    clock = ManualClock(start)

    def now() -> datetime:
        return datetime.fromtimestamp(clock.now(), tz=UTC)

    worker = StoreWorker(Writer(db_url, db_path.parent / f"{db_path.stem}-spool"))
    # The new database is made and its id given to the spool before the first poll, as
    # the service does at start: a poll that spills into the spool before then would go
    # to the folder of the database that was here before, and never be stored.
    worker.replay_spool()
    worker.start()
    polls = quiet = 0
    with SimulatedGateway(profile, clock=clock, seed=1, faults=faults) as gateway:
        # The simulator's certificate is known: pinned from the start, not on first use.
        pins = PinStore(db_path.parent / f"{db_path.name}-pins.json")
        pins.set(gateway.url, simulator_certificate_sha256())
        client = gateway_client(gateway.url, Credentials(token=gateway.token), pins=pins)
        job = GatewayJob(
            name="demo",
            client=client,
            submit=worker.submit,
            cadences={e.name: e.cadence_s for e in ALL},
            tick_s=TICK_S,
            timezone=zone_name,  # as configured: the quiet window is local from the first tick
            quiet=QuietWindow(),
            clock=now,
        )
        # One tick more than the span: the poll at the next midnight closes the last day.
        # In UTC: two instants of one zone subtract as wall clocks (a DST day would be 24 h).
        total = int((end.astimezone(UTC) - start.astimezone(UTC)).total_seconds()) // TICK_S + 1
        try:
            for tick in range(total):
                outcome = job.run()
                if outcome is Outcome.FAILED and polls == 0:
                    raise GatewayError(job.health.last_error or "", host=gateway.url)
                polls += outcome is Outcome.POLLED
                quiet += outcome is Outcome.QUIET
                clock.advance(TICK_S)
                if progress is not None:
                    progress(tick + 1, total)
        finally:
            worker.stop()
            worker.join()
            worker.writer.close()
            client.close()
        truth = gateway.truth(start, end)
        truth_days = {
            day + timedelta(days=k): gateway.truth(
                datetime.combine(day + timedelta(days=k), time(0), zone),
                datetime.combine(day + timedelta(days=k + 1), time(0), zone),
            )
            for k in range(days)
        }
    return DemoResult(
        db_path=db_path,
        profile=profile,
        timezone=zone_name,
        day=day,
        days=days,
        polls=polls,
        quiet_ticks=quiet,
        rows=_row_counts(db_url),
        truth_wh=truth,
        energy=_energy(db_url, day, days),
        truth_days=truth_days,
    )


def _energy(db_url: str, day: date, days: int) -> dict[date, dict[str, float | None]]:
    """The demo days' energy_daily rows, rolled up by the store worker as it stopped."""
    with open_store(db_url, migrate=False) as store:
        return daily_energy(store, day, day + timedelta(days=days))


def _row_counts(db_url: str) -> dict[str, int]:
    with open_store(db_url, migrate=False) as store:
        return row_counts(store, TABLES)
