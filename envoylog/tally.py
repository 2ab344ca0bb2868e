"""A count said in a log line at most so often, and at once when asked (at stop): every
event is in some line, so the lines' figures add up to the total."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Tally:
    """Events counted from any thread; ``due`` hands out what no line has said yet."""

    def __init__(self, every_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.every_s = every_s
        self.total = 0
        self._unsaid = 0
        self._said_at: float | None = None
        self._clock = clock
        self._lock = threading.Lock()

    def add(self, count: int = 1) -> None:
        with self._lock:
            self.total += count
            self._unsaid += count

    def due(self, *, now: bool = False) -> int:
        """The events no line has said yet, when a line is due (the first at once, then at
        most every ``every_s``; ``now``: at once), for the caller to say; else 0."""
        with self._lock:
            if not self._unsaid:
                return 0
            at = self._clock()
            if not now and self._said_at is not None and at - self._said_at < self.every_s:
                return 0
            count, self._unsaid, self._said_at = self._unsaid, 0, at
            return count
