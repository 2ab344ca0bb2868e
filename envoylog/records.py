"""Typed records: what the parsers produce and the store writes.

Every record is a frozen dataclass with units in its field names. Instants are
timezone-aware UTC datetimes: the gateway's own time for the measurement
(meter ``timestamp``, ``eim`` ``readingTime``, inverter ``lastReportDate``,
device_data ``endDate``), or the fetch time when the payload gives none.

A value the gateway did not send is ``None``, never 0.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class Source(enum.StrEnum):
    """Where a whole-system reading comes from (a separate series each, never spliced)."""

    EIM = "eim"  # CT meter data in production.json
    INVERTERS = "inverters"  # sum of microinverter reports in production.json
    API_V1 = "api_v1"  # /api/v1/production
    ACB = "acb"  # old AC battery entry in production.json
    LEGACY_PAGE = "legacy_page"  # the HTML /production page of firmware 3.x (rounded)


class Measurement(enum.StrEnum):
    PRODUCTION = "production"
    TOTAL_CONSUMPTION = "total-consumption"
    NET_CONSUMPTION = "net-consumption"
    STORAGE = "storage"


class ReadingFlag(enum.StrEnum):
    """What to know about a reading before using it (mostly why not to trust it as it stands)."""

    CT_INACTIVE = "ct-inactive"  # eim entry with activeCount 0: values are junk
    OVERWRITTEN_BY_NET = "overwritten-by-net"  # 8.3.5433: total-consumption == net
    ZERO_LIFETIME = "zero-lifetime"  # lifetime 0, as after a restart
    NO_READING_TIME = "no-reading-time"  # payload gave no instant; fetch time used
    IMPLAUSIBLE_COUNTER = "implausible-counter"  # a negative lifetime counter, or beyond 2^53 Wh
    IMPLAUSIBLE_POWER = "implausible-power"  # W, VA or var beyond what any site makes or draws
    CLOCK_SKEW = "clock-skew"  # the gateway's instant was more than a day off; fetch time used
    # Batteries: which endpoint gave the state of charge (QUIRKS 26: they can disagree).
    SOC_FROM_POWER = "soc-from-power"  # /ivp/ensemble/power `soc`
    SOC_FROM_INVENTORY = "soc-from-inventory"  # an inventory's `percentFull`
    IMPLAUSIBLE_SOC = "implausible-soc"  # a state of charge outside 0-100 %


# Readings with any of these flags are never used as counter values (nor their power as a peak).
UNTRUSTED_FLAGS = frozenset(
    {
        ReadingFlag.CT_INACTIVE,
        ReadingFlag.OVERWRITTEN_BY_NET,
        ReadingFlag.ZERO_LIFETIME,
        ReadingFlag.IMPLAUSIBLE_COUNTER,
        ReadingFlag.IMPLAUSIBLE_POWER,
        ReadingFlag.CLOCK_SKEW,
        ReadingFlag.IMPLAUSIBLE_SOC,
    }
)


@dataclass(frozen=True, slots=True)
class GatewayInfo:
    """``/info``: who the gateway is."""

    serial: str
    firmware: str  # without the leading R/D/M letter: "8.2.4345"
    part_number: str | None = None
    metered: bool | None = None  # <imeter>; None when the firmware omits it
    web_tokens: bool | None = None  # <web-tokens>: the gateway wants a JWT
    gateway_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class HomeInfo:
    """``/home``: the gateway's own settings that matter to a logger."""

    timezone: str | None = None  # IANA name, e.g. "US/Eastern"
    software_build_at: datetime | None = None
    primary_interface: str | None = None
    last_cloud_report_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PhaseValues:
    """One phase (line) of a whole-system reading."""

    phase: int  # 1..3
    watts: float | None = None
    wh_lifetime: float | None = None
    va: float | None = None
    var: float | None = None
    power_factor: float | None = None
    voltage_v: float | None = None
    current_a: float | None = None


@dataclass(frozen=True, slots=True)
class SystemReading:
    """A whole-system measurement from production.json, /production or /api/v1/production."""

    source: Source
    measurement: Measurement
    measured_at: datetime
    watts: float | None = None
    wh_lifetime: float | None = None
    active_count: int | None = None
    va: float | None = None
    var: float | None = None
    power_factor: float | None = None
    voltage_v: float | None = None  # per-phase voltage; None when only a sum was given
    current_a: float | None = None
    wh_stored: float | None = None  # batteries only: energy now stored
    state: str | None = None  # batteries only: "idle", "charging", ...
    phases: tuple[PhaseValues, ...] = ()
    flags: tuple[ReadingFlag, ...] = ()


