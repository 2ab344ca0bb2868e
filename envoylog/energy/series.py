"""Counter series of one gateway over a window, run through the counter engine.

The rollup picks one source per flow (:mod:`envoylog.energy.flows`); this
module reads exactly those series, turns them into interval energy and keeps
the power readings for the period peaks.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection

from envoylog.db import battery as battery_sql
from envoylog.db import energy as sql
from envoylog.energy.battery import power_integral
from envoylog.energy.counters import (
    DEFAULT_THRESHOLDS,
    Correction,
    CounterKind,
    CounterResult,
    Interval,
    Method,
    Sample,
    intervals,
)
from envoylog.energy.flows import NOT_COUNTERS, CounterSource, Flow, FlowChoice, counter_kind

# Read this much before and after a window, so the glitch and spike rules
# (which look up to 2 h around a reading) judge the window's edges as a
# longer run would.
MARGIN = timedelta(hours=6)
# Without inverter ratings, the highest production power seen, with headroom.
OBSERVED_POWER_HEADROOM = 1.5
DEFAULT_REPORT_S = 300.0  # a microinverter's report interval when its reports do not say


@dataclass(slots=True)
class Run:
    """One flow's counter result(s): several runs for per-inverter lifetimes."""

    results: list[CounterResult] = field(default_factory=list)

    @property
    def intervals(self) -> list[Interval]:
        return [i for r in self.results for i in r.intervals]

    @property
    def corrections(self) -> list[Correction]:
        return [c for r in self.results for c in r.corrections]


@dataclass(slots=True)
class InverterDay:
    """One inverter's energy intervals, power reports and how the energy was obtained."""

    serial: str
    source: str  # lifetime / interval-sum / report-watts
    result: CounterResult
    watts: list[tuple[datetime, float]]


@dataclass(slots=True)
class Window:
    """Everything the rollup needs of one gateway over one window."""

    runs: dict[Flow, Run]
    standby: Run | None  # production CT received: the inverters' night draw
    production_watts: list[tuple[datetime, float]]
    inverters: dict[int, InverterDay]
    inverter_polls: list[tuple[datetime, datetime]]  # db.energy.inverter_poll_times
    max_power_w: float | None
    soc: list[tuple[datetime, float]] = field(default_factory=list)  # the gateway's battery %


def load_window(
    conn: Connection,
    gateway_id: int,
    choices: dict[Flow, FlowChoice],
    meter_of: dict[CounterSource, int],
    lo: datetime,
    hi: datetime,
    *,
    inverters: bool = True,
) -> Window:
    """Read the chosen series around [lo, hi) and run each through the counter engine.

    ``inverters=False`` leaves the microinverters' own series out unless production
    comes from them (the gateway's figures alone, at a fraction of the cost).
    """
    wlo, whi = lo - MARGIN, hi + MARGIN
    meter_cache: dict[int, list[sql.MeterPoint]] = {}

    def meter(source: CounterSource) -> list[sql.MeterPoint]:
        meter_id = meter_of[source]
        if meter_id not in meter_cache:
            meter_cache[meter_id] = sql.meter_series(conn, meter_id, wlo, whi)
        return meter_cache[meter_id]

    production = choices[Flow.PRODUCTION].source
    wanted = inverters or production is CounterSource.INVERTER_LIFETIMES
    inverter_days = _inverters(conn, gateway_id, wlo, whi) if wanted else {}
    watts: list[tuple[datetime, float]] = []
    if production is CounterSource.PRODUCTION_CT:
        watts = [(p.at, p.watts) for p in meter(production) if p.watts is not None]
    elif production is CounterSource.INVERTER_LIFETIMES:
        watts = _summed_watts(inverter_days.values())
    elif production is not None:
        points = _system(conn, gateway_id, production, wlo, whi)
        watts = [(p.at, p.watts) for p in points if p.watts is not None and p.trusted]
    max_power = sql.inverter_max_watts(conn, gateway_id, wlo, whi) or None
    if max_power is None and watts:
        max_power = max(w for _, w in watts) * OBSERVED_POWER_HEADROOM or None

    runs: dict[Flow, Run] = {}
    standby = None
    if CounterSource.POWER_INTEGRAL in {
        choices[Flow.CHARGE].source,
        choices[Flow.DISCHARGE].source,
    }:
        runs[Flow.CHARGE], runs[Flow.DISCHARGE] = Run(), Run()
        for power in battery_sql.power_series(conn, gateway_id, wlo, whi).values():
            charged, discharged = power_integral(power)
            runs[Flow.CHARGE].results.append(charged)
            runs[Flow.DISCHARGE].results.append(discharged)
    for flow, choice in choices.items():
        source = choice.source
        if source is None or source in NOT_COUNTERS:
            continue
        # Only production has a known bound; grid, load and battery power do not.
        limit = max_power if flow is Flow.PRODUCTION else None
        if source is CounterSource.INVERTER_LIFETIMES:
            lifetimes = [d for d in inverter_days.values() if d.source == "lifetime"]
            runs[flow] = Run([d.result for d in lifetimes])
            continue
        if source in meter_of:
            received = source.value.endswith("-received")
            samples = [
                Sample(p.at, v, covers_next=p.covers_next)
                for p in meter(source)
                if (v := p.received if received else p.delivered) is not None
            ]
        else:
            points = _system(conn, gateway_id, source, wlo, whi)
            samples = [
                Sample(p.at, p.wh, p.trusted, covers_next=p.covers_next)
                for p in points
                if p.wh is not None
            ]
        kind = counter_kind(source)
        runs[flow] = Run([intervals(samples, kind=kind, max_power_w=limit, series=str(source))])
        if source is CounterSource.PRODUCTION_CT:
            night = [
                Sample(p.at, p.received, covers_next=p.covers_next)
                for p in meter(source)
                if p.received is not None
            ]
            series = "production-ct-received"
            standby = Run([intervals(night, kind=CounterKind.METER, series=series)])
    polls = sql.inverter_poll_times(conn, gateway_id, wlo, whi) if inverter_days else []
    soc = battery_sql.soc_series(conn, gateway_id, lo, hi)
    return Window(runs, standby, watts, inverter_days, polls, max_power, soc)


