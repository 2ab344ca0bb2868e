"""One poll of one gateway: plan, fetch, parse, and return a PollResult.

A bad endpoint never loses the rest of the poll: its error is recorded as a gap.
Only when the gateway cannot be identified at all (no ``/info`` ever read) does a
poll raise.

A poll is bounded: each request by the client's own deadline, the poll by its
``PollControl`` (once its deadline is spent, or its stop event set, no further
endpoint is asked, and each left out says why). At stop, another thread can take the
poll as it stands (``PollControl.cut``) while a request of it still hangs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol

from envoylog import endpoints as ep
from envoylog.errors import (
    CertificateMismatch,
    GatewayError,
    GatewayTimeout,
    GatewayUnreachable,
    NotAnEnvoy,
    ParseError,
    TokenError,
)
from envoylog.parse.context import ParseContext
from envoylog.records import (
    Battery,
    BatteryKind,
    DeviceType,
    EndpointResult,
    GatewayIdentity,
    GatewayInfo,
    HomeInfo,
    Inverter,
    MeterConfig,
    MeterReading,
    PollResult,
    PollStatus,
    Record,
    Source,
    SystemReading,
)

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class Response(Protocol):
    @property
    def status(self) -> int: ...
    @property
    def body(self) -> bytes: ...
    @property
    def content_type(self) -> str | None: ...


class Fetcher(Protocol):
    """What the poller needs of a gateway client."""

    def get(self, path: str) -> Response: ...


# Failures that concern the whole gateway, not one endpoint: the rest of the poll is skipped.
# A refused digest login concerns one endpoint; a refused or missing token, all of them.
_GATEWAY_WIDE = (GatewayUnreachable, CertificateMismatch, TokenError)


TOKEN_REFUSED = "token refused"  # what the endpoints left out after a refused token say


def _kind(exc: Exception) -> str:
    if isinstance(exc, TokenError):
        return TOKEN_REFUSED
    if isinstance(exc, CertificateMismatch):
        return "certificate changed"
    return "gateway unreachable"


def utc_now() -> datetime:
    return datetime.now(tz=UTC)


@dataclass(slots=True)
class GatewayState:
    """What the poller has learnt about one gateway; carried from poll to poll."""

    host: str
    name: str | None = None
    info: GatewayInfo | None = None
    home: HomeInfo | None = None
    meters: tuple[MeterConfig, ...] | None = None
    last_fetched: dict[str, datetime] = field(default_factory=dict)
    # Whether the last read of /ivp/meters/readings gave CT readings: then the CT part
    # of production.json repeats them (see Endpoint.cadence_with_cts_s).
    reads_cts: bool = False
    # Which batteries the gateway has: None until an endpoint has said, and again after a
    # firmware change. The battery endpoints are read only where there are some (QUIRKS 27).
    iq_batteries: bool | None = None
    ac_batteries: bool | None = None

    @property
    def firmware(self) -> str | None:
        return self.info.firmware if self.info else None

    @property
    def metered(self) -> bool | None:
        return self.info.metered if self.info else None

    def learn(self, records: Iterable[Record]) -> None:
        """Remember identity and configuration found in freshly parsed records."""
        meters: list[MeterConfig] = []
        saw_meters = False
        for record in records:
            if isinstance(record, GatewayInfo):
                if self.info and self.info.firmware != record.firmware:
                    log.warning(
                        "firmware_changed host=%s old=%s new=%s",
                        self.host,
                        self.info.firmware,
                        record.firmware,
                    )
                    self.iq_batteries = self.ac_batteries = None  # asked again
                self.info = record
            elif isinstance(record, HomeInfo):
                self.home = record
            elif isinstance(record, MeterConfig):
                saw_meters = True
                meters.append(record)
            elif _is_ac_battery(record):
                self.ac_batteries = True
            elif isinstance(record, Battery):
                self.iq_batteries = True
        if saw_meters:
            self.meters = tuple(meters)


def plan(state: GatewayState, candidates: Sequence[ep.Endpoint] = ep.ALL) -> list[ep.Endpoint]:
    """Choose the endpoints worth asking this gateway, in fetch order."""
    chosen = [e for e in candidates if e.applies_to(state.firmware, state.metered)]
    # Without a CT meter configuration there is nothing to read from the meters.
    if state.meters is not None and not any(m.enabled for m in state.meters):
        chosen = [e for e in chosen if e is not ep.METER_READINGS]
    has = {
        ep.Needs.IQ_BATTERY: state.iq_batteries is True,
        ep.Needs.AC_BATTERY: state.ac_batteries is True,
        ep.Needs.ANY_BATTERY: state.iq_batteries is True or state.ac_batteries is True,
    }
    return [
        e
        for e in chosen
        if (e.needs is None or has[e.needs])
        and not (e is ep.ENSEMBLE_INVENTORY and state.iq_batteries is False)
    ]


def _is_ac_battery(record: Record) -> bool:
    """Whether a record is one of the old AC Batteries (ACB), which any of four endpoints list."""
    if isinstance(record, Battery):
        return record.kind is BatteryKind.ACB
    if isinstance(record, Inverter):
        return record.device_type is DeviceType.ACB
    # production.json lists an acb entry only with activeCount > 0 (parse.production).
    return isinstance(record, SystemReading) and record.source is Source.ACB


def fetch_endpoint(
    client: Fetcher,
    endpoint: ep.Endpoint,
    state: GatewayState,
    *,
    clock: Clock = utc_now,
) -> EndpointResult:
    """Fetch and parse one endpoint; every failure becomes the result's error."""
    fetched_at = clock()
    started = time.perf_counter()
    try:
        response = client.get(endpoint.path)
    except _GATEWAY_WIDE:
        raise
    except GatewayError as exc:
        return EndpointResult(
            endpoint=endpoint.name,
            path=endpoint.path,
            fetched_at=fetched_at,
            duration_ms=_ms_since(started),
            error=str(exc),
        )
    fetched = EndpointResult(
        endpoint=endpoint.name,
        path=endpoint.path,
        fetched_at=fetched_at,
        duration_ms=_ms_since(started),
        http_status=response.status,
        body=response.body,
        content_type=response.content_type,
    )
    if response.status in endpoint.absent_statuses:
        return fetched  # the gateway has no such device: nothing to read, nothing failed
    if response.status != 200:
        return replace(fetched, error=f"HTTP {response.status} from {endpoint.path}")
    context = ParseContext(fetched_at=fetched_at, meters=state.meters, firmware=state.firmware)
    try:
        records = endpoint.parser(response.body, context)
    except ParseError as exc:
        return replace(fetched, error=str(exc), parse_failed=True)
    return replace(fetched, records=records)


