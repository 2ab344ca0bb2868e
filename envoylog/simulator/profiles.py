"""The simulated sites, each declared once: one per ``sample_data/`` variant (and one more).

A profile is what stays fixed while a simulated gateway lives: identity, firmware,
wiring, place, array size, its devices and the counters it starts from. The living
simulator (``model.SiteModel``) runs it over time; the sample renderer (``samples``)
shows it at one instant. Both build the gateway and its devices with :func:`site`,
:func:`inverter`, :func:`with_removed` and :func:`battery`, so a device has the same
serial, rating and dates in both. ``customise`` applies the ``--inverters`` /
``--timezone`` overrides; ``fleet_member`` varies a profile into one of many distinct
gateways.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from envoylog.errors import ConfigError
from envoylog.firmware import TOKEN_FIRMWARE, firmware_tuple
from envoylog.simulator.site import (
    AcBattery,
    ConsumptionKind,
    Ct,
    IqBattery,
    Microinverter,
    PhaseMode,
    Site,
)
from envoylog.simulator.sun import noise

MAX_INVERTERS = 500
BatteryKind = Literal["acb", "iq"]


@dataclass(frozen=True, slots=True)
class Profile:
    """A simulated site that does not change while it runs."""

    name: str
    summary: str
    serial: str
    firmware: str
    part_number: str
    timezone: str
    latitude: float
    longitude: float
    metered: bool
    installed: str  # ISO instant of commissioning, with its UTC offset
    software_built: str  # ISO instant the firmware was built
    phase_mode: PhaseMode = "single"
    phase_count: int = 1
    voltage_v: float = 240.0
    frequency_hz: float = 60.0
    cts: bool = False  # production and consumption CTs installed
    consumption_kind: ConsumptionKind = "net-consumption"
    storage_ct: bool = False
    inverters: int = 10
    inverter_prefix: str = "482200"
    inverter_max_watts: int = 295
    inverter_start_wh: float = 200_000.0  # lifetime of each inverter at the start
    removed_inverters: int = 0  # retired, still listed (device_data modGone)
    batteries: int = 0  # how many batteries, of battery_kind
    battery_kind: BatteryKind = "acb"  # old AC Batteries, or IQ Batteries (firmware 7+)
    battery_capacity_wh: int = 1200
    battery_max_watts: int = 270
    battery_part_number: str = "800-00930-r03"
    battery_reserve_pct: float = 0.0  # never discharged below this state of charge
    base_load_w: float = 300.0
    # Whole-site CT lifetimes at the start (Wh): production, import, export, charge, discharge.
    production_start_wh: float = 1_000_000.0
    import_start_wh: float = 2_000_000.0
    export_start_wh: float = 1_500_000.0
    battery_start_wh: float = 400_000.0

    @property
    def version(self) -> tuple[int, ...]:
        return firmware_tuple(self.firmware)

    @property
    def modern(self) -> bool:
        """Firmware 7 or later: HTTPS and a bearer token."""
        return self.version >= TOKEN_FIRMWARE

    @property
    def report_interval_s(self) -> int:
        """Microinverters report every ~5 minutes on 7.x and older, ~15 minutes on 8.x."""
        return 900 if self.version >= (8,) else 300

    @property
    def installed_at(self) -> int:
        return epoch(self.installed)

    @property
    def software_built_at(self) -> int:
        return epoch(self.software_built)

    @property
    def inverter_voltage_v(self) -> float:
        """What the microinverters see: on split phase they sit across both lines."""
        return self.voltage_v * 2 if self.phase_mode == "split" else self.voltage_v


@functools.cache
def epoch(iso: str) -> int:
    """Epoch seconds of an ISO instant written with its UTC offset (a profile has a few,
    asked for by every inverter of every body)."""
    return int(datetime.fromisoformat(iso).timestamp())


def site(
    profile: Profile,
    *,
    instant: int,
    inverters: tuple[Microinverter, ...],
    production_ct: Ct | None = None,
    consumption_ct: Ct | None = None,
    storage_ct: Ct | None = None,
    batteries: tuple[AcBattery, ...] = (),
    iq_batteries: tuple[IqBattery, ...] = (),
    frequency_hz: float | None = None,
    firmware: str | None = None,
) -> Site:
    """The profile's gateway at ``instant`` with these readings (firmware: a changed one)."""
    return Site(
        serial=profile.serial,
        firmware=firmware or profile.firmware,
        part_number=profile.part_number,
        instant=instant,
        timezone=profile.timezone,
        metered=profile.metered,
        phase_mode=profile.phase_mode,
        phase_count=profile.phase_count,
        frequency_hz=profile.frequency_hz if frequency_hz is None else frequency_hz,
        production_ct=production_ct,
        consumption_ct=consumption_ct,
        consumption_kind=profile.consumption_kind,
        storage_ct=storage_ct,
        inverters=inverters,
        batteries=batteries,
        iq_batteries=iq_batteries,
        battery_reserve_pct=profile.battery_reserve_pct,
        commissioned_at=profile.installed_at,
        software_built_at=profile.software_built_at,
    )


