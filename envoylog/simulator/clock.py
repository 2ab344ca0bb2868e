"""Simulated time: a clock that runs at ``speed`` times real time, or one a test advances.

Every timestamp the living simulator serves comes from one of these clocks, as epoch
seconds (float). Tests use ``ManualClock`` so they never sleep.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """What the simulator needs of a clock: the simulated now, in epoch seconds."""

    def now(self) -> float: ...


def to_epoch(moment: datetime | float) -> float:
    """Epoch seconds of an aware datetime (naive ones are refused) or a number."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError(f"{moment.isoformat()} has no timezone")
        return moment.timestamp()
    return float(moment)


class SimClock:
    """Simulated time starting at ``start`` and running ``speed`` times faster than ``real``."""

    def __init__(
        self,
        start: datetime | float | None = None,
        speed: float = 1.0,
        real: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, not {speed}")
        self.start = time.time() if start is None else to_epoch(start)
        self.speed = speed
        self._real = real
        self._real_start = real()

    def now(self) -> float:
        return self.start + (self._real() - self._real_start) * self.speed

    def __repr__(self) -> str:
        return f"SimClock(start={_iso(self.start)}, speed={self.speed:g})"


class ManualClock:
    """A clock that stands still until told to move (for tests); thread-safe."""

    def __init__(self, start: datetime | float) -> None:
        self._now = to_epoch(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, by: timedelta | float) -> float:
        """Move forward by a timedelta or seconds; return the new now."""
        seconds = by.total_seconds() if isinstance(by, timedelta) else float(by)
        if seconds < 0:
            raise ValueError("a simulated clock never goes back")
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, moment: datetime | float) -> float:
        """Jump forward to ``moment``."""
        target = to_epoch(moment)
        return self.advance(target - self.now())

    def __repr__(self) -> str:
        return f"ManualClock(now={_iso(self.now())})"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()
