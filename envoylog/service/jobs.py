"""One gateway's polling job: which endpoints are due, quiet hours, and back-off.

The scheduler calls :meth:`GatewayJob.run` on every tick; everything here runs on
an injected clock, so tests (and the demo) can drive it through simulated time.
"""

from __future__ import annotations

import enum
import logging
import threading
import time as monotonic_time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from envoylog import endpoints as ep
from envoylog.client.tokens import WARN_DAYS
from envoylog.config import table
from envoylog.errors import EnvoylogError
from envoylog.poller import (
    Clock,
    Fetcher,
    GatewayState,
    PollControl,
    no_data_error,
    poll_once,
    utc_now,
)
from envoylog.records import PollResult

log = logging.getLogger(__name__)

TOKEN_WARNING = timedelta(days=WARN_DAYS)
DEFAULT_TICK_S = 60  # how often a job looks at its gateway when no cadence says otherwise
POLL_DEADLINE_S = float(table.POLL_DEADLINE_S.default_value)


@dataclass(frozen=True, slots=True)
class QuietWindow:
    """Local hours in which the gateway does its nightly housekeeping and is left alone."""

    start: time = table.QUIET_START.default_value
    end: time = table.QUIET_END.default_value

    def contains(self, local: time) -> bool:
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # a window across midnight


class Outcome(enum.StrEnum):
    POLLED = "polled"  # a poll was made and handed over for storage
    FAILED = "failed"  # the poll failed as a whole; backing off
    IDLE = "idle"  # nothing due yet
    QUIET = "quiet"  # inside the quiet window
    BACKING_OFF = "backing-off"  # waiting after consecutive failures
    BUSY = "busy"  # the previous poll is still waiting for the gateway: this tick is skipped
    CUT = "cut"  # the service stopped it and stored what it had got
    ELSEWHERE = "elsewhere"  # another envoylog process polls this gateway: nothing asked
    HELD = "held"  # its first poll waits a tick: the store is behind (hold_first)


@dataclass(slots=True)
class JobHealth:
    """What `envoylog status` shows about one gateway."""

    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    consecutive_failures: int = 0
    retry_at: datetime | None = None
    token_expires_at: datetime | None = None
    polled_elsewhere: str | None = None  # the other envoylog process polling it (its name)


