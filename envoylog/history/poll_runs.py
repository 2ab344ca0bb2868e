"""Which polls of a compacted day fold into runs, and what a run's rows say.

A run is successive polls of a gateway with the same outcome: each succeeded with
every endpoint fine (no error, no parse failure, no raw body kept), and each endpoint
answered with the same HTTP status throughout. It is kept as one ``polls`` row (the
first poll's, with ``samples``, ``last_started_at`` and the last poll's
``finished_at``) and one ``poll_endpoints`` row per endpoint it fetched (with how many
of its polls fetched it, the first's and the last's start). Every other poll stays as
polled.

A run breaks where two successive polls started more than RUN_BOUND apart, so every
question about polls further apart than that (the report's gaps, the schema's "polls
more than 3 minutes apart") reads a compacted day as it read it polled: measured
from the start of the last poll a row stands for to the next row's start. A run also
breaks where its inverter polls would be more than the gap limit apart, so the time
between its first and last inverter poll is all covered (inverter coverage reads
successive inverter polls at most that far apart as covered).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection

from envoylog.db import poll_log as sql
from envoylog.db.energy import INVERTER_ENDPOINTS
from envoylog.db.poll_log import LoggedPoll, RunEndpoint
from envoylog.energy.counters import DEFAULT_THRESHOLDS

# The longest interval between two successive polls of a run. Two minutes: minute polls
# (the default cadence) run late by seconds, and the shortest gap anyone asks about (the
# schema's example, 3 minutes) stays longer, so gap queries read both tiers alike.
RUN_BOUND = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class Run:
    """Polls folded into the first one's row: their ids (the first's kept), the last
    one's start and end, and the run's endpoints. Only what its write needs: a day's runs
    travel from the process that planned them to the one that writes them."""

    ids: tuple[int, ...]
    last_started_at: datetime
    finished_at: datetime
    endpoints: tuple[RunEndpoint, ...]


def day_runs(conn: Connection, gateway_id: int, lo: datetime, hi: datetime) -> list[Run]:
    """The runs the gateway's polls started in [lo, hi) fold into."""
    return plan_runs(sql.day_polls(conn, gateway_id, lo, hi))


def write_runs(conn: Connection, runs: Sequence[Run]) -> None:
    """Fold each run's polls into its first one's row."""
    for run in runs:
        sql.write_run(conn, run.ids, run.last_started_at, run.finished_at, run.endpoints)


def plan_runs(
    polls: Sequence[LoggedPoll],
    bound: timedelta = RUN_BOUND,
    coverage: timedelta = DEFAULT_THRESHOLDS.max_gap,
) -> list[Run]:
    """The runs of at least two polls among ``polls`` (in time order)."""
    runs: list[Run] = []
    current: list[LoggedPoll] = []
    statuses: dict[str, int | None] = {}
    inverters: datetime | None = None  # the run's last inverter poll
    for poll in polls:
        inverter = any(e in INVERTER_ENDPOINTS for e in poll.fetches)
        joins = (
            bool(current)
            and poll.foldable
            and poll.started_at - current[-1].started_at <= bound
            and all(
                statuses.get(e, f.http_status) == f.http_status for e, f in poll.fetches.items()
            )
            and not (inverter and inverters is not None and poll.started_at - inverters > coverage)
        )
        if not joins:
            if len(current) > 1:
                runs.append(_run(current))
            current, statuses, inverters = [], {}, None
            if not poll.foldable:
                continue
        current.append(poll)
        statuses.update((e, f.http_status) for e, f in poll.fetches.items())
        if inverter:
            inverters = poll.started_at
    if len(current) > 1:
        runs.append(_run(current))
    return runs


def _run(polls: list[LoggedPoll]) -> Run:
    fetched: dict[str, list[tuple[datetime, sql.Fetch]]] = {}
    for poll in polls:
        for endpoint, fetch in poll.fetches.items():
            fetched.setdefault(endpoint, []).append((poll.started_at, fetch))
    endpoints = []
    for endpoint, found in fetched.items():
        durations = [f.duration_ms for _, f in found if f.duration_ms is not None]
        endpoints.append(
            RunEndpoint(
                endpoint=endpoint,
                http_status=found[0][1].http_status,
                duration_ms=round(sum(durations) / len(durations)) if durations else None,
                samples=len(found),
                first_started_at=found[0][0],
                last_started_at=found[-1][0],
            )
        )
    last = polls[-1]
    return Run(tuple(p.id for p in polls), last.started_at, last.finished_at, tuple(endpoints))
