"""Interval energy from one cumulative counter, with every correction explained.

A counter is read at instants; the energy between two accepted readings is
their difference. Readings that break monotonicity are classified in this
order: a negative or 0 value after non-zero ones (restart zeros, QUIRKS 6), a
drop within ``noise_wh`` (level held), a reading above both neighbours (a
spike), a transient dip that recovers (a glitch), a step-down by k x 2^32 J on
an inverter-built counter (a wrap, QUIRKS 19), a drop to near zero that then
grows (a reset, QUIRKS 20), and otherwise an anomaly that yields no energy.
A rise faster than the site's peak power allows is an anomaly too.

Energy across a gap stays: a cumulative counter knows it exactly, only its
placement in time is unknown, so the interval is marked and not ``covered``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

WRAP_WH = 2**32 / 3600  # a microinverter's 32-bit joule counter wraps here: 1,193,046.4711 Wh


class CounterKind(enum.StrEnum):
    """How a counter can misbehave besides glitches and resets."""

    INVERTER_32BIT = "inverter-32bit"  # built from microinverter joule counters: wraps
    METER = "meter"  # a CT meter register: never wraps


class Method(enum.StrEnum):
    """How an interval's energy was obtained."""

    MEASURED = "measured"  # difference of two readings within max_gap
    GAP = "gap"  # difference of two readings further apart: exact total, placement interpolated
    WRAP = "wrap"  # difference after adding back k wraps
    RESET = "reset"  # counted from zero after a reset; energy before the reset is lost
    ANOMALY = "anomaly"  # unexplained drop or impossible jump: no energy


class CorrectionKind(enum.StrEnum):
    WRAP = "wrap"
    GLITCH = "glitch"
    RESET = "reset"
    ANOMALY = "anomaly"
    JUMP = "jump"


@dataclass(frozen=True, slots=True)
class Sample:
    """One counter reading; ``trusted=False`` (a flagged reading) keeps it out of the counter."""

    at: datetime  # aware; converted to UTC
    value_wh: float
    trusted: bool = True
    # A compacted reading standing for readings folded after it, each within max_gap of
    # the next up to the next reading (envoylog.history.plan): the interval to the next
    # reading is covered however long it is.
    covers_next: bool = False


@dataclass(frozen=True, slots=True)
class Interval:
    """Energy between two accepted readings."""

    start: datetime
    end: datetime
    wh: float
    method: Method
    covered: bool  # exact energy between real readings at most max_gap apart

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True, slots=True)
class Correction:
    """A reading the engine did not take at face value, and why (a ``gateway_events`` row)."""

    at: datetime
    kind: CorrectionKind
    detail: str
    wh_before: float | None  # the counter level before (the last accepted reading)
    wh_after: float  # the value read

    @property
    def event_kind(self) -> str:
        """The ``gateway_events.kind`` for this correction, e.g. ``counter-wrap``."""
        return f"counter-{self.kind.value}"