@dataclass(slots=True)
class GatewayJob:
    """Poll one gateway on each endpoint's own cadence and hand each poll to ``submit``."""

    name: str
    client: Fetcher
    submit: Callable[[PollResult], None]
    cadences: Mapping[str, int]  # endpoint name -> seconds; 0 turns an endpoint off
    tick_s: int = DEFAULT_TICK_S
    timezone: str | None = None  # configured override; else the gateway's own /home zone
    quiet: QuietWindow | None = field(default_factory=QuietWindow)
    base_backoff_s: int = 60
    max_backoff_s: int = table.MAX_BACKOFF_S.default_value
    clock: Clock = utc_now
    token_expires_at: Callable[[], datetime | None] = lambda: None
    poll_deadline_s: float | None = POLL_DEADLINE_S  # no endpoint asked once it is spent
    stop: threading.Event | None = None  # set at stop: no endpoint asked any more
    # Asked with the serial once per poll: None to poll, else the process polling it
    # instead (envoylog.db.claims); None here: every gateway is this process's (SQLite).
    claim: Callable[[str], str | None] | None = None
    # Asked before the gateway's first poll since the start: True holds it to the next
    # tick (the service's store is behind). A first poll costs several later ones, so a
    # fleet starting on a busy machine starts more slowly instead of falling behind.
    hold_first: Callable[[], bool] | None = None
    state: GatewayState = field(init=False)
    health: JobHealth = field(default_factory=JobHealth)
    _last_attempt: dict[str, datetime] = field(default_factory=dict)
    _token_warned_on: str | None = None
    _busy: threading.Lock = field(default_factory=threading.Lock)
    _control: PollControl | None = None  # of the poll under way
    _stuck_since: float | None = None  # when a tick first found the poll still under way
    first_tick_at: datetime | None = None  # the service's grid: this plus k ticks
    held: int = 0  # ticks its first poll was held (hold_first)
    _started: bool = False  # a poll was made since the start

    def __post_init__(self) -> None:
        host = getattr(self.client, "host", self.name)
        self.state = GatewayState(host=str(host), name=self.name)

    def due(self, now: datetime) -> list[ep.Endpoint]:
        """Endpoints whose cadence has come round (half a tick of slack for jitter)."""
        slack = timedelta(seconds=self.tick_s / 2)
        chosen = []
        for endpoint in ep.ALL:
            cadence = self.cadence(endpoint)
            if cadence <= 0:
                continue
            last = self._last_attempt.get(endpoint.name)
            if last is None or now - last >= timedelta(seconds=cadence) - slack:
                chosen.append(endpoint)
        return chosen

    def cadence(self, endpoint: ep.Endpoint) -> int:
        """Seconds between reads of `endpoint` now; 0: not read."""
        cadence = self.cadences.get(endpoint.name, endpoint.cadence_s)
        if cadence > 0 and endpoint.cadence_with_cts_s is not None and self.state.reads_cts:
            return self.cadences.get(endpoint.with_cts_key, endpoint.cadence_with_cts_s)
        return cadence

    @property
    def started(self) -> bool:
        """Whether a poll of this gateway was made since the start."""
        return self._started

    @property
    def busy(self) -> bool:
        """Whether a poll of this gateway is under way."""
        return self._busy.locked()

    def cut(self) -> PollResult | None:
        """At stop, from another thread: take the poll under way as it stands (what it
        got; the endpoint awaited marked interrupted) and hand it over for storage."""
        control = self._control
        poll = control.cut() if control is not None else None
        if poll is not None:
            asking = control.asking.path if control and control.asking else None
            log.warning(
                "poll_cut_at_stop gateway=%s waiting_for=%s answered=%d",
                self.name,
                asking,
                sum(1 for e in poll.endpoints if e.ok),
            )
            self.submit(poll)
        return poll

    def run(self) -> Outcome:
        """Do what this tick calls for: maybe one poll, handed to ``submit``.

        A tick that finds the previous poll still waiting for the gateway returns at once
        (one warning per stuck gateway, one line when it is free again).
        """
        if not self._busy.acquire(blocking=False):
            self._still_busy()
            return Outcome.BUSY
        try:
            return self._run()
        finally:
            self._control = None
            self._busy.release()
            if self._stuck_since is not None:
                log.warning(
                    "gateway_unstuck gateway=%s after_s=%.0f",
                    self.name,
                    monotonic_time.monotonic() - self._stuck_since,
                )
                self._stuck_since = None

    def _still_busy(self) -> None:
        if self._stuck_since is not None:
            return
        self._stuck_since = monotonic_time.monotonic()
        control = self._control
        asking = control.asking.path if control and control.asking else None
        waited = monotonic_time.monotonic() - control.started if control else 0.0
        log.warning(
            "gateway_stuck gateway=%s waiting_for=%s waited_s=%.0f: its ticks are skipped "
            "until the poll ends (deadline %s s)",
            self.name,
            asking,
            waited,
            f"{self.poll_deadline_s:g}" if self.poll_deadline_s else "none",
        )

    def _run(self) -> Outcome:
        now = self.clock()
        if self.quiet is not None and self.quiet.contains(self.local_time(now)):
            return Outcome.QUIET
        if self.health.retry_at is not None and now < self.health.retry_at:
            return Outcome.BACKING_OFF
        due = self.due(now)
        if not due:
            return Outcome.IDLE
        if not self._started and self.hold_first is not None and self.hold_first():
            self.held += 1
            if self.first_tick_at is not None:  # the grid starts a tick later
                self.first_tick_at += timedelta(seconds=self.tick_s)
            return Outcome.HELD
        self._started = True
        firmware_before = self.state.firmware
        control = PollControl(deadline_s=self.poll_deadline_s, stop=self.stop, claim=self.claim)
        self._control = control
        try:
            poll = poll_once(
                self.client, self.state, endpoints=due, clock=self.clock, control=control
            )
        except EnvoylogError as exc:
            self._failed(now, str(exc))
            return Outcome.FAILED
        # Its attempts are not counted: everything due is polled once this process owns it.
        self.health.polled_elsewhere = control.elsewhere
        if control.elsewhere is not None:
            return Outcome.ELSEWHERE
        for endpoint in due:
            self._last_attempt[endpoint.name] = now
        if firmware_before is not None and self.state.firmware != firmware_before:
            self._reprobe()
        if not control.take():
            return Outcome.CUT  # the stop took it as it stood, and handed it over
        self.submit(poll)
        self._check_token(now)
        # /info needs no token: a poll where nothing else answered (a refused token, a
        # gateway busy restarting) is a failure to back off from, not a success.
        error = no_data_error(poll)
        if error is not None:
            self._failed(now, error)
            return Outcome.FAILED
        self.health.last_success_at = now
        self.health.consecutive_failures = 0
        self.health.retry_at = None
        return Outcome.POLLED

    def local_time(self, now: datetime) -> time:
        return now.astimezone(self._zone()).time()

    def _zone(self) -> tzinfo | None:
        name = self.timezone or (self.state.home.timezone if self.state.home else None)
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                log.warning("unknown_timezone gateway=%s timezone=%s", self.name, name)
        return None  # astimezone(None): this machine's local time

    def _failed(self, now: datetime, error: str) -> None:
        health = self.health
        health.consecutive_failures += 1
        health.last_error, health.last_error_at = error, now
        wait = min(self.base_backoff_s * 2 ** (health.consecutive_failures - 1), self.max_backoff_s)
        health.retry_at = now + timedelta(seconds=wait)
        log.warning(
            "poll_failed gateway=%s failures=%d retry_in_s=%d error=%s",
            self.name,
            health.consecutive_failures,
            wait,
            error,
        )

    def _reprobe(self) -> None:
        """After a firmware change every endpoint is due again: meanings may have changed."""
        log.warning("firmware_changed gateway=%s firmware=%s", self.name, self.state.firmware)
        self._last_attempt.clear()
        self.state.meters = None

    def _check_token(self, now: datetime) -> None:
        expires = self.token_expires_at()
        self.health.token_expires_at = expires
        today = now.date().isoformat()
        if expires is None or expires - now > TOKEN_WARNING or self._token_warned_on == today:
            return
        self._token_warned_on = today
        days = max((expires - now).days, 0)
        log.warning(
            "token_expiring gateway=%s expires=%s days_left=%d",
            self.name,
            expires.date().isoformat(),
            days,
        )