def start_wh(profile: Profile, index: int) -> float:
    """Lifetime energy of inverter ``index`` when the site starts (they differ a little)."""
    return profile.inverter_start_wh + (index * 7919) % 40_000


def inverter(
    profile: Profile,
    index: int,
    *,
    watts: int,
    joules_lifetime: int,
    last_report_at: int,
    report_interval_s: int,
    wh_today: int,
    wh_yesterday: int,
    wh_week: int,
    ac_voltage_mv: int,
    dc_voltage_mv: int,
    dc_current_ma: int,
    temperature_c: int,
) -> Microinverter:
    """Microinverter ``index`` of the site (serial, rating, install date) with these readings."""
    return Microinverter(
        serial=f"{profile.inverter_prefix}{100_000 + index * 173:06d}",
        watts=watts,
        max_watts=profile.inverter_max_watts - index % 3,
        joules_lifetime=joules_lifetime,
        last_report_at=last_report_at,
        installed_at=profile.installed_at + index * 60,
        report_interval_s=report_interval_s,
        wh_today=wh_today,
        wh_yesterday=wh_yesterday,
        wh_week=wh_week,
        ac_voltage_mv=ac_voltage_mv,
        ac_frequency_mhz=round(profile.frequency_hz * 1000) + index % 20,
        dc_voltage_mv=dc_voltage_mv,
        dc_current_ma=dc_current_ma,
        temperature_c=temperature_c,
    )


def with_removed(
    profile: Profile, inverters: tuple[Microinverter, ...]
) -> tuple[Microinverter, ...]:
    """The active inverters with the site's removed ones (still listed, modGone) among them."""
    made = list(inverters)
    for k in range(profile.removed_inverters):
        made.insert(
            min(20, len(made)),
            Microinverter(
                serial=f"{profile.inverter_prefix}{99_991 + k:06d}",
                watts=0,
                max_watts=profile.inverter_max_watts,
                joules_lifetime=301_554 * 3600,
                last_report_at=profile.installed_at + 86400 * 300,
                installed_at=profile.installed_at,
                active=False,
            ),
        )
    return tuple(made)


def battery(
    profile: Profile,
    index: int,
    *,
    watts: int,
    wh_now: int,
    last_report_at: int,
    joules_discharged: int,
    joules_charged: int,
) -> AcBattery:
    """AC battery ``index`` of the site (serial, size, rating) with these readings."""
    return AcBattery(
        serial=f"1219{17 + index:02d}{int(profile.serial[-6:]) + index:06d}",
        watts=watts,
        wh_now=wh_now,
        capacity_wh=profile.battery_capacity_wh,
        last_report_at=last_report_at,
        installed_at=profile.installed_at,
        max_watts=profile.battery_max_watts + index,
        joules_discharged=joules_discharged,
        joules_charged=joules_charged,
    )


def iq_battery(
    profile: Profile,
    index: int,
    *,
    watts: float,
    soc_pct: float,
    reported_soc_pct: float,
    last_report_at: int,
    temperature_c: int,
) -> IqBattery:
    """IQ Battery ``index`` of the site (serial, part, size, rating) with these readings."""
    return IqBattery(
        serial=f"4923{int(profile.serial[-8:]) + 131 * index:08d}",
        part_number=profile.battery_part_number,
        capacity_wh=profile.battery_capacity_wh,
        installed_at=profile.installed_at + 61 * index,
        watts=watts,
        soc_pct=soc_pct,
        reported_soc_pct=reported_soc_pct,
        last_report_at=last_report_at,
        temperature_c=temperature_c,
        max_watts=profile.battery_max_watts,
    )


PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile(
            name="legacy-5.0-nonmetered",
            summary="firmware 5.0, HTTP and digest, 24 microinverters, no CTs (California)",
            serial="121547060611",
            firmware="5.0.62",
            part_number="800-00551-r02",
            timezone="America/Los_Angeles",
            latitude=34.05,
            longitude=-118.25,
            metered=False,
            installed="2015-06-01T17:00:00+00:00",
            software_built="2019-02-11T09:00:00+00:00",
            inverters=24,
            inverter_prefix="121547",
            inverter_max_watts=225,
            inverter_start_wh=820_000.0,
            base_load_w=450.0,
        ),
        Profile(
            name="modern-7.6-nonmetered",
            summary="firmware 7.6, HTTPS and token, 13 microinverters, no CTs (Netherlands)",
            serial="122309122531",
            firmware="7.6.175",
            part_number="800-00656-r06",
            timezone="Europe/Amsterdam",
            latitude=52.37,
            longitude=4.90,
            metered=False,
            installed="2018-05-02T08:00:00+00:00",
            software_built="2023-06-22T18:55:00+00:00",
            voltage_v=231.0,
            frequency_hz=50.0,
            inverters=13,
            inverter_prefix="482305",
            inverter_max_watts=330,
            inverter_start_wh=95_000.0,
        ),
        Profile(
            name="metered-split-phase",
            summary="firmware 7.6, split phase, production and net-consumption CTs (New York)",
            serial="122238082764",
            firmware="7.6.185",
            part_number="800-00654-r08",
            timezone="US/Eastern",
            latitude=40.71,
            longitude=-74.01,
            metered=True,
            installed="2019-03-14T15:00:00+00:00",
            software_built="2023-06-22T18:55:00+00:00",
            phase_mode="split",
            phase_count=2,
            voltage_v=120.0,
            cts=True,
            inverters=20,
            inverter_prefix="482243",
            inverter_max_watts=365,
            inverter_start_wh=920_000.0,
            base_load_w=600.0,
            production_start_wh=18_798_933.75,
            import_start_wh=6_100_965.2,
            export_start_wh=7_051_398.1,
        ),
        Profile(
            name="metered-three-phase-device-data",
            summary="firmware 8.2, three phase CTs, /ivp/pdm/device_data, 36 microinverters "
            "and one removed (Germany)",
            serial="122446001638",
            firmware="8.2.4345",
            part_number="800-00654-r08",
            timezone="Europe/Berlin",
            latitude=52.52,
            longitude=13.40,
            metered=True,
            installed="2022-04-16T08:00:00+00:00",
            software_built="2024-08-30T15:14:57+00:00",
            phase_mode="three",
            phase_count=3,
            voltage_v=230.0,
            frequency_hz=50.0,
            cts=True,
            inverters=36,
            inverter_prefix="122344",
            inverter_max_watts=370,
            inverter_start_wh=410_000.0,
            removed_inverters=1,
            base_load_w=700.0,
            production_start_wh=14_731_741.5,
            import_start_wh=7_202_402.9,
            export_start_wh=5_740_557.5,
        ),
        Profile(
            name="metered-no-cts",
            summary="firmware 7.6, metered hardware without CTs installed (Colorado)",
            serial="122238083002",
            firmware="7.6.175",
            part_number="800-00654-r08",
            timezone="America/Denver",
            latitude=39.74,
            longitude=-104.99,
            metered=True,
            installed="2022-07-01T16:00:00+00:00",
            software_built="2023-06-22T18:55:00+00:00",
            phase_mode="split",
            phase_count=2,
            voltage_v=120.0,
            inverters=10,
            inverter_prefix="482250",
            inverter_max_watts=365,
            inverter_start_wh=380_000.0,
        ),
        Profile(
            name="eu-single-phase-storage",
            summary="firmware 8.2, EU single phase, production, net and storage CTs, "
            "two AC batteries (England)",
            serial="122035000123",
            firmware="8.2.4382",
            part_number="800-00554-r03",
            timezone="Europe/London",
            latitude=51.51,
            longitude=-0.13,
            metered=True,
            installed="2020-09-01T09:00:00+00:00",
            software_built="2025-05-12T10:21:00+00:00",
            # EU single phase: the gateway says three-phase mode with one phase in use.
            phase_mode="three",
            phase_count=1,
            voltage_v=241.0,
            frequency_hz=50.0,
            cts=True,
            storage_ct=True,
            inverters=8,
            inverter_prefix="122012",
            inverter_max_watts=295,
            inverter_start_wh=205_000.0,
            batteries=2,
            base_load_w=380.0,
            production_start_wh=1_692_970.7,
            import_start_wh=19_284_368.9,
            export_start_wh=402_194.4,
            battery_start_wh=812_334.5,
        ),
        Profile(
            name="metered-total-consumption",
            summary="firmware 7.6, single phase, production and total-consumption CTs (Australia)",
            serial="122041077756",
            firmware="7.6.175",
            part_number="800-00654-r08",
            timezone="Australia/Sydney",
            latitude=-33.87,
            longitude=151.21,
            metered=True,
            installed="2020-11-20T00:00:00+11:00",
            software_built="2023-06-22T00:00:00+10:00",
            voltage_v=240.0,
            frequency_hz=50.0,
            cts=True,
            consumption_kind="total-consumption",
            inverters=14,
            inverter_prefix="482041",
            inverter_max_watts=290,
            inverter_start_wh=150_000.0,
            production_start_wh=2_250_400.0,
            import_start_wh=3_910_220.0,
            export_start_wh=1_120_330.0,
        ),
        Profile(
            name="iq-battery-storage-ct",
            summary="firmware 8.2, split phase, production, net-consumption and storage CTs, "
            "two IQ Battery 5P (California)",
            serial="122446003310",
            firmware="8.2.4286",
            part_number="800-00656-r06",
            timezone="America/Los_Angeles",
            latitude=37.77,
            longitude=-122.42,
            metered=True,
            installed="2024-08-05T19:55:00+00:00",
            software_built="2024-06-11T08:25:00+00:00",
            phase_mode="split",
            phase_count=2,
            voltage_v=120.0,
            cts=True,
            storage_ct=True,
            inverters=24,
            inverter_prefix="122425",
            inverter_max_watts=349,
            inverter_start_wh=9_000.0,
            batteries=2,
            battery_kind="iq",
            battery_capacity_wh=5000,
            battery_max_watts=3840,
            battery_part_number="836-01826-r76",
            battery_reserve_pct=20.0,
            base_load_w=650.0,
            production_start_wh=1_710_220.0,
            import_start_wh=2_640_115.0,
            export_start_wh=610_330.0,
            battery_start_wh=455_210.0,
        ),
        Profile(
            name="iq-battery-no-storage-ct",
            summary="firmware 7.6, single phase, production and net-consumption CTs, one IQ "
            "Battery 10T without a storage CT (Netherlands)",
            serial="122249097613",
            firmware="7.6.185",
            part_number="800-00654-r08",
            timezone="Europe/Amsterdam",
            latitude=52.09,
            longitude=5.12,
            metered=True,
            installed="2023-09-21T21:05:00+00:00",
            software_built="2023-06-22T18:55:00+00:00",
            voltage_v=230.0,
            frequency_hz=50.0,
            cts=True,
            inverters=16,
            inverter_prefix="482249",
            inverter_max_watts=366,
            inverter_start_wh=41_000.0,
            batteries=1,
            battery_kind="iq",
            battery_capacity_wh=10_080,
            battery_max_watts=3840,
            battery_part_number="830-01760-r37",
            battery_reserve_pct=15.0,
            base_load_w=420.0,
            production_start_wh=2_432_969.9,
            import_start_wh=1_130_402.6,
            export_start_wh=1_412_118.2,
        ),
    )
}


