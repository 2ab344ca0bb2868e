"""Rows of the energy tables from one window's counter runs: hours, days, inverter days, months."""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from envoylog.energy.counters import DEFAULT_THRESHOLDS, Interval, Method
from envoylog.energy.figures import derived_consumption, derived_figures
from envoylog.energy.flows import CounterSource, Flow, FlowChoice
from envoylog.energy.periods import Period, PeriodEnergy, Resolution, local_midnight, periods, split
from envoylog.energy.series import Run, Window

Slot = PeriodEnergy | None  # None: no reading of the flow touches the period

WH_COLUMNS = {
    Flow.PRODUCTION: "production_wh",
    Flow.CONSUMPTION: "consumption_wh",
    Flow.IMPORT: "import_wh",
    Flow.EXPORT: "export_wh",
    Flow.CHARGE: "battery_charge_wh",
    Flow.DISCHARGE: "battery_discharge_wh",
}
SUMMED = (*WH_COLUMNS.values(), "net_grid_wh", "self_consumption_wh", "estimated_wh")
SOURCES = ("production_source", "consumption_source", "grid_source", "battery_source")
SOC = ("soc_min_pct", "soc_max_pct", "soc_end_pct")
# The battery_source of each way of counting the batteries' energy.
BATTERY_SOURCES = {
    CounterSource.STORAGE_CT_DELIVERED: "storage-ct",
    CounterSource.STORAGE_CT_RECEIVED: "storage-ct",
    CounterSource.POWER_INTEGRAL: CounterSource.POWER_INTEGRAL.value,
}


def source_columns(choices: Mapping[Flow, FlowChoice]) -> dict[str, str | None]:
    """The *_source columns: one counter per flow for the whole recomputed range."""

    def name(flow: Flow) -> str | None:
        source = choices[flow].source
        return None if source is None else source.value

    grid = "net-ct" if choices[Flow.IMPORT].source or choices[Flow.EXPORT].source else None
    battery = next(
        (
            BATTERY_SOURCES[source]
            for flow in (Flow.CHARGE, Flow.DISCHARGE)
            if (source := choices[flow].source) is not None
        ),
        None,
    )
    return {
        "production_source": name(Flow.PRODUCTION),
        "consumption_source": name(Flow.CONSUMPTION),
        "grid_source": grid,
        "battery_source": battery,
    }


def gateway_rows(
    window: Window,
    choices: Mapping[Flow, FlowChoice],
    *,
    zone: str,
    resolution: Resolution,
    lo: datetime,
    hi: datetime,
    computed_at: datetime,
) -> list[dict[str, Any]]:
    """One row per local period of [lo, hi) that a reading touches: energy, figures, peak."""
    spans = periods(lo, hi, zone, resolution)
    polls = poll_coverage(window.inverter_polls, zone, resolution, lo, hi)
    slots: dict[Flow, list[Slot]] = {}
    for flow, run in window.runs.items():
        lifetimes = choices[flow].source is CounterSource.INVERTER_LIFETIMES
        slots[flow] = split_run(run, spans, zone, resolution, polls if lifetimes else None)
    if choices[Flow.CONSUMPTION].source is CounterSource.DERIVED:
        standby = window.standby
        extra = split_run(standby, spans, zone, resolution) if standby else None
        slots[Flow.CONSUMPTION] = _derived(slots, extra, len(spans))
    corrections = sorted(
        c.at for run in (*window.runs.values(), window.standby) if run for c in run.corrections
    )
    watts = window.production_watts
    instants = [at for at, _ in watts]
    soc_at = [at for at, _ in window.soc]
    sources = source_columns(choices)
    used = [f for f, c in choices.items() if c.source is not None]
    rows = []
    for index, span in enumerate(spans):
        values = {f: slots[f][index] if f in slots else None for f in Flow}
        if all(v is None for v in values.values()):
            continue  # no reading touches the period: no row, rather than a row of blanks
        wh = {f: None if v is None else v.wh for f, v in values.items()}
        figures = derived_figures(
            production_wh=wh[Flow.PRODUCTION],
            consumption_wh=wh[Flow.CONSUMPTION],
            import_wh=wh[Flow.IMPORT],
            export_wh=wh[Flow.EXPORT],
        )
        coverage = min(
            (v.coverage if (v := values[f]) is not None else 0.0 for f in used), default=0.0
        )
        measured = [f for f in used if choices[f].source is not CounterSource.DERIVED]
        # Power integrated is an estimate through and through: all of it counts.
        estimated = sum(
            v.wh if choices[f].source is CounterSource.POWER_INTEGRAL else v.wh_estimated
            for f in measured
            if (v := values[f]) is not None
        )
        a = bisect.bisect_left(instants, span.start_utc)
        b = bisect.bisect_left(instants, span.end_utc)
        peak = max((w for _, w in watts[a:b]), default=None)
        row: dict[str, Any] = {col: wh[flow] for flow, col in WH_COLUMNS.items()}
        row.update(
            net_grid_wh=figures.net_grid_wh,
            self_consumption_wh=figures.self_consumption_wh,
            self_sufficiency=figures.self_sufficiency,
            # A production CT reads slightly negative at night (the inverters' draw).
            peak_production_w=None if peak is None else max(peak, 0.0),
            coverage=coverage,
            estimated_wh=estimated,
            corrections=bisect.bisect_left(corrections, span.end_utc)
            - bisect.bisect_left(corrections, span.start_utc),
            computed_at=computed_at,
            **sources,
        )
        first = bisect.bisect_left(soc_at, span.start_utc)
        soc = [v for _, v in window.soc[first : bisect.bisect_left(soc_at, span.end_utc)]]
        row.update(
            soc_min_pct=min(soc, default=None),
            soc_max_pct=max(soc, default=None),
            soc_end_pct=soc[-1] if soc else None,
        )
        row.update(_key(span, resolution))
        rows.append(row)
    return rows


