"""Which readings of one series a compacted day keeps, and what the kept ones stand for.

Pure: rows in, a plan out. A series is one meter channel, one (source, measurement)
of system readings or one inverter. One with counters is read over its gateway-day
plus a guard on each side; one of power alone (a meter's phase channel, system
readings other than production) over the day and ``max_gap`` after it, all its rules
need. The plan keeps, inside the day:

- the first reading at or after each step boundary, and the last reading before each
  local hour boundary, so every interval the counter engine splits across an hour (or a
  day) is kept exactly as it was and energy inside a step telescopes;
- every reading within ``guard`` of an irregular one (a counter that falls, is missing
  or untrusted, a rise faster than the site's power allows), so wraps, glitches, resets
  and jumps meet the same neighbours as before;
- both ends of every interval longer than ``max_gap`` (a gap stays a gap), and the day's
  last reading when none follows it within the rows read (what follows is further),
  folding the rest: a kept reading with readings folded after it covers the span to
  the next kept one, however long, and its readers take it so
  (counters.Sample.covers_next, the report's power chart);
- every reading of a stretch whose merged interval would look like a jump.

Every other reading is folded into the kept reading before it: counters stay those of
the kept reading (exact at its instant), power becomes the mean, min and max of the
folded readings, other instantaneous values their mean.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from envoylog.energy.counters import DEFAULT_THRESHOLDS

# Means of power kept in whole units (W, VA, var: the gateways' inverters report whole
# watts, and a step's mean needs no finer): SQLite stores an integral REAL as an integer
# of 1-3 bytes instead of 8 (docs/performance.md section 8). Extremes and counters stay
# exactly as read.
WHOLE_MEANS = frozenset({"watts", "va", "var"})


@dataclass(frozen=True, slots=True)
class Columns:
    """How one reading table's columns are folded."""

    counters: tuple[str, ...]  # cumulative: kept as read
    jump_counter: str | None = None  # the counter a production jump limit applies to
    means: tuple[str, ...] = ()  # instantaneous: mean over the folded readings
    maxima: tuple[str, ...] = ()  # highest over the folded readings
    required: tuple[str, ...] = ()  # a reading without these is kept as is


@dataclass(frozen=True, slots=True)
class Limits:
    """What the plan needs of the day: its bounds, steps and the counter engine's limits."""

    lo: datetime
    hi: datetime
    step: timedelta
    hours: tuple[datetime, ...]  # local hour starts in [lo, hi], UTC
    guard: timedelta
    jump_w: float | None = None  # a lower bound of the rollup's max power; None: no check
    max_gap: timedelta = DEFAULT_THRESHOLDS.max_gap

    def steps(self) -> list[datetime]:
        """Step boundaries in [lo, hi]: from the day's local midnight, every ``step``."""
        found, at = [], self.lo
        while at <= self.hi:
            found.append(at)
            at += self.step
        return sorted({*found, *self.hours, self.hi})


@dataclass(slots=True)
class Plan:
    """Rows of the day to keep (with their folded values) and how many rows it had."""

    kept: list[dict[str, Any]] = field(default_factory=list)
    folded: list[list[Any]] = field(default_factory=list)  # into each kept row
    before: int = 0

    @property
    def after(self) -> int:
        return len(self.kept)


def plan_series(
    rows: Sequence[Any],
    columns: Columns,
    limits: Limits,
    *,
    instant: str,
    trusted: Sequence[bool],
) -> Plan:
    """Plan one series (rows: named tuples of a reading table's columns, sorted by
    ``instant``, the day plus the guard on each side)."""
    inside = [i for i, r in enumerate(rows) if limits.lo <= getattr(r, instant) < limits.hi]
    plan = Plan(before=len(inside))
    if not inside:
        return plan
    # Untrusted readings are invisible to the energy: they fold among themselves only.
    for wanted in (True, False):
        members = [i for i in range(len(rows)) if trusted[i] is wanted]
        if not members:
            continue
        counted = wanted and bool(columns.counters)
        keep = _kept(rows, members, columns, limits, instant, counted=counted)
        group = [i for i in inside if trusted[i] is wanted]
        starts = [k for k, i in enumerate(group) if i in keep]
        for n, k in enumerate(starts):
            end = starts[n + 1] if n + 1 < len(starts) else len(group)
            folded = [rows[i] for i in group[k + 1 : end]]
            plan.kept.append(fold(rows[group[k]], folded, columns))
            plan.folded.append(folded)
    return plan


