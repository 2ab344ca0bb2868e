"""The simulator's ground truth: exact energy per flow, per local hour, and between instants.

The model adds every step's energy here and to the CT counters from the same numbers,
so a logger's counter deltas can be checked against what really happened.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

FLOWS = (
    "production",  # PV AC energy (production CT delivered)
    "inverter_standby",  # night draw of the inverters (production CT received)
    "import",  # from the grid (net-consumption CT delivered, summed over phases)
    "export",  # to the grid (net-consumption CT received, summed over phases)
    "consumption",  # the household's load
    "battery_charge",  # into the batteries (storage CT received)
    "battery_discharge",  # out of the batteries (storage CT delivered)
)

Totals = tuple[float, ...]


class TruthError(ValueError):
    """A truth query asks for an instant the ledger no longer (or not yet) knows."""


class TruthLedger:
    """Cumulative energy per flow since the model's origin, kept at every local hour start
    for the whole run and at every step for the last ``detail_s`` seconds."""

    def __init__(
        self,
        origin: float,
        timezone: str,
        *,
        step_s: int,
        detail_s: int,
        origin_is_hour_start: bool,
    ) -> None:
        self.origin = origin
        self.zone = ZoneInfo(timezone)
        self.step_s = step_s
        zero = (0.0,) * len(FLOWS)
        self.hour_marks: dict[float, Totals] = {origin: zero} if origin_is_hour_start else {}
        self.recent: deque[tuple[float, Totals]] = deque(maxlen=max(1, detail_s // step_s))
        self.recent.append((origin, zero))

    def record(self, at: float, totals: Totals, *, hour_start: bool) -> None:
        """Remember the cumulative totals reached at step boundary ``at``."""
        self.recent.append((at, totals))
        if hour_start:
            self.hour_marks[at] = totals

    def cumulative(self, t: float, head: float, head_totals: Totals, rates: Totals) -> Totals:
        """Totals at ``t``; ``head`` is the last step boundary reached, ``rates`` the W after it."""
        if t < self.origin:
            raise TruthError(f"{_iso(t)} is before the simulation started ({_iso(self.origin)})")
        if t == self.origin:
            return (0.0,) * len(FLOWS)
        if t >= head:
            hours = (t - head) / 3600
            return tuple(
                total + rate * hours for total, rate in zip(head_totals, rates, strict=True)
            )
        if t in self.hour_marks:
            return self.hour_marks[t]
        first = self.recent[0][0]
        if t < first:
            raise TruthError(
                f"{_iso(t)} is neither a local hour start nor within the last "
                f"{len(self.recent) * self.step_s // 3600} h kept step by step"
            )
        index = int((t - first) // self.step_s)
        at, before = self.recent[index]
        after = self.recent[index + 1][1] if index + 1 < len(self.recent) else head_totals
        share = (t - at) / self.step_s
        return tuple(a + (b - a) * share for a, b in zip(before, after, strict=True))

    def hours(self, start: float, end: float) -> list[tuple[float, float]]:
        """The local hours lying wholly within [start, end], as (start, end) epochs."""
        marks = sorted(m for m in self.hour_marks if start <= m <= end)
        return [(a, b) for a, b in itertools.pairwise(marks) if b - a <= 7200]


def flows_between(before: Sequence[float], after: Sequence[float]) -> dict[str, float]:
    return {flow: after[i] - before[i] for i, flow in enumerate(FLOWS)}


def report(
    ledger: TruthLedger,
    cumulative: Callable[[float], Totals],
    start: float,
    end: float,
) -> dict[str, Any]:
    """The truth between two instants, with its local hours and days, as JSON-ready data."""
    if end < start:
        raise TruthError("the end of a truth query comes before its start")
    hours = []
    days: dict[str, dict[str, float]] = {}
    for a, b in ledger.hours(start, end):
        flows = flows_between(ledger.hour_marks[a], ledger.hour_marks[b])
        local = datetime.fromtimestamp(a, ledger.zone)
        hours.append({"start": local.isoformat(), "flows_wh": _rounded(flows)})
        day = days.setdefault(local.date().isoformat(), dict.fromkeys(FLOWS, 0.0))
        for flow, wh in flows.items():
            day[flow] += wh
    return {
        "from": _iso(start, ledger.zone),
        "to": _iso(end, ledger.zone),
        "timezone": ledger.zone.key,
        "flows_wh": _rounded(flows_between(cumulative(start), cumulative(end))),
        "hours": hours,
        "days": [{"date": day, "flows_wh": _rounded(v)} for day, v in days.items()],
    }


def _rounded(flows: dict[str, float]) -> dict[str, float]:
    return {flow: round(wh, 6) + 0.0 for flow, wh in flows.items()}


def _iso(t: float, zone: ZoneInfo | None = None) -> str:
    moment = datetime.fromtimestamp(t, zone or UTC)
    return moment.isoformat() if math.isfinite(t) else str(t)