def inverter_rows(
    window: Window, *, zone: str, lo: datetime, hi: datetime, computed_at: datetime
) -> list[dict[str, Any]]:
    """One row per microinverter and local day logged: energy, peak power, coverage, source."""
    spans = periods(lo, hi, zone, Resolution.DAY)
    polls = poll_coverage(window.inverter_polls, zone, Resolution.DAY, lo, hi)
    rows = []
    for inverter_id, day in window.inverters.items():
        energy = split_run(Run([day.result]), spans, zone, Resolution.DAY)
        fixes = sorted(c.at for c in day.result.corrections)
        instants = [at for at, _ in day.watts]
        for index, span in enumerate(spans):
            slot = energy[index]
            if slot is None and polls[index] == 0:
                continue  # neither a report nor a poll touches the day: no row
            # Asleep (no report) while the logger watched: no energy, known.
            wh = slot.wh if slot is not None else 0.0
            a = bisect.bisect_left(instants, span.start_utc)
            b = bisect.bisect_left(instants, span.end_utc)
            rows.append(
                {
                    "inverter_id": inverter_id,
                    "day": span.day,
                    "wh": wh,
                    "peak_w": max((w for _, w in day.watts[a:b]), default=None),
                    "coverage": polls[index],
                    "source": day.source,
                    "corrections": bisect.bisect_left(fixes, span.end_utc)
                    - bisect.bisect_left(fixes, span.start_utc),
                    "computed_at": computed_at,
                }
            )
    return rows


def poll_coverage(
    polls: Sequence[tuple[datetime, datetime]],
    zone: str,
    resolution: Resolution,
    lo: datetime,
    hi: datetime,
) -> list[float]:
    """Share of each period between successful inverter polls at most max_gap apart.

    ``polls``: (first, last) start of each poll (the same twice) or run of polls (whose
    inverter polls were no more than max_gap apart: covered from first to last), in order.
    Inverters report only while producing, so a silent inverter between such
    polls had nothing to report: that time is backed by readings too.
    """
    limit = DEFAULT_THRESHOLDS.max_gap
    spans = []
    for index, (first, last) in enumerate(polls):
        if index:
            before = polls[index - 1][1]
            spans.append(Interval(before, first, 0.0, Method.MEASURED, first - before <= limit))
        if last > first:
            spans.append(Interval(first, last, 0.0, Method.MEASURED, True))
    if not spans:
        return [0.0] * len(periods(lo, hi, zone, resolution))
    return [p.coverage for p in split(spans, zone=zone, resolution=resolution, start=lo, end=hi)]