def get_profile(name: str) -> Profile:
    """The profile called ``name``, or a ConfigError listing the ones there are."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigError(
            f"Unknown site profile {name!r}: choose one of {', '.join(PROFILES)}."
        ) from None


def standard_offset_hours(timezone: str) -> float:
    """The zone's standard (winter) UTC offset in hours."""
    zone = ZoneInfo(timezone)
    offsets = []
    for month in (1, 7):
        offset = datetime(2024, month, 1, 12, tzinfo=zone).utcoffset()
        assert offset is not None
        offsets.append(offset.total_seconds() / 3600)
    return min(offsets)


def customise(
    profile: Profile, *, inverters: int | None = None, timezone: str | None = None
) -> Profile:
    """Apply the ``--inverters`` and ``--timezone`` overrides.

    A new timezone moves the site to that zone's standard meridian, so the sun still
    rises in the local morning.
    """
    result = profile
    if inverters is not None:
        if not 1 <= inverters <= MAX_INVERTERS:
            raise ConfigError(
                f"--inverters must be between 1 and {MAX_INVERTERS}, not {inverters}."
            )
        result = dataclasses.replace(result, inverters=inverters)
    if timezone is not None and timezone != profile.timezone:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"Unknown timezone {timezone!r}: give an IANA name such as Europe/Berlin."
            ) from None
        longitude = 15.0 * standard_offset_hours(timezone)
        result = dataclasses.replace(result, timezone=timezone, longitude=longitude)
    return result


def fleet_member(profile: Profile, index: int, seed: int) -> Profile:
    """A distinct gateway derived from ``profile``: its own serial and array size."""
    size = 0.4 + 1.6 * noise(seed, 31, index)
    serial = f"{int(profile.serial[:6]):06d}{(int(profile.serial[6:]) + 7919 * index) % 10**6:06d}"
    return dataclasses.replace(
        profile,
        serial=serial,
        inverters=max(1, round(profile.inverters * size)),
        inverter_prefix=f"{(int(profile.inverter_prefix) + index) % 10**6:06d}",
        base_load_w=profile.base_load_w * (0.6 + 0.8 * noise(seed, 32, index)),
    )
