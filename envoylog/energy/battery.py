"""Battery charge and discharge from the batteries' own power, where no storage CT counts them.

Each reading's power is held until the next reading of the same battery, when that comes
at most ``max_gap`` (30 minutes) later; a longer gap gets no energy at all (nothing is
known of it), so the periods it covers lose coverage. The energy is an estimate, and
the energy tables count all of it in ``estimated_wh``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime

from envoylog.energy.counters import DEFAULT_THRESHOLDS, CounterResult, Interval, Method

Point = tuple[datetime, float]  # (instant, W: + = discharging)


def power_integral(
    points: Sequence[Point], *, max_gap: float = DEFAULT_THRESHOLDS.max_gap.total_seconds()
) -> tuple[CounterResult, CounterResult]:
    """(charge, discharge) intervals of one battery from its power readings in time order."""
    charge: list[Interval] = []
    discharge: list[Interval] = []
    for (start, watts), (end, _) in itertools.pairwise(points):
        seconds = (end - start).total_seconds()
        if seconds <= 0 or seconds > max_gap:
            continue
        wh = watts * seconds / 3600
        charge.append(Interval(start, end, max(-wh, 0.0), Method.MEASURED, True))
        discharge.append(Interval(start, end, max(wh, 0.0), Method.MEASURED, True))
    return CounterResult(tuple(charge), ()), CounterResult(tuple(discharge), ())