def split_run(
    run: Run,
    spans: Sequence[Period],
    zone: str,
    resolution: Resolution,
    coverage: Sequence[float] | None = None,
) -> list[Slot]:
    """A run's energy per period (summed over its counters); None where no interval touches."""
    if not spans:
        return []
    lo, hi = spans[0].start_utc, spans[-1].end_utc
    total: list[Slot] = [None] * len(spans)
    bounds = [s.start_utc for s in spans]
    for result in run.results:
        if not result.intervals:
            continue
        first, last = result.intervals[0].start, result.intervals[-1].end
        parts = split(result.intervals, zone=zone, resolution=resolution, start=lo, end=hi)
        a = max(bisect.bisect_right(bounds, first) - 1, 0)
        for k in range(a, len(spans)):
            if spans[k].start_utc >= last:
                break
            if spans[k].end_utc <= first:
                continue  # the intervals start after this period: they do not touch it
            part, before = parts[k], total[k]
            if before is None:
                total[k] = part
            else:
                wh = before.wh + part.wh
                total[k] = PeriodEnergy(
                    part.period, wh, before.wh_estimated + part.wh_estimated, part.coverage
                )
    if coverage is not None:
        total = [
            None if s is None else PeriodEnergy(s.period, s.wh, s.wh_estimated, coverage[k])
            for k, s in enumerate(total)
        ]
    return total


def _derived(slots: Mapping[Flow, list[Slot]], standby: list[Slot] | None, n: int) -> list[Slot]:
    """production + import - export (+ discharge - charge - standby) per period."""
    parts = {f: slots.get(f) for f in (Flow.PRODUCTION, Flow.IMPORT, Flow.EXPORT)}
    optional = {"discharged": Flow.DISCHARGE, "charged": Flow.CHARGE}
    result: list[Slot] = []
    for k in range(n):
        needed = [p[k] if p is not None else None for p in parts.values()]
        extras = {name: slots[f][k] for name, f in optional.items() if f in slots}
        if standby is not None:
            extras["standby"] = standby[k]
        if any(v is None for v in needed) or any(v is None for v in extras.values()):
            result.append(None)
            continue
        production, imported, exported = (v for v in needed if v is not None)
        kwargs = {name: [v] for name, v in extras.items() if v is not None}
        result.extend(derived_consumption([production], [imported], [exported], **kwargs))
    return result


def _key(span: Period, resolution: Resolution) -> dict[str, Any]:
    if resolution is Resolution.HOUR:
        return {"start_at": span.start_utc, "local_start": span.start.isoformat()}
    return {"day": span.day}


def month_rows(
    days: Sequence[Mapping[str, Any]], zone: str, computed_at: datetime
) -> list[dict[str, Any]]:
    """Monthly rows from stored daily rows: sums, peak, duration-weighted coverage."""
    by_month: dict[date, list[Mapping[str, Any]]] = {}
    for day in days:
        by_month.setdefault(day["day"].replace(day=1), []).append(day)
    rows = []
    for month, members in sorted(by_month.items()):
        following = (month + timedelta(days=32)).replace(day=1)
        seconds = (local_midnight(following, zone) - local_midnight(month, zone)).total_seconds()
        covered = sum(r["coverage"] * _day_seconds(r["day"], zone) for r in members)
        row: dict[str, Any] = {"month": month}
        for column in SUMMED:
            values = [r[column] for r in members if r[column] is not None]
            row[column] = sum(values) if values else None
        figures = derived_figures(
            production_wh=row["production_wh"],
            consumption_wh=row["consumption_wh"],
            import_wh=row["import_wh"],
            export_wh=row["export_wh"],
        )
        peaks = [r["peak_production_w"] for r in members if r["peak_production_w"] is not None]
        row.update(
            self_sufficiency=figures.self_sufficiency,
            peak_production_w=max(peaks, default=None),
            coverage=covered / seconds,
            estimated_wh=row["estimated_wh"] or 0.0,
            corrections=sum(r["corrections"] for r in members),
            computed_at=computed_at,
        )
        for column in SOURCES:
            seen = {r[column] for r in members if r[column] is not None}
            row[column] = seen.pop() if len(seen) == 1 else ("mixed" if seen else None)
        with_soc = [r for r in members if r["soc_end_pct"] is not None]
        row.update(
            soc_min_pct=min((r["soc_min_pct"] for r in with_soc), default=None),
            soc_max_pct=max((r["soc_max_pct"] for r in with_soc), default=None),
            # Days come in order: the month ends as its last day with a reading ended.
            soc_end_pct=with_soc[-1]["soc_end_pct"] if with_soc else None,
        )
        rows.append(row)
    return rows


def _day_seconds(day: date, zone: str) -> float:
    return (
        local_midnight(day + timedelta(days=1), zone) - local_midnight(day, zone)
    ).total_seconds()