def _system(
    conn: Connection, gateway_id: int, source: CounterSource, lo: datetime, hi: datetime
) -> list[sql.SystemPoint]:
    name = {
        CounterSource.EIM_PRODUCTION: "eim",
        CounterSource.API_V1_PRODUCTION: "api_v1",
        CounterSource.INVERTERS_PRODUCTION: "inverters",
    }[source]
    return sql.system_series(conn, gateway_id, name, "production", lo, hi)


def _inverters(
    conn: Connection, gateway_id: int, lo: datetime, hi: datetime
) -> dict[int, InverterDay]:
    serials = sql.inverter_ids(conn, gateway_id)
    reports = sql.inverters_series(conn, gateway_id, lo, hi)
    return {i: _inverter(serials[i], reports[i]) for i in serials if i in reports}


def _inverter(serial: str, reports: Sequence[sql.InverterReport]) -> InverterDay:
    """Energy from the lifetime counter, else the interval energies, else watts x interval."""
    watts = [(r.at, r.watts) for r in reports if r.watts is not None]
    if any(r.wh_lifetime is not None for r in reports):
        samples: list[Sample] = []
        for r in reports:
            if r.wh_lifetime is None:
                continue
            # The first report after a silence (dawn) counts its own interval only:
            # its energy belongs there, not spread over the night. A compacted report
            # that covers the span to this one leaves no silence.
            if r.interval_s and r.wh_interval is not None:
                begin = r.at - timedelta(seconds=r.interval_s)
                silent = not samples or samples[-1].at < begin - DEFAULT_THRESHOLDS.max_gap
                if silent and not (samples and samples[-1].covers_next):
                    samples.append(Sample(begin, r.wh_lifetime - r.wh_interval))
            samples.append(Sample(r.at, r.wh_lifetime, covers_next=r.covers_next))
        result = intervals(samples, kind=CounterKind.INVERTER_32BIT, series=f"inverter {serial}")
        return InverterDay(serial, "lifetime", result, watts)
    if any(r.wh_interval is not None for r in reports):
        spans = [
            _report_interval(r.at, r.interval_s or DEFAULT_REPORT_S, r.wh_interval)
            for r in reports
            if r.wh_interval is not None
        ]
        return InverterDay(serial, "interval-sum", CounterResult(tuple(spans), ()), watts)
    gaps = [(b - a).total_seconds() for (a, _), (b, _) in itertools.pairwise(watts)]
    usual = statistics.median(gaps) if gaps else DEFAULT_REPORT_S
    limit = DEFAULT_THRESHOLDS.max_gap.total_seconds()
    spans, previous = [], None
    for at, power in watts:
        seconds = (at - previous).total_seconds() if previous is not None else usual
        seconds = seconds if seconds <= limit else usual
        spans.append(_report_interval(at, seconds, power * seconds / 3600))
        previous = at
    return InverterDay(serial, "report-watts", CounterResult(tuple(spans), ()), watts)


def _report_interval(end: datetime, seconds: float, wh: float) -> Interval:
    return Interval(end - timedelta(seconds=seconds), end, wh, Method.MEASURED, True)


def _summed_watts(days: Iterable[InverterDay]) -> list[tuple[datetime, float]]:
    """The site's inverter power after each report: the sum of every inverter's last report."""
    events = sorted((at, day.serial, w) for day in days for at, w in day.watts)
    latest: dict[str, float] = {}
    total: list[tuple[datetime, float]] = []
    for at, serial, w in events:
        latest[serial] = w
        total.append((at, sum(latest.values())))
    return total
