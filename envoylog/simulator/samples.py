"""The project's own payload sets (``sample_data/``): each profile's site at one instant.

Who the gateway and its devices are comes from its profile (``profiles.PROFILES``);
here is only what the snapshot shows: its instant, the inverters' readings and the
CTs' figures (whose lifetimes add up to the counters the profile starts from).
Regenerate from the repository root with ``python -m envoylog.simulator.samples``;
the output is byte-identical for the same code.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Mapping, Sequence
from email.utils import formatdate
from pathlib import Path

from envoylog.firmware import TOKEN_FIRMWARE
from envoylog.simulator.payloads import Payload, render_all
from envoylog.simulator.profiles import (
    PROFILES,
    Profile,
    battery,
    epoch,
    inverter,
    iq_battery,
    site,
    start_wh,
    with_removed,
)
from envoylog.simulator.site import Ct, CtPhase, IqBattery, Microinverter, Site

DEFAULT_DESTINATION = Path("sample_data")
GATEWAY_SERVER = "openresty/1.17.8.1"
JOULES_PER_WH = 3600


def _inverters(
    profile: Profile, *, instant: int, watts: int, wrapped: int | None
) -> tuple[Microinverter, ...]:
    """The profile's inverters with varied but deterministic readings around ``watts``."""
    interval_s = profile.report_interval_s
    made = []
    for index in range(profile.inverters):
        power = watts + (index * 13) % 29 - 14
        lifetime_wh = int(start_wh(profile, index))
        if index == wrapped:  # past 2**32 J = 1,193,046.47 Wh: its counter has wrapped once
            lifetime_wh += 1_200_000
        dc_voltage_mv = 31_000 + (index * 211) % 2_000
        made.append(
            inverter(
                profile,
                index,
                watts=power,
                joules_lifetime=lifetime_wh * JOULES_PER_WH + index * 997,
                last_report_at=instant - 20 - (index * 41) % (interval_s - 30),
                report_interval_s=interval_s,
                wh_today=power * 4 + index,
                wh_yesterday=power * 6 + 2 * index,
                wh_week=power * 38 + 5 * index,
                ac_voltage_mv=round(profile.inverter_voltage_v * 1000) + (index * 97) % 1_500,
                dc_voltage_mv=dc_voltage_mv,
                dc_current_ma=round(power * 1.04 * 1_000_000 / dc_voltage_mv),
                temperature_c=30 + index % 12,
            )
        )
    return with_removed(profile, tuple(made))


def _phases(total: float, *first: float) -> tuple[float, ...]:
    """A counter per phase adding up to the profile's ``total``: ``first``, then the rest."""
    return (*first, round(total - sum(first), 2))


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


def _snapshot(
    profile: Profile,
    at: str,
    *,
    watts: int,
    wrapped: int | None = None,
    production_ct: Ct | None = None,
    consumption_ct: Ct | None = None,
    storage_ct: Ct | None = None,
    batteries: Sequence[tuple[int, int]] = (),  # (watts, wh_now) of each AC battery
    iq_batteries: tuple[IqBattery, ...] = (),
) -> Site:
    """The profile's site at the ISO instant ``at``, with these readings."""
    instant = epoch(at)
    return site(
        profile,
        instant=instant,
        inverters=_inverters(profile, instant=instant, watts=watts, wrapped=wrapped),
        production_ct=production_ct,
        consumption_ct=consumption_ct,
        storage_ct=storage_ct,
        batteries=tuple(
            battery(
                profile,
                index,
                watts=battery_watts,
                wh_now=wh_now,
                last_report_at=instant - 140 - 90 * index,
                joules_discharged=(405_000 + 9_000 * index) * JOULES_PER_WH,
                joules_charged=(451_000 + 8_500 * index) * JOULES_PER_WH,
            )
            for index, (battery_watts, wh_now) in enumerate(batteries)
        ),
        iq_batteries=iq_batteries,
    )


def legacy_nonmetered() -> Site:
    return _snapshot(PROFILES["legacy-5.0-nonmetered"], "2021-04-10T18:30:00+00:00", watts=150)


def modern_nonmetered() -> Site:
    profile = PROFILES["modern-7.6-nonmetered"]
    return _snapshot(profile, "2023-08-07T12:58:00+00:00", watts=250, wrapped=4)


