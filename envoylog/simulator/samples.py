"""The project's own payload sets (``sample_data/``), written by the renderer.

Regenerate from the repository root with ``python -m envoylog.simulator.samples``;
the output is byte-identical for the same code.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from email.utils import formatdate
from pathlib import Path

from envoylog.firmware import TOKEN_FIRMWARE
from envoylog.simulator.payloads import Payload, render_all
from envoylog.simulator.site import AcBattery, Ct, CtPhase, Microinverter, Site

DEFAULT_DESTINATION = Path("sample_data")
GATEWAY_SERVER = "openresty/1.17.8.1"
JOULES_PER_WH = 3600


def _epoch(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp())


def _inverters(
    prefix: str,
    count: int,
    *,
    instant: int,
    installed_at: int,
    interval_s: int,
    watts: int,
    max_watts: int,
    wh_lifetime: int,
    ac_voltage_mv: int,
    ac_frequency_mhz: int,
    wrapped: int | None = None,
) -> list[Microinverter]:
    """Make ``count`` inverters with varied but deterministic values."""
    made = []
    for index in range(count):
        power = watts + (index * 13) % 29 - 14
        lifetime_wh = wh_lifetime + (index * 7919) % 40_000
        if index == wrapped:  # past 2**32 J = 1,193,046.47 Wh: its counter has wrapped once
            lifetime_wh += 1_200_000
        dc_voltage_mv = 31_000 + (index * 211) % 2_000
        made.append(
            Microinverter(
                serial=f"{prefix}{100_000 + index * 173:06d}",
                watts=power,
                max_watts=max_watts - index % 3,
                joules_lifetime=lifetime_wh * JOULES_PER_WH + index * 997,
                last_report_at=instant - 20 - (index * 41) % (interval_s - 30),
                installed_at=installed_at + index * 60,
                report_interval_s=interval_s,
                wh_today=power * 4 + index,
                wh_yesterday=power * 6 + 2 * index,
                wh_week=power * 38 + 5 * index,
                ac_voltage_mv=ac_voltage_mv + (index * 97) % 1_500,
                ac_frequency_mhz=ac_frequency_mhz + index % 20,
                dc_voltage_mv=dc_voltage_mv,
                dc_current_ma=round(power * 1.04 * 1_000_000 / dc_voltage_mv),
                temperature_c=30 + index % 12,
            )
        )
    return made


def _ct(
    watts: Sequence[float],
    volts: Sequence[float],
    delivered: Sequence[float],
    received: Sequence[float],
    today: Sequence[float],
    *,
    power_factor: float = 0.98,
) -> Ct:
    phases = tuple(
        CtPhase(
            watts=w,
            voltage_v=v,
            power_factor=power_factor,
            wh_delivered=dlvd,
            wh_received=rcvd,
            varh_lead=round(rcvd * 0.05, 3),
            varh_lag=round(dlvd * 0.17, 3),
            vah=round((dlvd + rcvd) * 1.08, 3),
            wh_today=day,
            wh_last_seven_days=round(day * 6.4, 3),
        )
        for w, v, dlvd, rcvd, day in zip(watts, volts, delivered, received, today, strict=True)
    )
    return Ct(phases=phases)


def legacy_nonmetered() -> Site:
    instant = _epoch("2021-04-10T18:30:00+00:00")
    return Site(
        serial="121547060611",
        firmware="5.0.62",
        part_number="800-00551-r02",
        instant=instant,
        timezone="America/Los_Angeles",
        metered=False,
        inverters=tuple(
            _inverters(
                "121547",
                24,
                instant=instant,
                installed_at=_epoch("2015-06-01T17:00:00+00:00"),
                interval_s=300,
                watts=150,
                max_watts=225,
                wh_lifetime=820_000,
                ac_voltage_mv=240_000,
                ac_frequency_mhz=60_000,
            )
        ),
        software_built_at=_epoch("2019-02-11T09:00:00+00:00"),
    )


def modern_nonmetered() -> Site:
    instant = _epoch("2023-08-07T12:58:00+00:00")
    return Site(
        serial="122309122531",
        firmware="7.6.175",
        part_number="800-00656-r06",
        instant=instant,
        timezone="Europe/Amsterdam",
        metered=False,
        frequency_hz=50.0,
        inverters=tuple(
            _inverters(
                "482305",
                13,
                instant=instant,
                installed_at=_epoch("2018-05-02T08:00:00+00:00"),
                interval_s=300,
                watts=250,
                max_watts=330,
                wh_lifetime=95_000,
                ac_voltage_mv=231_000,
                ac_frequency_mhz=50_000,
                wrapped=4,
            )
        ),
        software_built_at=_epoch("2023-06-22T18:55:00+00:00"),
    )


def metered_split_phase() -> Site:
    instant = _epoch("2023-09-03T17:45:00+00:00")
    volts = (120.4, 119.8)
    return Site(
        serial="122238082764",
        firmware="7.6.185",
        part_number="800-00654-r08",
        instant=instant,
        timezone="US/Eastern",
        metered=True,
        phase_mode="split",
        phase_count=2,
        production_ct=_ct(
            (2760.4, 2742.9),
            volts,
            (9_410_231.5, 9_388_702.25),
            (4_210.7, 4_198.2),
            (14_210.1, 14_180.9),
            power_factor=0.99,
        ),
        # A net exporter: its production.json net balance is negative.
        consumption_ct=_ct(
            (-2010.3, -1820.6),
            volts,
            (3_102_554.3, 2_998_410.9),
            (3_580_112.7, 3_471_285.4),
            (-6_100.2, -5_900.8),
            power_factor=0.93,
        ),
        inverters=tuple(
            _inverters(
                "482243",
                20,
                instant=instant,
                installed_at=_epoch("2019-03-14T15:00:00+00:00"),
                interval_s=300,
                watts=280,
                max_watts=365,
                wh_lifetime=920_000,
                ac_voltage_mv=240_000,
                ac_frequency_mhz=60_000,
            )
        ),
        commissioned_at=_epoch("2019-03-14T15:00:00+00:00"),
        software_built_at=_epoch("2023-06-22T18:55:00+00:00"),
    )


def metered_three_phase_device_data() -> Site:
    instant = _epoch("2025-05-30T10:30:00+00:00")
    installed_at = _epoch("2022-04-16T08:00:00+00:00")
    inverters = _inverters(
        "122344",
        36,
        instant=instant,
        installed_at=installed_at,
        interval_s=900,
        watts=260,
        max_watts=370,
        wh_lifetime=410_000,
        ac_voltage_mv=230_000,
        ac_frequency_mhz=50_000,
        wrapped=7,
    )
    removed = Microinverter(
        serial="122344099991",
        watts=0,
        max_watts=368,
        joules_lifetime=301_554 * JOULES_PER_WH,
        last_report_at=_epoch("2023-02-11T13:07:41+00:00"),
        installed_at=installed_at,
        active=False,
    )
    volts = (230.1, 231.4, 229.7)
    return Site(
        serial="122446001638",
        firmware="8.2.4345",
        part_number="800-00654-r08",
        instant=instant,
        timezone="Europe/Berlin",
        metered=True,
        phase_mode="three",
        phase_count=3,
        frequency_hz=50.0,
        production_ct=_ct(
            (3050.2, 3101.7, 2998.4),
            volts,
            (4_901_220.4, 4_950_118.9, 4_880_402.2),
            (1_310.2, 1_298.5, 1_305.9),
            (9_870.4, 10_020.1, 9_701.3),
        ),
        consumption_ct=_ct(
            (-1200.5, 420.3, -980.1),
            volts,
            (2_410_330.1, 2_390_118.6, 2_401_954.2),
            (1_920_884.4, 1_889_217.3, 1_930_455.8),
            (-2_104.7, 1_311.2, -1_890.4),
            power_factor=0.91,
        ),
        inverters=(*inverters[:20], removed, *inverters[20:]),
        commissioned_at=installed_at,
        software_built_at=_epoch("2024-08-30T15:14:57+00:00"),
    )


def metered_no_cts() -> Site:
    instant = _epoch("2023-09-12T19:15:00+00:00")
    return Site(
        serial="122238083002",
        firmware="7.6.175",
        part_number="800-00654-r08",
        instant=instant,
        timezone="America/Denver",
        metered=True,
        phase_mode="split",
        phase_count=2,
        inverters=tuple(
            _inverters(
                "482250",
                10,
                instant=instant,
                installed_at=_epoch("2022-07-01T16:00:00+00:00"),
                interval_s=300,
                watts=290,
                max_watts=365,
                wh_lifetime=380_000,
                ac_voltage_mv=240_000,
                ac_frequency_mhz=60_000,
            )
        ),
        software_built_at=_epoch("2023-06-22T18:55:00+00:00"),
    )


def eu_single_phase_storage() -> Site:
    instant = _epoch("2026-06-20T11:15:00+00:00")
    installed_at = _epoch("2020-09-01T09:00:00+00:00")
    volts = (241.2,)
    batteries = tuple(
        AcBattery(
            serial=serial,
            watts=watts,
            wh_now=wh_now,
            capacity_wh=1200,
            last_report_at=instant - 140 - 90 * index,
            installed_at=installed_at,
            max_watts=270 + index,
            joules_discharged=(405_000 + 9_000 * index) * JOULES_PER_WH,
            joules_charged=(451_000 + 8_500 * index) * JOULES_PER_WH,
        )
        for index, (serial, watts, wh_now) in enumerate(
            (("121917000123", -250, 610), ("122047000456", -240, 590))
        )
    )
    return Site(
        serial="122035000123",
        firmware="8.2.4382",
        part_number="800-00554-r03",
        instant=instant,
        timezone="Europe/London",
        metered=True,
        # EU single phase: the gateway says three-phase mode with one phase in use.
        phase_mode="three",
        phase_count=1,
        frequency_hz=50.0,
        production_ct=_ct((1790.5,), volts, (1_692_970.7,), (3_731.2,), (8_120.6,)),
        consumption_ct=_ct(
            (-1105.3,), volts, (19_284_368.9,), (402_194.4,), (2_310.9,), power_factor=0.88
        ),
        storage_ct=_ct((-489.6,), volts, (812_334.5,), (901_552.1,), (0.0,), power_factor=0.96),
        inverters=tuple(
            _inverters(
                "122012",
                8,
                instant=instant,
                installed_at=installed_at,
                interval_s=900,
                watts=230,
                max_watts=295,
                wh_lifetime=205_000,
                ac_voltage_mv=241_000,
                ac_frequency_mhz=50_000,
            )
        ),
        batteries=batteries,
        commissioned_at=installed_at,
        software_built_at=_epoch("2025-05-12T10:21:00+00:00"),
    )


SAMPLES = {
    "legacy-5.0-nonmetered": legacy_nonmetered,
    "modern-7.6-nonmetered": modern_nonmetered,
    "metered-split-phase": metered_split_phase,
    "metered-three-phase-device-data": metered_three_phase_device_data,
    "metered-no-cts": metered_no_cts,
    "eu-single-phase-storage": eu_single_phase_storage,
}


def write_payloads(payloads: Mapping[str, Payload], folder: Path, *, site: Site) -> None:
    """Write bodies, and ``_log.json`` files where status, headers or auth matter."""
    modern = site.version >= TOKEN_FIRMWARE
    folder.mkdir(parents=True, exist_ok=True)
    for name, payload in sorted(payloads.items()):
        (folder / name).write_bytes(payload.body)
        if not (modern or payload.auth or payload.status != 200):
            continue
        headers = {"server": GATEWAY_SERVER} if modern else {}
        headers |= {
            "date": formatdate(site.instant, usegmt=True),
            "content-type": payload.content_type,
            "content-length": str(len(payload.body)),
        }
        meta: dict[str, object] = {"code": payload.status, "headers": headers}
        if payload.auth:
            meta["auth"] = payload.auth
        (folder / f"{name}_log.json").write_text(json.dumps(meta, indent=2) + "\n")


def write_samples(destination: Path) -> list[Path]:
    """(Re)write every sample folder under ``destination``; return the folders."""
    folders = []
    for name, make in SAMPLES.items():
        folder = destination / name
        if folder.exists():
            shutil.rmtree(folder)
        site = make()
        write_payloads(render_all(site), folder, site=site)
        folders.append(folder)
    return folders


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    destination = Path(args[0]) if args else DEFAULT_DESTINATION
    for folder in write_samples(destination):
        sys.stdout.write(f"wrote {folder}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
