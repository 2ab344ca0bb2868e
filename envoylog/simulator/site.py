"""The state of a simulated site: what the payload renderer turns into gateway bodies.

Everything is a frozen dataclass, so a site is a value: a later simulator over
time produces a new ``Site`` per instant and renders it. Counters are the true,
ever-growing physical values; the renderer applies the gateway's quirks (32-bit
joule wraps, signed net balances, summed voltages) on the way out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PhaseMode = Literal["single", "split", "three"]
ConsumptionKind = Literal["net-consumption", "total-consumption"]

JOULE_COUNTER_MODULUS = 2**32  # microinverter lifetime counters are 32-bit joules


@dataclass(frozen=True, slots=True)
class CtPhase:
    """One phase of one CT: present power and the CT's own cumulative counters.

    Direction follows the CT: for a production CT ``wh_delivered`` is PV output and
    ``wh_received`` the night draw; for a net-consumption CT they are grid import
    and export; for a storage CT battery discharge and charge.
    """

    watts: float
    voltage_v: float
    power_factor: float = 1.0  # magnitude, 0 < pf <= 1
    lagging: bool = True  # sign of the reactive power
    wh_delivered: float = 0.0
    wh_received: float = 0.0
    varh_lead: float = 0.0
    varh_lag: float = 0.0
    vah: float = 0.0
    # The gateway's own daily figures (signed balance for a net CT); never trustworthy.
    wh_today: float = 0.0
    wh_last_seven_days: float = 0.0


@dataclass(frozen=True, slots=True)
class Ct:
    """An installed CT; ``phases`` holds one entry per used phase."""

    phases: tuple[CtPhase, ...]
    metering_status: str = "normal"
    status_flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Microinverter:
    serial: str
    watts: int  # average over the last report interval (lastReportWatts)
    max_watts: int
    joules_lifetime: int  # true lifetime energy; the device's counter wraps at 2**32
    last_report_at: int  # epoch seconds
    installed_at: int  # epoch seconds
    report_interval_s: int = 900
    wh_today: int = 0
    wh_yesterday: int = 0
    wh_week: int = 0
    ac_voltage_mv: int = 240_000
    ac_frequency_mhz: int = 60_000
    dc_voltage_mv: int = 32_000
    dc_current_ma: int = 0
    temperature_c: int = 25
    active: bool = True  # False: removed from the site (device_data modGone)

    @property
    def joules_counter(self) -> int:
        """The raw 32-bit counter as the inverter reports it."""
        return self.joules_lifetime % JOULE_COUNTER_MODULUS


@dataclass(frozen=True, slots=True)
class AcBattery:
    """An old AC battery (ACB, devType 11): ``watts`` < 0 while charging."""

    serial: str
    watts: int
    wh_now: int
    capacity_wh: int
    last_report_at: int
    installed_at: int
    max_watts: int = 270
    joules_discharged: int = 0
    joules_charged: int = 0


@dataclass(frozen=True, slots=True)
class IqBattery:
    """An IQ Battery (Encharge): ``watts`` > 0 while discharging, as the gateway's power."""

    serial: str
    part_number: str
    capacity_wh: int
    installed_at: int
    watts: float  # now
    soc_pct: float  # now (/ivp/ensemble/power)
    reported_soc_pct: float  # at its last report (/ivp/ensemble/inventory percentFull)
    last_report_at: int
    temperature_c: int = 20
    max_watts: int = 3840


@dataclass(frozen=True, slots=True)
class Site:
    """A gateway and everything behind it, at one instant."""

    serial: str
    firmware: str  # without the leading letter: "8.2.4345"
    part_number: str
    instant: int  # epoch seconds the payloads describe
    timezone: str  # IANA name
    metered: bool  # <imeter>: CT-capable hardware
    phase_mode: PhaseMode = "single"
    phase_count: int = 1
    frequency_hz: float = 60.0
    production_ct: Ct | None = None
    consumption_ct: Ct | None = None
    consumption_kind: ConsumptionKind = "net-consumption"
    storage_ct: Ct | None = None
    inverters: tuple[Microinverter, ...] = ()
    batteries: tuple[AcBattery, ...] = ()
    iq_batteries: tuple[IqBattery, ...] = ()
    battery_reserve_pct: float = 0.0  # the backup reserve the gateway is configured with
    commissioned_at: int = 0  # epoch seconds; start of the CTs' lifetime counters
    software_built_at: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.phase_count <= 3:
            raise ValueError(f"phase_count must be 1..3, not {self.phase_count}")
        for name, ct in self.cts():
            if len(ct.phases) != self.phase_count:
                raise ValueError(
                    f"{name} CT has {len(ct.phases)} phases, the site {self.phase_count}"
                )
            if not self.metered:
                raise ValueError(f"{name} CT on a non-metered gateway")
        if self.consumption_ct is not None and self.production_ct is None:
            raise ValueError("a consumption CT needs a production CT in this simulator")

    @property
    def version(self) -> tuple[int, ...]:
        return tuple(int(part) for part in self.firmware.split("."))

    def cts(self) -> tuple[tuple[str, Ct], ...]:
        """The installed CTs as (measurementType, CT), in the gateway's meter order."""
        listed = (
            ("production", self.production_ct),
            (self.consumption_kind, self.consumption_ct),
            ("storage", self.storage_ct),
        )
        return tuple((name, ct) for name, ct in listed if ct is not None)
