"""Compact the readings of whole gateway-days, each in one transaction.

A day is compacted only once its energy was rolled up after every poll that
reaches it, and only before the full-resolution window; a compacted day is
listed in ``compacted_days`` and never visited again. See envoylog.history.plan
for which readings are kept and what they stand for.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from multiprocessing.connection import wait
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

from envoylog.db import Store, StoreOptions, open_store
from envoylog.db import energy as energy_sql
from envoylog.db import history as sql
from envoylog.db.energy import UNTRUSTED_MASK, GatewayRow
from envoylog.db.engine import sqlite_path
from envoylog.energy.counters import DEFAULT_THRESHOLDS
from envoylog.energy.flows import CounterSource
from envoylog.energy.periods import Resolution, local_midnight, periods
from envoylog.energy.rollup import gateway_zone
from envoylog.energy.series import MARGIN, OBSERVED_POWER_HEADROOM
from envoylog.errors import ChangedMeanwhile, StorageError
from envoylog.history.plan import Columns, Limits, Plan, folded_mean, plan_series, unless_ones
from envoylog.history.poll_runs import Run, day_runs, write_runs

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (gateway-days done, in total)

# Every series folds across the gap limit (envoylog.history.plan), so a step may be longer
# than the limit: an hour by default.
METER = Columns(
    counters=("wh_delivered", "wh_received"),
    jump_counter="wh_delivered",
    means=("va", "var", "power_factor", "voltage_v", "current_a", "frequency_hz"),
)
SYSTEM = Columns(
    counters=("wh_lifetime",),
    jump_counter="wh_lifetime",
    means=("va", "var", "power_factor", "voltage_v", "current_a"),
)
INVERTER = Columns(
    counters=("wh_lifetime",),
    means=("dc_voltage_v", "dc_current_a", "ac_voltage_v", "ac_frequency_hz", "temperature_c"),
    maxima=("max_watts",),
    # Without a lifetime counter the rollup sums each report's own energy: keep them all.
    required=("wh_lifetime",),
    # Reports come every 5 or 15 minutes, a few seconds more or less: two of 15 minutes
    # and a second are longer than the gap limit, yet no gap (energy.series reads them).
)
PHASE_MEANS = ("watts", "va", "var", "power_factor", "voltage_v", "current_a")


@dataclass(frozen=True, slots=True)
class Target:
    """One gateway-day to compact."""

    gateway: GatewayRow
    zone: str
    day: date


class Outcome(Enum):
    COMPACTED = "compacted"
    ENERGY_NOT_CURRENT = "energy_not_current"  # its energy is older than its last poll
    CHANGED_MEANWHILE = "changed_meanwhile"  # another transaction changed it meanwhile
    ALREADY_COMPACTED = "already_compacted"  # another program compacted it meanwhile


@dataclass(frozen=True, slots=True)
class DayResult:
    outcome: Outcome
    before: int = 0  # readings of the day, and kept (compacted days)
    after: int = 0


@dataclass(slots=True)
class CompactionSummary:
    days: int = 0
    skipped: int = 0  # days whose energy is older than their last poll (roll up first)
    changed: int = 0  # days another transaction changed while compacted (compact again)
    elsewhere: int = 0  # days another program compacted after they were listed
    readings_before: int = 0
    readings_after: int = 0

    def add(self, result: DayResult) -> None:
        if result.outcome is Outcome.ENERGY_NOT_CURRENT:
            self.skipped += 1
        elif result.outcome is Outcome.CHANGED_MEANWHILE:
            self.changed += 1
        elif result.outcome is Outcome.ALREADY_COMPACTED:
            self.elsewhere += 1
        else:
            self.days += 1
            self.readings_before += result.before
            self.readings_after += result.after


# On SQLite one process writes, and writing is about a quarter of a day's work: more
# planners than this would mostly wait for it (measured, docs/performance.md section 8).
DEFAULT_JOBS_AT_MOST = 4


def default_jobs() -> int:
    """Processes ``envoylog compact`` uses unless told: this machine's usable cores, at
    most DEFAULT_JOBS_AT_MOST."""
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    cores = len(usable) if usable else (os.cpu_count() or 1)
    return max(1, min(cores, DEFAULT_JOBS_AT_MOST))


def guard(step: timedelta) -> timedelta:
    """How far around an irregular reading every reading is kept: the counter engine
    looks that far ahead for a recovery, plus a step."""
    return DEFAULT_THRESHOLDS.glitch_window + step


def pending(
    store: Store,
    *,
    now: datetime,
    window_days: int,
    before: date | None = None,
    serials: Collection[str] | None = None,
    timezone_override: Mapping[str, str] | None = None,
) -> list[Target]:
    """Gateway-days rolled up and not compacted, before ``before`` (a local date) or else
    older than ``window_days`` full local days before ``now``."""
    found: list[Target] = []
    for row in energy_sql.list_gateways(store):
        if serials is not None and row.serial not in serials:
            continue
        zone = gateway_zone(row, timezone_override)
        cutoff = now.astimezone(ZoneInfo(zone)).date() - timedelta(days=window_days)
        if before is not None:
            cutoff = before
        with store.reading("finding days to compact") as conn:
            days = sql.pending_days(conn, row.id, cutoff)
        found.extend(Target(row, zone, day) for day in days)
    return found


def compact(
    store: Store,
    *,
    now: datetime,
    window_days: int,
    step: timedelta,
    before: date | None = None,
    serials: Collection[str] | None = None,
    timezone_override: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    jobs: int = 1,
) -> CompactionSummary:
    """Compact every pending gateway-day (see :func:`pending`), one transaction each;
    ``jobs`` processes plan days at once (and on PostgreSQL write them too)."""
    targets = pending(
        store,
        now=now,
        window_days=window_days,
        before=before,
        serials=serials,
        timezone_override=timezone_override,
    )
    summary = CompactionSummary()
    for done, result in enumerate(_each_day(store, targets, step, now, jobs), start=1):
        summary.add(result)
        if progress is not None:
            progress(done, len(targets))
    return summary


def _each_day(
    store: Store, targets: list[Target], step: timedelta, now: datetime, jobs: int
) -> Iterator[DayResult]:
    """Each target compacted, in order; with ``jobs`` > 1, days are planned (PostgreSQL:
    also written) in as many other processes.

    Days compacted at once never write the same rows (a day writes inside its own bounds
    and reads its neighbours' edges in a snapshot), so their order does not matter: the
    service, too, compacts a day after the next one when it was skipped first.
    """
    in_memory = store.dialect == "sqlite" and sqlite_path(store.engine.url) is None
    if jobs <= 1 or len(targets) < 2 or in_memory:  # another process cannot see memory
        yield from (compact_day(store, target, step=step, now=now) for target in targets)
        return
    url = store.engine.url.render_as_string(hide_password=False)  # to the workers, not argv
    planners = store.dialect == "sqlite"  # one writer at a time: the workers only read
    options = store.options
    if planners:
        options = replace(options, engine=replace(options.engine, read_only=True))
    with ProcessPoolExecutor(
        jobs,
        mp_context=multiprocessing.get_context("spawn"),  # no copy of our connections
        initializer=_open_worker_store,
        initargs=(url, options),
    ) as pool:
        try:
            if planners:
                yield from _write_planned_days(store, pool, targets, step, now, ahead=2 * jobs)
            else:
                futures = [pool.submit(_worker_day, target, step, now) for target in targets]
                try:
                    yield from (future.result() for future in as_completed(futures))
                finally:
                    for future in futures:
                        future.cancel()  # on an error: the days not begun are left as they are
        except BrokenProcessPool as exc:
            raise StorageError(
                f"a process compacting {store.name} stopped (killed, or out of memory): the "
                "days it had begun are left as polled; run envoylog compact again"
            ) from exc


@dataclass(frozen=True, slots=True)
class _Seen:
    """The writer's view of the database when a day's plan was asked for: a plan read
    after it is current while no other connection has committed since (SQLite's
    data_version, which the writer's own commits leave as it is)."""

    connection: object  # the driver's: a version counts on its own connection only
    version: int


def _write_planned_days(
    store: Store,
    pool: ProcessPoolExecutor,
    targets: list[Target],
    step: timedelta,
    now: datetime,
    *,
    ahead: int,
) -> Iterator[DayResult]:
    """Write each target's day in order, in this process, as the pool plans the next
    ``ahead`` days (SQLite: other processes read while this one writes).

    A plan is written only when no other connection changed the database since it was
    asked for; else the day is planned again inside its own write transaction, as a
    lone process would (a late poll's upsert, another program's compaction).

    The first day is planned and written here while the pool's processes start and plan
    the next ones: their start (about a second) no longer holds up the first plan.
    """
    queue: deque[tuple[Target, Future[DayPlan | None], _Seen | None]] = deque()
    todo = iter(targets)
    first = next(todo)

    def ask(seen: _Seen | None) -> None:
        while len(queue) < ahead and (target := next(todo, None)) is not None:
            queue.append((target, pool.submit(_worker_plan, target, step), seen))

    try:
        ask(_writer_view(store))
        result, seen = _write_day(store, first, None, step=step, now=now)
        yield result
        while queue:
            target, planned, asked = queue.popleft()
            plan = planned.result()
            result, seen = _write_day(store, target, (plan, asked), step=step, now=now)
            yield result
            ask(seen)
    finally:
        for _, future, _ in queue:
            future.cancel()  # on an error: the days not begun are left as they are


def _writer_view(store: Store) -> _Seen:
    """The writer's view of the database now, outside any day's transaction."""
    with store.transaction("reading the database's version") as txn:
        return _Seen(txn.conn.connection.driver_connection, sql.data_version(txn.conn))


_worker_store: Store | None = None  # a compacting process's own connection


def _open_worker_store(url: str, options: StoreOptions) -> None:
    global _worker_store
    _leave_with_parent()
    _worker_store = open_store(url, options, migrate=False)


def _leave_with_parent() -> None:
    """End this process as soon as the one that started it ends. A pool's process waits
    for work on a queue whose pipe it holds both ends of, so when the command was killed
    (SIGKILL, the OOM killer) it waited forever: two orphans of 90 MB a killed run."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])  # ready once the parent has ended
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _worker_day(target: Target, step: timedelta, now: datetime) -> DayResult:
    assert _worker_store is not None
    return compact_day(_worker_store, target, step=step, now=now)


def _worker_plan(target: Target, step: timedelta) -> DayPlan | None:
    """The day's plan, read in one snapshot of a read-only connection (SQLite)."""
    assert _worker_store is not None
    lo, hi = _bounds(target)
    with _worker_store.reading(f"planning {target.gateway.serial} {target.day}") as conn:
        conn.exec_driver_sql("BEGIN")  # deferred: a snapshot from the first read, no lock
        return _plan(conn, target, lo, hi, step=step)


def compact_day(store: Store, target: Target, *, step: timedelta, now: datetime) -> DayResult:
    """Compact one gateway-day (nothing changed when its energy is not current, or when
    another transaction changed its readings while it was compacted)."""
    return _write_day(store, target, None, step=step, now=now)[0]


def _write_day(
    store: Store,
    target: Target,
    planned: tuple[DayPlan | None, _Seen | None] | None,
    *,
    step: timedelta,
    now: datetime,
) -> tuple[DayResult, _Seen | None]:
    """Compact one gateway-day in one transaction, with its plan if one was made before
    and nothing changed since; and the writer's view in that transaction (SQLite: no
    other connection commits while it holds the write lock, so it holds at its end)."""
    day = target.day
    lo, hi = _bounds(target)
    seen = None
    try:
        # One snapshot transaction: on PostgreSQL a late poll stored meanwhile is neither
        # read nor deleted (it stays as polled). With each statement seeing what was
        # committed before it (READ COMMITTED), the day's delete removed a poll stored
        # after its read.
        doing = f"compacting {target.gateway.serial} {day}"
        with store.transaction(doing, snapshot=True) as txn:
            conn = txn.conn
            if store.dialect == "sqlite":
                seen = _Seen(conn.connection.driver_connection, sql.data_version(conn))
            # Listed before another program (the service, a second `envoylog compact`)
            # compacted it: nothing left to do.
            if sql.is_compacted(conn, target.gateway.id, day):
                log.info("compaction_skipped gateway=%s day=%s reason=already_compacted",
                         target.gateway.serial, day)  # fmt: skip
                return DayResult(Outcome.ALREADY_COMPACTED), seen
            if planned is not None and planned[1] is not None and planned[1] == seen:
                plan = planned[0]
            else:  # planned again, as a lone process does
                plan = _plan(conn, target, lo, hi, step=step)
            if plan is not None:
                _write(conn, target, plan, lo, hi, step=step, now=now)
    except ChangedMeanwhile:
        # A reading of the day changed while it was compacted (a late poll's upsert):
        # nothing was changed, and the next run compacts the day as it is then.
        log.info("compaction_skipped gateway=%s day=%s reason=changed_meanwhile",
                 target.gateway.serial, day)  # fmt: skip
        return DayResult(Outcome.CHANGED_MEANWHILE), None
    if plan is None:
        log.info("compaction_skipped gateway=%s day=%s reason=energy_not_current",
                 target.gateway.serial, day)  # fmt: skip
        return DayResult(Outcome.ENERGY_NOT_CURRENT), seen
    log.info("compacted gateway=%s day=%s readings=%d kept=%d",
             target.gateway.serial, day, plan.before, plan.after)  # fmt: skip
    return DayResult(Outcome.COMPACTED, plan.before, plan.after), seen


def _bounds(target: Target) -> tuple[datetime, datetime]:
    """The UTC bounds of the target's local day."""
    day, zone = target.day, target.zone
    return local_midnight(day, zone), local_midnight(day + timedelta(days=1), zone)


@dataclass(frozen=True, slots=True)
class DayPlan:
    """What a gateway-day is compacted to: its kept rows and its poll log's runs."""

    kept: sql.DayRows
    before: int  # the day's readings
    runs: list[Run]

    @property
    def after(self) -> int:
        return self.kept.readings()


def _plan(
    conn: Connection, target: Target, lo: datetime, hi: datetime, *, step: timedelta
) -> DayPlan | None:
    """The day's plan, from its readings and polls as this connection sees them; None
    when its energy is not current."""
    zone, day, gateway_id = target.zone, target.day, target.gateway.id
    margin = guard(step)
    if not sql.rolled_up_since_polled(conn, gateway_id, day, lo - MARGIN, hi + MARGIN):
        return None
    reach = sql.Reach(lo, hi, guard=margin, after=DEFAULT_THRESHOLDS.max_gap)
    rows = sql.read_rows(conn, gateway_id, reach)
    hours = tuple(p.start_utc for p in periods(lo, hi, zone, Resolution.HOUR))
    limits = Limits(
        lo=lo,
        hi=hi,
        step=step,
        hours=(*hours, hi),
        guard=margin,
        jump_w=_power_floor(conn, gateway_id, rows, lo, hi),
    )
    sources = sql.production_sources(conn, gateway_id, day, lo, hi)
    inverter_hours = CounterSource.INVERTER_LIFETIMES.value in sources
    kept, before = _plan_day(rows, limits, inverter_hours=inverter_hours)
    return DayPlan(kept, before, day_runs(conn, gateway_id, lo, hi))


def _write(
    conn: Connection,
    target: Target,
    plan: DayPlan,
    lo: datetime,
    hi: datetime,
    *,
    step: timedelta,
    now: datetime,
) -> None:
    """Replace the day's readings by its plan's kept rows, and fold its poll log."""
    sql.replace_day(
        conn, target.gateway.id, lo=lo, hi=hi, day=target.day, kept=plan.kept, step=step,
        before=plan.before, after=plan.after, at=now.astimezone(UTC),
    )  # fmt: skip
    write_runs(conn, plan.runs)


def _plan_day(
    rows: sql.DayRows, limits: Limits, *, inverter_hours: bool = True
) -> tuple[sql.DayRows, int]:
    """The kept rows of every series of the day, and how many rows the day had.

    ``inverter_hours``: the microinverters' lifetimes are the day's production counter,
    so their hours must split exactly; otherwise only their days are (inverter days).
    """
    kept = sql.DayRows({}, rows.meter_types, {}, {}, {})
    before = 0
    # Without an hour of their own to split, inverter counters are kept at the day's ends.
    inverter_limits = limits if inverter_hours else replace(limits, hours=(limits.lo, limits.hi))

    def run(series: list[Any], columns: Columns, instant: str, within: Limits = limits) -> Plan:
        nonlocal before
        trusted = [not ((r.flags or 0) & UNTRUSTED_MASK) for r in series]
        plan = plan_series(series, columns, within, instant=instant, trusted=trusted)
        before += plan.before
        return plan

    for (meter_id, channel), series in rows.meters.items():
        # The rollup counts the meter's whole channel only; phases are power alone.
        columns = METER if channel == sql.COUNTER_CHANNEL else _power_only(METER)
        if rows.meter_types.get(meter_id) != "production":
            columns = _no_jumps(columns)
        plan = run(series, columns, "measured_at")
        if plan.kept:
            kept.meters[(meter_id, channel)] = plan.kept
    for (source, measurement), series in rows.systems.items():
        # Only production's lifetime is a counter of the rollup (flows.system_source).
        columns = SYSTEM if measurement == sql.COUNTER_MEASUREMENT else _power_only(SYSTEM)
        plan = run(series, columns, "measured_at")
        if plan.kept:
            kept.systems[(source, measurement)] = plan.kept
            for row, folded in zip(plan.kept, plan.folded, strict=True):
                kept.phases[row["id"]] = _phases(row, folded, rows.phases)
    for inverter_id, series in rows.inverters.items():
        plan = run(series, INVERTER, "reported_at", inverter_limits)
        if plan.kept:
            kept.inverters[inverter_id] = plan.kept
    return kept, before


def _power_only(columns: Columns) -> Columns:
    """The columns of a series whose counters no rollup reads: folded by step alone."""
    return replace(columns, counters=(), jump_counter=None)


def _no_jumps(columns: Columns) -> Columns:
    return replace(columns, jump_counter=None)


def _phases(
    row: Mapping[str, Any], folded: list[Any], phases: Mapping[int, list[Any]]
) -> list[dict[str, Any]]:
    """The kept system reading's phase rows (``row`` as kept, ``folded`` and ``phases``
    as read), instantaneous values averaged over the fold."""
    own = [p._asdict() for p in phases.get(row["id"], [])]
    if not folded:
        return own
    members = [(r, r.samples or 1) for r in folded]
    weight = row["samples"] - sum(w for _, w in members)  # the kept reading's own share
    for phase in own:
        same = [
            (p, w) for r, w in members for p in phases.get(r.id, []) if p.phase == phase["phase"]
        ]
        others = [p for p, _ in same]
        each = unless_ones([weight] + [w for _, w in same])
        for name in PHASE_MEANS:
            values = [phase[name]] + [getattr(p, name) for p in others]
            phase[name] = folded_mean(name, values, each)
    return own


def _power_floor(
    conn: Any, gateway_id: int, rows: sql.DayRows, lo: datetime, hi: datetime
) -> float:
    """A floor under the production power limit any rollup of this day uses: the
    inverters' summed highest report, else the observed production peak with headroom."""
    inverters = energy_sql.inverter_max_watts(conn, gateway_id, lo, hi)
    if inverters > 0:
        return inverters
    peaks = []
    for (meter_id, channel), series in rows.meters.items():
        if rows.meter_types.get(meter_id) == "production" and channel == 0:
            peaks.append(_peak(series, lo, hi))
    for (_, measurement), series in rows.systems.items():
        if measurement == "production":
            peaks.append(_peak(series, lo, hi))
    known = [p for p in peaks if p is not None]
    return min(known) * OBSERVED_POWER_HEADROOM if known else 0.0


def _peak(series: list[Any], lo: datetime, hi: datetime) -> float | None:
    values = [
        w
        for r in series
        if lo <= r.measured_at < hi and not ((r.flags or 0) & UNTRUSTED_MASK)
        for w in (r.watts_max, r.watts)
        if w is not None
    ]
    return max(values, default=None)