def _kept(
    rows: Sequence[Any],
    members: list[int],
    columns: Columns,
    limits: Limits,
    instant: str,
    *,
    counted: bool,
) -> set[int]:
    times = [getattr(rows[i], instant) for i in members]
    keep: set[int] = set()
    for boundary in limits.steps():
        k = bisect.bisect_left(times, boundary)
        if k < len(members):
            keep.add(members[k])
        # Counters are kept on both sides of an hour: no interval the rollup splits changes.
        if counted and k > 0 and (boundary in limits.hours or boundary == limits.hi):
            keep.add(members[k - 1])
    if counted:
        for k in _irregular(rows, members, columns, limits, instant):
            first = bisect.bisect_left(times, times[k] - limits.guard)
            last = bisect.bisect_right(times, times[k] + limits.guard)
            keep |= set(members[first:last])
    else:  # no counter to guard, but a change of flags still starts a new fold
        flags = [rows[i].flags for i in members]
        keep |= {members[k] for k in range(1, len(members)) if flags[k] != flags[k - 1]}
    # A merged interval must hold no gap (both ends of every interval longer than max_gap
    # are kept: the kept reading before covers the rest) and stay plausible (else nothing
    # in it is folded).
    for k in range(len(members) - 1):
        if times[k + 1] - times[k] > limits.max_gap:
            keep |= {members[k], members[k + 1]}
    # Nothing follows the last reading as far as the rows reach (past the day by max_gap
    # at least): whatever comes next is a gap away, so no reading before covers its span.
    if limits.lo <= times[-1] < limits.hi:
        keep.add(members[-1])
    kept = sorted(k for k, i in enumerate(members) if i in keep)
    for a, b in itertools.pairwise(kept):
        if b - a > 1 and not _mergeable(rows, members, a, b, columns, limits, instant):
            keep |= set(members[a:b])
    return keep


def _irregular(
    rows: Sequence[Any],
    members: list[int],
    columns: Columns,
    limits: Limits,
    instant: str,
) -> list[int]:
    """Positions (in ``members``) of readings the counter engine may not take at face value."""
    found = []
    highest: dict[str, float] = {}
    for k, i in enumerate(members):
        row = rows[i]
        odd = k > 0 and row.flags != rows[members[k - 1]].flags
        for name in columns.required:  # a loop: any() of a generator cost a tenth (measured)
            odd |= getattr(row, name) is None
        for name in columns.counters:
            value = getattr(row, name)
            before = getattr(rows[members[k - 1]], name) if k else None
            if (value is None) != (before is None) and k:
                odd = True
            if value is None:
                continue
            # Negative: never a counter reading, however the readings before it went.
            if not math.isfinite(value) or value < 0 or value < highest.get(name, -math.inf):
                odd = True
            highest[name] = max(highest.get(name, -math.inf), value)
        jump = columns.jump_counter
        if jump is not None and k and not odd:
            before_row = rows[members[k - 1]]
            odd = _too_fast(before_row, row, jump, limits, instant)
        if odd:
            found.append(k)
    return found


def _too_fast(a: Any, b: Any, counter: str, limits: Limits, instant: str) -> bool:
    """Whether the counter rose from ``a`` to ``b`` faster than the rollup could accept."""
    first, last = getattr(a, counter), getattr(b, counter)
    if limits.jump_w is None or first is None or last is None:
        return False
    t = DEFAULT_THRESHOLDS
    span = getattr(b, instant) - getattr(a, instant) + t.meter_report_slack
    hours = span.total_seconds() / 3600
    return bool(last - first > limits.jump_w * hours * t.jump_safety)


def _mergeable(
    rows: Sequence[Any],
    members: list[int],
    a: int,
    b: int,
    columns: Columns,
    limits: Limits,
    instant: str,
) -> bool:
    first, last = rows[members[a]], rows[members[b]]
    jump = columns.jump_counter
    return jump is None or not _too_fast(first, last, jump, limits, instant)


def fold(row: Any, folded: Sequence[Any], columns: Columns) -> dict[str, Any]:
    """``row`` standing for itself and ``folded`` (each possibly compacted already), as a
    dict to insert; readings are named tuples of their columns."""
    result: dict[str, Any] = row._asdict()
    if not folded:
        return result
    group = [row, *folded]
    weights = [r.samples or 1 for r in group]
    result["samples"] = sum(weights)
    each = unless_ones(weights)
    for name in ("watts", *columns.means):
        result[name] = folded_mean(name, [getattr(r, name) for r in group], each)
    lows = [v for r in group if (v := _either(r.watts_min, r.watts)) is not None]
    highs = [v for r in group if (v := _either(r.watts_max, r.watts)) is not None]
    result["watts_min"] = min(lows, default=None)
    result["watts_max"] = max(highs, default=None)
    for name in columns.maxima:
        values = [v for r in group if (v := getattr(r, name)) is not None]
        result[name] = max(values, default=None)
    return result


def _either(value: float | None, fallback: float | None) -> float | None:
    return fallback if value is None else value


def unless_ones(weights: list[int]) -> list[int] | None:
    """The readings' weights for folded_mean, or None when each stands for itself (every
    reading as polled, the common case)."""
    return None if sum(weights) == len(weights) else weights


def folded_mean(
    name: str, values: Sequence[float | None], weights: Sequence[int] | None = None
) -> float | None:
    """The mean of column ``name`` over folded readings, each weighted by the readings it
    stands for (``None``: one each), whole for power. Sums are correctly rounded
    (math.fsum), so both ways agree when every weight is one; that is the common case
    (readings as polled), and skipping the weights halved the planning's means (measured)."""
    if weights is None:
        known = [v for v in values if v is not None]
        if not known:
            return None
        mean = math.fsum(known) / len(known)
    else:
        pairs = [(v, w) for v, w in zip(values, weights, strict=True) if v is not None]
        if not pairs:
            return None
        mean = math.fsum(v * w for v, w in pairs) / sum(w for _, w in pairs)
    return float(round(mean)) if name in WHOLE_MEANS else mean