@dataclass(frozen=True, slots=True)
class MeterConfig:
    """One CT meter from ``/ivp/meters``."""

    eid: int
    measurement_type: str  # production / net-consumption / total-consumption / storage
    state: str  # enabled / disabled
    phase_mode: str | None = None  # single / split / three
    phase_count: int | None = None
    metering_status: str | None = None  # normal / not-metering / check-wiring
    status_flags: tuple[str, ...] = ()

    @property
    def enabled(self) -> bool:
        return self.state == "enabled"


@dataclass(frozen=True, slots=True)
class MeterReading:
    """One channel of a CT meter from ``/ivp/meters/readings`` (channel 0 = whole meter)."""

    eid: int
    channel: int
    measured_at: datetime
    watts: float | None = None
    va: float | None = None
    var: float | None = None
    power_factor: float | None = None
    voltage_v: float | None = None  # None on channel 0 of a multi-phase meter (it is a sum)
    current_a: float | None = None
    frequency_hz: float | None = None
    wh_delivered: float | None = None  # cumulative, Wh
    wh_received: float | None = None  # cumulative, Wh
    flags: tuple[ReadingFlag, ...] = ()


class DeviceType(enum.StrEnum):
    PCU = "pcu"  # microinverter (devType 1)
    ACB = "acb"  # old AC battery (devType 11)
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Inverter:
    """A device listed by an inverter endpoint, whether or not it reported now."""

    serial: str
    device_type: DeviceType
    active: bool | None = None  # device_data: False for removed (modGone) devices


@dataclass(frozen=True, slots=True)
class InverterReading:
    """One report of one device: the watts are the average over its report interval."""

    serial: str
    reported_at: datetime
    watts: float | None = None
    max_watts: float | None = None
    interval_s: float | None = None
    wh_interval: float | None = None
    wh_lifetime: float | None = None
    dc_voltage_v: float | None = None
    dc_current_a: float | None = None
    ac_voltage_v: float | None = None
    ac_frequency_hz: float | None = None
    temperature_c: float | None = None
    flags: tuple[ReadingFlag, ...] = ()


class BatteryKind(enum.StrEnum):
    ENCHARGE = "encharge"  # IQ Battery: /ivp/ensemble/*
    ACB = "acb"  # old AC Battery: production.json storage, /inventory.json


@dataclass(frozen=True, slots=True)
class Battery:
    """A battery an endpoint lists: who it is and what it holds when full."""

    serial: str
    kind: BatteryKind
    part_number: str | None = None
    capacity_wh: float | None = None  # encharge_capacity; the AC Battery's bodies give none
    installed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class BatteryReading:
    """One battery at one instant: the device's last report (inventory) or the fetch (power).

    ``watts`` > 0 is discharging, as a storage CT's delivered direction. ``flags`` say
    which endpoint gave the state of charge, and NO_READING_TIME where the instant is
    the fetch time (/ivp/ensemble/power carries none).
    """

    serial: str
    measured_at: datetime
    soc_pct: float | None = None
    watts: float | None = None
    va: float | None = None
    temperature_c: float | None = None
    max_cell_temperature_c: float | None = None
    status: str | None = None  # admin_state_str (IQ Battery) or charge_status (AC Battery)
    communicating: bool | None = None
    operating: bool | None = None
    sleep_enabled: bool | None = None
    dc_switch_off: bool | None = None
    led_status: int | None = None
    flags: tuple[ReadingFlag, ...] = ()


@dataclass(frozen=True, slots=True)
class BatterySystemReading:
    """The gateway's battery aggregates (``/ivp/ensemble/secctrl``) at the fetch time."""

    measured_at: datetime
    soc_pct: float | None = None  # agg_soc: every battery together
    max_capacity_wh: float | None = None  # Max_energy
    available_wh: float | None = None  # ENC_agg_avail_energy
    backup_wh: float | None = None  # ENC_agg_backup_energy
    reserve_pct: float | None = None  # configured_backup_soc
    adjusted_reserve_pct: float | None = None  # adjusted_backup_soc
    soh_pct: float | None = None  # ENC_agg_soh
    encharge_soc_pct: float | None = None  # ENC_agg_soc
    encharge_capacity_wh: float | None = None  # Enc_commissioned_capacity
    acb_soc_pct: float | None = None  # ACB_agg_soc
    acb_wh: float | None = None  # ACB_agg_energy
    flags: tuple[ReadingFlag, ...] = ()


Record = (
    GatewayInfo
    | HomeInfo
    | SystemReading
    | MeterConfig
    | MeterReading
    | Inverter
    | InverterReading
    | Battery
    | BatteryReading
    | BatterySystemReading
)


