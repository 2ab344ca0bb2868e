"""One poll of one gateway: plan, fetch, parse, and return a PollResult.

A bad endpoint never loses the rest of the poll: its error is recorded as a gap.
Only when the gateway cannot be identified at all (no ``/info`` ever read) does a
poll raise.
"""

from __future__ import annotations

import logging
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


def _kind(exc: Exception) -> str:
    if isinstance(exc, TokenError):
        return "token refused"
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


def poll_once(
    client: Fetcher,
    state: GatewayState,
    *,
    endpoints: Sequence[ep.Endpoint] | None = None,
    clock: Clock = utc_now,
) -> PollResult:
    """Poll one gateway once and return everything it gave, errors included.

    ``/info`` is read first when the gateway is not yet identified or when it is
    among ``endpoints``. Raises only when the gateway cannot be identified.
    """
    started_at = clock()
    wanted = list(endpoints) if endpoints is not None else list(ep.ALL)
    # Each endpoint is planned at its turn, so what /info says now (a new firmware) counts.
    todo = [e for e in wanted if e is not ep.INFO]
    if state.info is None or ep.INFO in wanted:
        todo.insert(0, ep.INFO)
    results: list[EndpointResult] = []
    abort: str | None = None
    for endpoint in todo:
        if endpoint is not ep.INFO and not plan(state, (endpoint,)):
            continue  # ruled out by what this poll learnt so far (firmware, no enabled CT)
        if abort is not None:
            results.append(_skipped(endpoint, clock(), abort))
            continue
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
    identity = GatewayIdentity(serial=state.info.serial, host=state.host, name=state.name)
    return PollResult(
        gateway=identity,
        started_at=started_at,
        finished_at=clock(),
        endpoints=tuple(results),
    )


def _skipped(endpoint: ep.Endpoint, at: datetime, reason: str) -> EndpointResult:
    return EndpointResult(endpoint=endpoint.name, path=endpoint.path, fetched_at=at, error=reason)


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