@dataclass(frozen=True, slots=True)
class CounterResult:
    """Intervals in time order and the corrections made while building them."""

    intervals: tuple[Interval, ...]
    corrections: tuple[Correction, ...]
    ignored: int = 0  # untrusted, non-finite or exactly repeated readings

    @property
    def wh(self) -> float:
        """Total energy over all intervals."""
        return sum(i.wh for i in self.intervals)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Tunable limits of the counter rules; each default is explained where it is set."""

    max_gap: timedelta = timedelta(minutes=30)  # longer intervals are gaps (not covered)
    glitch_window: timedelta = timedelta(hours=2)  # how far ahead a dip may recover
    noise_wh: float = 10.0  # smaller drops are counter jitter: level held, no event
    reset_floor_wh: float = 1000.0  # "near zero": below this ...
    reset_fraction: float = 0.01  # ... or below this share of the level before
    jump_safety: float = 1.5  # headroom over max_power_w before a rise is impossible
    # Counters summed from inverter reports advance in steps of a whole report
    # (up to an hour, QUIRKS 22), so a short interval can carry a report's energy.
    inverter_report_slack: timedelta = timedelta(hours=1)
    meter_report_slack: timedelta = timedelta(minutes=5)
    wrap_slack_wh: float = 0.1 * WRAP_WH  # energy allowed inside a wrap when max power is unknown
    wrap_tolerance_wh: float = 10.0  # per wrap: Wh rounding of the summed counters

    def report_slack(self, kind: CounterKind) -> timedelta:
        """How far a counter of this kind may lag the energy it counts."""
        if kind is CounterKind.INVERTER_32BIT:
            return self.inverter_report_slack
        return self.meter_report_slack


DEFAULT_THRESHOLDS = Thresholds()


def intervals(
    samples: Sequence[Sample],
    *,
    kind: CounterKind,
    max_power_w: float | None = None,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    series: str = "counter",
) -> CounterResult:
    """Turn cumulative counter readings into interval energy and explained corrections."""
    readings, ignored, conflicts = _prepare(samples, series)
    covering = frozenset(s.at.astimezone(UTC) for s in samples if s.covers_next and s.trusted)
    engine = _Engine(readings, kind, max_power_w, thresholds, series, covering)
    engine.corrections.extend(conflicts)
    engine.run()
    corrections = sorted(engine.corrections, key=lambda c: c.at)
    return CounterResult(tuple(engine.intervals), tuple(corrections), ignored)


def _prepare(
    samples: Sequence[Sample], series: str
) -> tuple[list[tuple[datetime, float]], int, list[Correction]]:
    """Sort, drop untrusted and repeated readings, settle same-instant conflicts."""
    usable: list[tuple[datetime, float]] = []
    for sample in samples:
        if sample.at.tzinfo is None:
            raise ValueError(f"{series}: reading at {sample.at} has no timezone (UTC expected)")
        if sample.trusted and math.isfinite(sample.value_wh):
            usable.append((sample.at.astimezone(UTC), float(sample.value_wh)))
    ignored = len(samples) - len(usable)
    usable.sort()
    readings: list[tuple[datetime, float]] = []
    conflicts: list[Correction] = []
    index = 0
    while index < len(usable):
        at = usable[index][0]
        end = index
        while end < len(usable) and usable[end][0] == at:
            end += 1
        values = sorted({value for _, value in usable[index:end]})
        ignored += (end - index) - len(values)
        # Order-independent choice: the value nearest the reading before (a
        # replayed or re-fetched poll disagrees with itself only through a glitch).
        anchor = readings[-1][1] if readings else values[(len(values) - 1) // 2]
        kept = min(values, key=lambda v: (abs(v - anchor), -v))
        if len(values) > 1:
            others = ", ".join(f"{v:,.1f}" for v in values if v != kept)
            conflicts.append(
                Correction(
                    at,
                    CorrectionKind.GLITCH,
                    f"{series}: {len(values)} different readings at the same instant; kept "
                    f"{kept:,.1f} Wh (nearest the reading before), ignored {others} Wh",
                    anchor,
                    kept,
                )
            )
        readings.append((at, kept))
        index = end
    return readings, ignored, conflicts


@dataclass
class _Engine:
    """One pass over sorted readings, with bounded look-ahead for glitches."""

    readings: list[tuple[datetime, float]]
    kind: CounterKind
    max_power_w: float | None
    limits: Thresholds
    series: str
    covering: frozenset[datetime] = frozenset()  # instants of readings that cover the next
    points: list[tuple[datetime, float]] = field(default_factory=list)  # accepted (at, level)
    intervals: list[Interval] = field(default_factory=list)
    corrections: list[Correction] = field(default_factory=list)
    zero_run: int = 0  # zeros read since the last accepted reading

    def run(self) -> None:
        """Classify every reading after the first usable one."""
        start = next((i for i, (_, v) in enumerate(self.readings) if v >= 0), None)
        for at, value in self.readings[: start if start is not None else len(self.readings)]:
            self._note(at, CorrectionKind.GLITCH, value, "negative value: not a counter; ignored")
        if start is None:
            return
        start = self._skip_restart_zeros(start)
        self.points.append(self.readings[start])
        for index in range(start + 1, len(self.readings)):
            self._step(index, spike_allowed=True)

    def _skip_restart_zeros(self, start: int) -> int:
        """Leading zeros are a new counter if it then grows from zero, else restart glitches."""
        later = next((i for i in range(start, len(self.readings)) if self.readings[i][1] > 0), None)
        if self.readings[start][1] > 0 or later is None:
            return start
        at, value = self.readings[later]
        limit = self._energy_limit(at - self.readings[later - 1][0])
        if value <= self.limits.reset_floor_wh or (limit is not None and value <= limit):
            return start
        for index in range(start, later):
            self._zero_glitch(self.readings[index][0], f"before {value:,.1f} Wh: a gateway restart")
        self.zero_run = 0
        return later

    def _step(self, index: int, *, spike_allowed: bool) -> None:
        at, value = self.readings[index]
        level = self.points[-1][1]
        if value < 0:
            self._note(at, CorrectionKind.GLITCH, value, "negative value: not a counter; ignored")
        elif value >= level:
            self._rise(index)
        elif level - value <= self.limits.noise_wh:
            self._book(at, 0.0, Method.MEASURED, level)  # jitter: hold the level
        elif value == 0:
            self._zero(index)
        elif spike_allowed and self._previous_is_spike(index):
            self._drop_spike(value)
            self._step(index, spike_allowed=False)
        else:
            self._drop(index)

    def _rise(self, index: int) -> None:
        at, value = self.readings[index]
        start, level = self.points[-1]
        delta = value - level
        limit = self._energy_limit(at - start)
        if limit is None or delta <= limit:
            self._book(at, delta, Method.MEASURED, value)
        elif self._next_falls_back(index, level, value):
            text = f"rose by {delta:,.1f} Wh and the next reading fell back: a spike; ignored"
            self._note(at, CorrectionKind.GLITCH, value, text)
        else:
            self._note(
                at,
                CorrectionKind.JUMP,
                value,
                f"rose by {delta:,.1f} Wh in {at - start}, more than {self.max_power_w:,.0f} W "
                f"could make (limit {limit:,.1f} Wh): no energy booked; counting goes on "
                f"from {value:,.1f} Wh",
            )
            self._book(at, 0.0, Method.ANOMALY, value)

    def _drop(self, index: int) -> None:
        at, value = self.readings[index]
        start, level = self.points[-1]
        drop = level - value
        share = f"{drop:,.1f} Wh ({100 * drop / level:.1f}% of the counter)"
        recovered, _ = self._scan(index, level)
        if recovered:
            window = self.limits.glitch_window
            text = f"fell by {share} and recovered within {window}: a transient dip; ignored"
            self._note(at, CorrectionKind.GLITCH, value, text)
            return
        near_zero = value <= max(self.limits.reset_floor_wh, self.limits.reset_fraction * level)
        wrap = self._wrap(drop, at - start)
        # A single counter always lands near zero after its wrap. A sum landing
        # near zero after several wraps may as well be a reset: the wraps win
        # unless they would book more than both the reset reading and "near zero".
        wrap_ok = wrap is not None and wrap[1] <= max(value, self.limits.reset_floor_wh)
        if wrap is not None and (wrap[0] == 1 or not near_zero or wrap_ok):
            count, wh = wrap
            self._note(
                at,
                CorrectionKind.WRAP,
                value,
                f"fell by {drop:,.1f} Wh: {count} wrap(s) of a 32-bit joule counter "
                f"({count} x {WRAP_WH:,.2f} Wh) added back; {wh:,.1f} Wh counted",
            )
            self._book(at, wh, Method.WRAP, value)
            return
        if near_zero:
            if self._grows_after(index):
                plausible = self._energy_limit(at - start)
                if plausible is None or value <= plausible:
                    text = (
                        f"fell by {share} to near zero and grows from there: a counter reset; "
                        f"{value:,.1f} Wh counted from zero, energy before the reset is unknown"
                    )
                    self._note(at, CorrectionKind.RESET, value, text)
                    self._book(at, value, Method.RESET, value)
                    return
                reason = "near zero, but more energy than max power allows since the last reading"
            else:
                reason = "near zero, but no later reading shows it growing (yet)"
        elif self.kind is CounterKind.INVERTER_32BIT:
            reason = f"neither k x {WRAP_WH:,.2f} Wh (a wrap) nor near zero (a reset)"
        else:
            reason = "a meter does not wrap, and it did not land near zero (a reset)"
        text = (
            f"fell by {share}: {reason}, no recovery within {self.limits.glitch_window}; "
            f"no energy booked for this interval, counting goes on from {value:,.1f} Wh"
        )
        self._note(at, CorrectionKind.ANOMALY, value, text)
        self._book(at, 0.0, Method.ANOMALY, value)

    def _zero(self, index: int) -> None:
        """A 0 is a restart glitch (QUIRKS 6) unless the counter then grows from zero."""
        at, level = self.readings[index][0], self.points[-1][1]
        recovered, _ = self._scan(index, level)
        later = next(((t, v) for t, v in self.readings[index + 1 :] if v > 0), None)
        if recovered or later is None or later[1] >= level - self.limits.noise_wh:
            self._zero_glitch(at, "a gateway restart")
            return
        limit = self._energy_limit(later[0] - at)
        small = max(self.limits.reset_floor_wh, self.limits.reset_fraction * level)
        if later[1] <= small or (limit is not None and later[1] <= limit):
            text = (
                f"read 0 and the counter grows from zero after it ({later[1]:,.1f} Wh at "
                f"{later[0]:%Y-%m-%d %H:%M:%S}Z): a counter reset; counting from zero, energy "
                "between the last reading and the reset is unknown"
            )
            self._note(at, CorrectionKind.RESET, 0.0, text)
            self._book(at, 0.0, Method.RESET, 0.0)
            return
        self._zero_glitch(at, "the next reading is neither back up nor near zero")

    def _zero_glitch(self, at: datetime, why: str) -> None:
        """Note a 0 reading; a run of them between two accepted readings is one correction."""
        self.zero_run = self.zero_run + 1 if self.zero_run else 1
        first = self.corrections.pop().at if self.zero_run > 1 else at
        times = "once" if self.zero_run == 1 else f"{self.zero_run} times until {at:%H:%M:%S}Z"
        self._note(first, CorrectionKind.GLITCH, 0.0, f"read 0 {times} ({why}); ignored")

    def _previous_is_spike(self, index: int) -> bool:
        """Whether the last accepted reading stood above both neighbours (remove one, not many)."""
        if len(self.points) < 2 or self.intervals[-1].method not in (Method.MEASURED, Method.GAP):
            return False
        value = self.readings[index][1]
        before, level = self.points[-2][1], self.points[-1][1]
        if value < before - self.limits.noise_wh or level == before:
            return False
        recovered, dipped = self._scan(index, level)
        return not recovered or dipped >= 2

    def _drop_spike(self, value: float) -> None:
        spike_at, spike = self.points.pop()
        self.intervals.pop()
        level = self.points[-1][1]
        self.corrections.append(
            Correction(
                spike_at,
                CorrectionKind.GLITCH,
                f"{self.series}: {spike:,.1f} Wh stood above both neighbours ({level:,.1f} and "
                f"{value:,.1f} Wh): a spike; ignored",
                level,
                spike,
            )
        )

    def _scan(self, index: int, level: float) -> tuple[bool, int]:
        """Whether a reading within the glitch window gets back to ``level``; dipped readings."""
        horizon = self.readings[index][0] + self.limits.glitch_window
        dipped = 0
        for at, value in self.readings[index:]:
            if at > horizon:
                break
            if value >= level - self.limits.noise_wh:
                return True, dipped
            dipped += value > 0
        return False, dipped

    def _next_falls_back(self, index: int, level: float, value: float) -> bool:
        horizon = self.readings[index][0] + self.limits.glitch_window
        for at, later in self.readings[index + 1 :]:
            if at > horizon:
                return False
            if later > 0:
                return level - self.limits.noise_wh <= later < value - self.limits.noise_wh
        return False

    def _grows_after(self, index: int) -> bool:
        value = self.readings[index][1]
        later = next((v for _, v in self.readings[index + 1 :] if v > 0), None)
        return later is not None and later >= value - self.limits.noise_wh

    def _wrap(self, drop: float, elapsed: timedelta) -> tuple[int, float] | None:
        """The wrap count and energy that explain a drop, if this counter wraps and any do."""
        if self.kind is not CounterKind.INVERTER_32BIT:
            return None
        limit = self._energy_limit(elapsed)
        allowed = self.limits.wrap_slack_wh if limit is None else limit
        for count in range(max(1, int(drop // WRAP_WH)), int(drop // WRAP_WH) + 2):
            produced = count * WRAP_WH - drop  # the drop is k wraps minus what was produced
            if -self.limits.wrap_tolerance_wh * count <= produced <= allowed:
                return count, max(produced, 0.0)
        return None

    def _energy_limit(self, elapsed: timedelta) -> float | None:
        """The most energy the site could count in ``elapsed``, or None without a peak power."""
        if self.max_power_w is None:
            return None
        hours = (elapsed + self.limits.report_slack(self.kind)).total_seconds() / 3600
        return self.max_power_w * hours * self.limits.jump_safety

    def _book(self, at: datetime, wh: float, method: Method, level: float) -> None:
        start = self.points[-1][0]
        gap = at - start > self.limits.max_gap and start not in self.covering
        if method is Method.MEASURED and gap:
            method = Method.GAP
        covered = method in (Method.MEASURED, Method.WRAP) and not gap
        self.intervals.append(Interval(start, at, wh, method, covered))
        self.points.append((at, level))
        self.zero_run = 0

    def _note(self, at: datetime, kind: CorrectionKind, value: float, text: str) -> None:
        before = self.points[-1][1] if self.points else None
        level = "no reading" if before is None else f"{before:,.1f} Wh"
        detail = f"{self.series}: {value:,.1f} Wh after {level}: {text}"
        self.corrections.append(Correction(at, kind, detail, before, value))