class PollStatus(enum.StrEnum):
    OK = "ok"
    PARTIAL = "partial"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class EndpointResult:
    """What one endpoint gave in one poll: records, or an explained error (a gap)."""

    endpoint: str  # registry name, e.g. "production_json"
    path: str  # request path, e.g. "/production.json?details=1"
    fetched_at: datetime
    duration_ms: int | None = None
    http_status: int | None = None
    error: str | None = None  # short and redacted
    records: tuple[Record, ...] = ()
    body: bytes | None = None  # raw response body, kept for reparse
    content_type: str | None = None
    parse_failed: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class GatewayIdentity:
    serial: str
    host: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class PollResult:
    """Everything one poll of one gateway produced, ready to be stored in one transaction."""

    gateway: GatewayIdentity
    started_at: datetime
    finished_at: datetime
    endpoints: tuple[EndpointResult, ...] = field(default_factory=tuple)

    @property
    def status(self) -> PollStatus:
        if not self.endpoints or all(not e.ok for e in self.endpoints):
            return PollStatus.FAILED
        if all(e.ok for e in self.endpoints):
            return PollStatus.OK
        return PollStatus.PARTIAL

    def records(self) -> Iterable[Record]:
        for result in self.endpoints:
            yield from result.records


# --- JSON codec (the spool's on-disk format) ---------------------------------
# Hand-written on the stdlib's json on purpose: five cases (dataclass, enum, datetime,
# bytes, sequence) in 40 lines, and the spool's files must stay readable across
# versions. cattrs or msgspec would need the same hooks for bytes, instants and enums
# and would add a dependency to the store path.

_RECORD_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        GatewayInfo,
        HomeInfo,
        PhaseValues,
        SystemReading,
        MeterConfig,
        MeterReading,
        Inverter,
        InverterReading,
        Battery,
        BatteryReading,
        BatterySystemReading,
        EndpointResult,
        GatewayIdentity,
        PollResult,
    )
}
_ENUMS: dict[str, type[enum.StrEnum]] = {
    cls.__name__: cls
    for cls in (Source, Measurement, ReadingFlag, DeviceType, BatteryKind, PollStatus)
}


# Plain values first, and each record type's field names looked up once: a poll spooled
# by an overloaded fleet service is encoded on its poll thread, where asking every number
# whether it is a dataclass took over a quarter of the threads' interpreter time
# (docs/performance.md, section 3e).
_PLAIN = frozenset({str, int, float, bool, type(None)})
_FIELD_NAMES: dict[type, tuple[str, ...] | None] = {}  # None: not a record type


def _encode(value: Any) -> Any:
    kind = type(value)
    if kind in _PLAIN:
        return value
    try:
        names = _FIELD_NAMES[kind]
    except KeyError:
        record = dataclasses.is_dataclass(value) and not isinstance(value, type)
        names = tuple(f.name for f in dataclasses.fields(value)) if record else None
        _FIELD_NAMES[kind] = names
    if names is not None:
        encoded = {"__type__": kind.__name__}
        for name in names:
            encoded[name] = _encode(getattr(value, name))
        return encoded
    if isinstance(value, enum.StrEnum):
        return {"__enum__": type(value).__name__, "value": value.value}
    if isinstance(value, datetime):
        return {"__dt__": value.isoformat()}
    if isinstance(value, bytes):
        return {"__b64__": base64.b64encode(value).decode("ascii")}
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_decode(v) for v in value)
    if not isinstance(value, dict):
        return value
    if "__dt__" in value:
        return datetime.fromisoformat(value["__dt__"])
    if "__b64__" in value:
        return base64.b64decode(value["__b64__"])
    if "__enum__" in value:
        return _ENUMS[value["__enum__"]](value["value"])
    kind = value.get("__type__")
    if kind is None:
        return {k: _decode(v) for k, v in value.items()}
    cls = _RECORD_TYPES[kind]
    return cls(**{k: _decode(v) for k, v in value.items() if k != "__type__"})


def poll_to_json(poll: PollResult) -> str:
    """Serialise a poll losslessly (records, raw bodies, instants) as JSON text."""
    return json.dumps(_encode(poll), separators=(",", ":"))


def poll_from_json(text: str | bytes) -> PollResult:
    """Rebuild a poll serialised by :func:`poll_to_json`."""
    poll = _decode(json.loads(text))
    if not isinstance(poll, PollResult):
        raise ValueError("not a serialised PollResult")
    return poll


def utc_from_epoch(seconds: float | int | None) -> datetime | None:
    """Turn a gateway epoch into an aware UTC datetime; 0 and None mean 'no instant'."""
    if seconds is None or seconds == 0:
        return None
    return datetime.fromtimestamp(seconds, tz=UTC)
