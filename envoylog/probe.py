"""Describe a gateway in a person's terms from one poll of every endpoint."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from envoylog.db.battery import combined_soc
from envoylog.poller import TOKEN_REFUSED, Fetcher, GatewayState, PollControl, poll_once, utc_now
from envoylog.records import (
    Battery,
    BatteryReading,
    BatterySystemReading,
    DeviceType,
    GatewayInfo,
    HomeInfo,
    Inverter,
    Measurement,
    MeterConfig,
    PollResult,
    ReadingFlag,
    Record,
    Source,
    SystemReading,
)


@dataclass(frozen=True, slots=True)
class CtSummary:
    eid: int
    measurement_type: str
    state: str
    phase_mode: str | None
    phase_count: int | None
    metering_status: str | None
    status_flags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EndpointSummary:
    name: str
    path: str
    ok: bool
    records: int
    http_status: int | None
    duration_ms: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class ProbeReport:
    host: str
    serial: str
    part_number: str | None
    firmware: str
    metered: bool | None
    timezone: str | None
    cts: tuple[CtSummary, ...]
    inverter_count: int | None  # listed by an inverter endpoint (None: none answered)
    inverters_active: int | None
    inverter_detail: bool
    batteries: int
    endpoints: tuple[EndpointSummary, ...]
    # Listed but removed (device_data's modGone); None: unknown without per-inverter detail.
    inverters_removed: int | None = None
    cts_unknown: str | None = None  # why the CT meters are unknown, if they are
    batteries_unknown: str | None = None  # why the batteries are unknown, if they are
    battery_soc_pct: float | None = None  # every battery together, None when not told

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def data_endpoints_ok(self) -> int:
        """How many endpoints besides /info answered with something usable."""
        return sum(1 for e in self.endpoints if e.ok and e.name != "info")


def probe(
    client: Fetcher,
    host: str,
    *,
    clock: Callable[..., Any] = utc_now,
    deadline_s: float | None = None,
) -> ProbeReport:
    """Read every endpoint of a gateway once (within ``deadline_s``) and summarise what it
    is and what works."""
    state = GatewayState(host=host)
    poll = poll_once(client, state, clock=clock, control=PollControl(deadline_s=deadline_s))
    return summarise(poll, state)


def summarise(poll: PollResult, state: GatewayState) -> ProbeReport:
    """Turn one poll into a ProbeReport."""
    info = state.info
    assert isinstance(info, GatewayInfo)
    home = state.home if isinstance(state.home, HomeInfo) else None
    inverters: dict[str, Inverter] = {}
    detail = False
    acb_entries = 0
    for result in poll.endpoints:
        for record in result.records:
            if isinstance(record, Inverter):
                known = inverters.get(record.serial)
                if known is None or known.active is None:  # device_data knows removed ones
                    inverters[record.serial] = record
            elif (
                isinstance(record, SystemReading)
                and record.source is Source.ACB
                and record.measurement is Measurement.STORAGE
                and (record.active_count or 0) > 0
            ):
                acb_entries = max(acb_entries, record.active_count or 0)
        if result.endpoint == "device_data" and result.ok and result.records:
            detail = True
    pcus = [i for i in inverters.values() if i.device_type is DeviceType.PCU]
    records = list(poll.records())
    batteries = len(
        {r.serial for r in records if isinstance(r, Battery)}
        | {i.serial for i in inverters.values() if i.device_type is DeviceType.ACB}
    )
    answered = {r.endpoint for r in poll.endpoints if r.ok}
    any_inverter_endpoint = bool(answered & {"api_v1_inverters", "device_data"})
    removed = sum(1 for p in pcus if p.active is False)
    known_removed = any_inverter_endpoint and all(p.active is not None for p in pcus)
    unknown = _unknown_because(poll)
    return ProbeReport(
        host=state.host,
        serial=info.serial,
        part_number=info.part_number,
        firmware=info.firmware,
        metered=info.metered,
        timezone=home.timezone if home else None,
        cts=tuple(_ct(m) for m in state.meters or () if isinstance(m, MeterConfig)),
        inverter_count=len(pcus) if any_inverter_endpoint else None,
        inverters_active=(
            sum(1 for p in pcus if p.active is not False) if any_inverter_endpoint else None
        ),
        inverter_detail=detail,
        inverters_removed=removed if known_removed else None,
        # CTs: from /ivp/meters, unless /info says the gateway has no CT hardware.
        cts_unknown=None if "meters" in answered or info.metered is False else unknown,
        batteries=max(batteries, acb_entries),
        batteries_unknown=(None if answered & BATTERY_TELLERS else unknown),
        battery_soc_pct=_soc(records),
        endpoints=tuple(
            EndpointSummary(
                name=r.endpoint,
                path=r.path,
                ok=r.ok,
                records=len(r.records),
                http_status=r.http_status,
                duration_ms=r.duration_ms,
                error=r.error,
            )
            for r in poll.endpoints
        ),
    )


# The endpoints whose answer tells whether a gateway has batteries (AC Batteries are in
# production.json and the inverter lists; IQ Batteries in the ensemble inventory).
BATTERY_TELLERS = frozenset(
    {"production_json", "api_v1_inverters", "device_data", "ensemble_inventory", "acb_inventory"}
)


def _unknown_because(poll: PollResult) -> str:
    """Why something was not learnt: the token, or the endpoints that did not answer."""
    if any(r.error and TOKEN_REFUSED in r.error for r in poll.endpoints):
        return "unknown (needs a token)"
    return "unknown (the endpoints that tell did not answer)"


def _soc(records: list[Record]) -> float | None:
    """The gateway's own aggregate, else its batteries' power readings, else their inventory."""
    for record in records:
        if isinstance(record, BatterySystemReading) and record.soc_pct is not None:
            return record.soc_pct
    capacity = {
        r.serial: r.capacity_wh for r in records if isinstance(r, Battery) and r.capacity_wh
    }
    readings = [r for r in records if isinstance(r, BatteryReading) and r.soc_pct is not None]
    power = [r for r in readings if ReadingFlag.SOC_FROM_POWER in r.flags]
    found = combined_soc(
        (r.serial, r.measured_at, r.soc_pct, capacity.get(r.serial))
        for r in sorted(power or readings, key=lambda r: r.measured_at)
        if r.soc_pct is not None
    )
    return found[-1][1] if found else None


def _ct(meter: MeterConfig) -> CtSummary:
    return CtSummary(
        eid=meter.eid,
        measurement_type=meter.measurement_type,
        state=meter.state,
        phase_mode=meter.phase_mode,
        phase_count=meter.phase_count,
        metering_status=meter.metering_status,
        status_flags=meter.status_flags,
    )


def render_text(report: ProbeReport) -> str:
    """Format a ProbeReport for a person."""
    metered = {True: "yes", False: "no", None: "unknown (firmware does not say)"}[report.metered]
    lines = [
        f"Gateway       {report.host}",
        f"Serial        {report.serial}",
        f"Part number   {report.part_number or 'unknown'}",
        f"Firmware      {report.firmware}",
        f"Metered       {metered}",
        f"Timezone      {report.timezone or 'unknown (no /home)'}",
    ]
    if report.cts_unknown:
        lines.append(f"CT meters     {report.cts_unknown}")
    elif report.cts:
        lines.append("CT meters")
        for ct in report.cts:
            phases = f"{ct.phase_count} of {ct.phase_mode}" if ct.phase_count else "?"
            flags = f", flags {','.join(ct.status_flags)}" if ct.status_flags else ""
            lines.append(
                f"  {ct.measurement_type:<18} {ct.state:<9} phases {phases}, "
                f"{ct.metering_status or 'status unknown'}{flags}"
            )
    else:
        lines.append("CT meters     none")
    if report.inverter_count is None:
        lines.append("Inverters     unknown (no inverter endpoint answered)")
    elif report.inverters_removed is None:
        lines.append(
            f"Inverters     {report.inverter_count} listed (no per-inverter detail: removed "
            "ones cannot be told apart)"
        )
    else:
        removed = f", {report.inverters_removed} removed" if report.inverters_removed else ""
        detail = "with per-inverter detail" if report.inverter_detail else "no per-inverter detail"
        lines.append(f"Inverters     {report.inverters_active} active{removed} ({detail})")
    soc = (
        ""
        if report.battery_soc_pct is None
        else f", state of charge {report.battery_soc_pct:.0f} %"
    )
    lines.append(f"Batteries     {report.batteries_unknown or report.batteries or 'none'}{soc}")
    lines.append("Endpoints")
    for e in report.endpoints:
        if e.ok:
            timing = f" in {e.duration_ms} ms" if e.duration_ms is not None else ""
            noun = "record" if e.records == 1 else "records"
            lines.append(f"  ok      {e.path:<30} {e.records} {noun}{timing}")
        else:
            lines.append(f"  failed  {e.path:<30} {e.error}")
    return "\n".join(lines)