def metered_split_phase() -> Site:
    p = PROFILES["metered-split-phase"]
    volts = (120.4, 119.8)
    return _snapshot(
        p,
        "2023-09-03T17:45:00+00:00",
        watts=280,
        production_ct=_ct(
            (2760.4, 2742.9),
            volts,
            _phases(p.production_start_wh, 9_410_231.5),
            (4_210.7, 4_198.2),
            (14_210.1, 14_180.9),
            power_factor=0.99,
        ),
        # A net exporter: its production.json net balance is negative.
        consumption_ct=_ct(
            (-2010.3, -1820.6),
            volts,
            _phases(p.import_start_wh, 3_102_554.3),
            _phases(p.export_start_wh, 3_580_112.7),
            (-6_100.2, -5_900.8),
            power_factor=0.93,
        ),
    )


def metered_three_phase_device_data() -> Site:
    p = PROFILES["metered-three-phase-device-data"]
    volts = (230.1, 231.4, 229.7)
    return _snapshot(
        p,
        "2025-05-30T10:30:00+00:00",
        watts=260,
        wrapped=7,
        production_ct=_ct(
            (3050.2, 3101.7, 2998.4),
            volts,
            _phases(p.production_start_wh, 4_901_220.4, 4_950_118.9),
            (1_310.2, 1_298.5, 1_305.9),
            (9_870.4, 10_020.1, 9_701.3),
        ),
        consumption_ct=_ct(
            (-1200.5, 420.3, -980.1),
            volts,
            _phases(p.import_start_wh, 2_410_330.1, 2_390_118.6),
            _phases(p.export_start_wh, 1_920_884.4, 1_889_217.3),
            (-2_104.7, 1_311.2, -1_890.4),
            power_factor=0.91,
        ),
    )


def metered_no_cts() -> Site:
    return _snapshot(PROFILES["metered-no-cts"], "2023-09-12T19:15:00+00:00", watts=290)


def eu_single_phase_storage() -> Site:
    p = PROFILES["eu-single-phase-storage"]
    volts = (241.2,)
    return _snapshot(
        p,
        "2026-06-20T11:15:00+00:00",
        watts=230,
        production_ct=_ct((1790.5,), volts, (p.production_start_wh,), (3_731.2,), (8_120.6,)),
        consumption_ct=_ct(
            (-1105.3,),
            volts,
            (p.import_start_wh,),
            (p.export_start_wh,),
            (2_310.9,),
            power_factor=0.88,
        ),
        storage_ct=_ct(
            (-489.6,), volts, (p.battery_start_wh,), (901_552.1,), (0.0,), power_factor=0.96
        ),
        batteries=((-250, 610), (-240, 590)),
    )


def iq_battery_no_storage_ct() -> Site:
    p = PROFILES["iq-battery-no-storage-ct"]
    at = "2023-09-26T17:45:00+00:00"
    volts = (231.4,)
    # Evening: the battery discharges into the house; its inventory report, four minutes
    # old, still shows the state of charge before the last few per cent.
    battery = iq_battery(
        p,
        0,
        watts=1_270.0,
        soc_pct=54.0,
        reported_soc_pct=57.0,
        last_report_at=epoch(at) - 243,
        temperature_c=23,
    )
    return _snapshot(
        p,
        at,
        watts=120,
        production_ct=_ct((1905.2,), volts, (p.production_start_wh,), (2_910.4,), (11_304.8,)),
        consumption_ct=_ct(
            (-240.7,),
            volts,
            (p.import_start_wh,),
            (p.export_start_wh,),
            (-3_210.3,),
            power_factor=0.9,
        ),
        iq_batteries=(battery,),
    )


SAMPLES = {
    "legacy-5.0-nonmetered": legacy_nonmetered,
    "modern-7.6-nonmetered": modern_nonmetered,
    "metered-split-phase": metered_split_phase,
    "metered-three-phase-device-data": metered_three_phase_device_data,
    "metered-no-cts": metered_no_cts,
    "eu-single-phase-storage": eu_single_phase_storage,
    "iq-battery-no-storage-ct": iq_battery_no_storage_ct,
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