STOPPING = "not asked: the service is stopping"
INTERRUPTED = "interrupted: the service stopped while waiting for its answer"


class PollControl:
    """The bounds of one poll, and what it got so far, shared with a thread that may cut it.

    ``deadline_s``: once spent, no further endpoint is asked (a request under way ends
    by its own deadline). ``stop``: once set, likewise. ``claim``: asked once per poll,
    with the gateway's serial, as soon as it is known (before the first request when the
    gateway was identified already, after /info otherwise); a holder's name back means
    another process polls this gateway: nothing more is asked, and nothing is handed
    over (``elsewhere``). ``cut`` (from another thread) takes the poll as it stands; the
    poll's own thread then hands nothing over.
    """

    def __init__(
        self,
        *,
        deadline_s: float | None = None,
        stop: threading.Event | None = None,
        claim: Callable[[str], str | None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.deadline_s = deadline_s
        self.stop = stop
        self.claim = claim
        self.elsewhere: str | None = None  # the process polling this gateway, if not this one
        self._claimed = False
        self._monotonic = monotonic
        self.started = monotonic()
        self._lock = threading.Lock()
        self._taken = False
        self._state: GatewayState | None = None
        self._clock: Clock = utc_now
        self._started_at: datetime | None = None
        self._todo: list[ep.Endpoint] = []
        self._results: list[EndpointResult] = []
        self.asking: ep.Endpoint | None = None  # the endpoint whose answer is awaited

    def halted(self) -> str | None:
        """Why no further endpoint may be asked, if so."""
        if self.stop is not None and self.stop.is_set():
            return STOPPING
        if self.deadline_s is not None and self._monotonic() - self.started >= self.deadline_s:
            return f"not asked: the poll's deadline of {self.deadline_s:g} s was spent"
        if self._polled_elsewhere():
            return f"not asked: polled by another envoylog process ({self.elsewhere})"
        return None

    def _polled_elsewhere(self) -> bool:
        state = self._state
        if self.claim is None or state is None or state.info is None:
            return False
        if not self._claimed:
            self._claimed = True
            holder = self.claim(state.info.serial)
            with self._lock:
                self.elsewhere = holder
        return self.elsewhere is not None

    def take(self) -> bool:
        """Claim the poll for handing over; False when it was claimed already (cut)."""
        with self._lock:
            taken, self._taken = self._taken, True
            return not taken

    def cut(self) -> PollResult | None:
        """Take the poll as it stands, from another thread: what answered, the endpoint
        awaited (interrupted) and those not asked yet. None when it was handed over
        already, the gateway never identified itself (nothing to store), or another
        process polls it."""
        with self._lock:
            state = self._state
            if self._taken or state is None or state.info is None or self._started_at is None:
                return None
            if self.elsewhere is not None:
                return None
            self._taken = True
            now = self._clock()
            results = list(self._results)
            done = {r.endpoint for r in results}
            for endpoint in self._todo:
                if endpoint.name in done or not plan(state, (endpoint,)):
                    continue
                reason = INTERRUPTED if endpoint is self.asking else STOPPING
                results.append(_skipped(endpoint, now, reason))
            return _result(state, self._started_at, now, results)

    def _begin(
        self, state: GatewayState, todo: list[ep.Endpoint], started_at: datetime, clock: Clock
    ) -> None:
        with self._lock:
            self._state, self._todo, self._started_at, self._clock = state, todo, started_at, clock

    def _asking(self, endpoint: ep.Endpoint | None) -> None:
        with self._lock:
            self.asking = endpoint

    def _answered(self, result: EndpointResult) -> None:
        with self._lock:
            self._results.append(result)
            self.asking = None


def poll_once(
    client: Fetcher,
    state: GatewayState,
    *,
    endpoints: Sequence[ep.Endpoint] | None = None,
    clock: Clock = utc_now,
    control: PollControl | None = None,
) -> PollResult:
    """Poll one gateway once and return everything it gave, errors included.

    ``/info`` is read first when the gateway is not yet identified or when it is
    among ``endpoints``. Raises only when the gateway cannot be identified.
    ``control`` bounds the poll (a deadline, a stop event) and lets another thread cut it.
    """
    control = control or PollControl()
    started_at = clock()
    wanted = list(endpoints) if endpoints is not None else list(ep.ALL)
    # Each endpoint is planned at its turn, so what /info says now (a new firmware) counts.
    todo = [e for e in wanted if e is not ep.INFO]
    if state.info is None or ep.INFO in wanted:
        todo.insert(0, ep.INFO)
    control._begin(state, todo, started_at, clock)
    results: list[EndpointResult] = []
    abort: str | None = None
    for endpoint in todo:
        if endpoint is not ep.INFO and not plan(state, (endpoint,)):
            continue  # ruled out by what this poll learnt so far (firmware, no enabled CT)
        halted = control.halted() if state.info is not None else None
        if abort is not None or halted is not None:
            results.append(_skipped(endpoint, clock(), abort or halted or ""))
            control._answered(results[-1])
            continue
        control._asking(endpoint)
        try:
            result = fetch_endpoint(client, endpoint, state, clock=clock)
        except GatewayTimeout as exc:
            result = _skipped(endpoint, clock(), str(exc))
        except _GATEWAY_WIDE as exc:
            if state.info is None:
                raise
            # The rest would fail the same way (each after its own timeout, when unreachable).
            abort = f"not asked: {endpoint.path} failed ({_kind(exc)})"
            result = _skipped(endpoint, clock(), str(exc))
        results.append(result)
        control._answered(result)
        state.learn(result.records)
        if endpoint is ep.METER_READINGS:
            state.reads_cts = any(isinstance(r, MeterReading) for r in result.records)
        elif endpoint is ep.ENSEMBLE_INVENTORY and result.ok and state.iq_batteries is None:
            # Once batteries were seen, an empty answer (a gateway busy after a restart) does
            # not stop their reading; a firmware change asks again.
            state.iq_batteries = any(isinstance(r, Battery) for r in result.records)
        if result.ok:
            state.last_fetched[endpoint.name] = result.fetched_at
        if state.info is None:
            break
    if state.info is None:
        raise NotAnEnvoy(
            f"{state.host} did not identify itself as an Enphase gateway: {results[-1].error}",
            host=state.host,
        )
    skipped = [r.path for r in results if r.error and r.error.startswith("not asked: the poll's")]
    if skipped:
        log.warning(
            "poll_deadline_spent gateway=%s deadline_s=%g not_asked=%s",
            state.name or state.host,
            control.deadline_s,
            ",".join(skipped),
        )
    return _result(state, started_at, clock(), results)


def no_data_error(poll: PollResult) -> str | None:
    """Why a poll got no data, when none of its endpoints besides /info answered (a refused
    or expired token, a gateway busy restarting): the first error; else None."""
    data = [e for e in poll.endpoints if e.endpoint != ep.INFO.name]
    if poll.status is not PollStatus.FAILED and (not data or any(e.ok for e in data)):
        return None
    return next((e.error for e in data if e.error), None) or "no endpoint answered"


def _result(
    state: GatewayState, started_at: datetime, finished_at: datetime, results: list[EndpointResult]
) -> PollResult:
    assert state.info is not None
    identity = GatewayIdentity(serial=state.info.serial, host=state.host, name=state.name)
    return PollResult(
        gateway=identity, started_at=started_at, finished_at=finished_at, endpoints=tuple(results)
    )


def _skipped(endpoint: ep.Endpoint, at: datetime, reason: str) -> EndpointResult:
    return EndpointResult(endpoint=endpoint.name, path=endpoint.path, fetched_at=at, error=reason)


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
