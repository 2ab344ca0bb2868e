"""Every real capture and every sample site, served over a real socket, polled end to end.

No exception may escape; every endpoint yields records or an explained error; a
few exact values per folder (read off the capture files by hand) must come out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from support import CAPTURES, SAMPLE_DATA, capture_folders, poll_folder, sample_folders

from envoylog.endpoints import BY_NAME
from envoylog.records import (
    DeviceType,
    Inverter,
    InverterReading,
    MeterReading,
    PollResult,
    Source,
    SystemReading,
    poll_from_json,
    poll_to_json,
)


@dataclass(frozen=True)
class Expected:
    serial: str
    firmware: str
    pcus: int | None = None  # microinverters listed by the inverter endpoints
    batteries: int = 0  # devType 11 AC batteries listed among them
    api_v1_wh: float | None = None  # /api/v1/production lifetime
    ct: tuple[int, float] | None = None  # (eid, wh_delivered on channel 0)
    failed: frozenset[str] = frozenset()  # endpoints that must fail (lying bodies)


CAPTURE_FACTS: dict[str, Expected] = {
    "3.7.0": Expected("121430030548", "3.7.0", failed=frozenset({"production_json"})),
    "3.17.3": Expected("121430030548", "3.17.3", pcus=41, api_v1_wh=93706280),
    "3.8.10": Expected(
        "121430030548", "3.18.10", pcus=41, api_v1_wh=138475913, failed=frozenset({"meters"})
    ),
    "3.9.36_bad_auth": Expected(
        "121426016034",
        "3.9.36",
        api_v1_wh=14578520,
        failed=frozenset({"api_v1_inverters", "production_json"}),
    ),
    "4.2.27": Expected("121621012167", "4.2.27", api_v1_wh=10279087),
    "4.2.33": Expected("123456789012", "4.2.33", pcus=51, ct=(704643328, 8598256.633)),
    "5.0.49": Expected("121621012167", "5.0.62", pcus=40, api_v1_wh=88742152),
    "7.3.130": Expected("121729017746", "7.3.130", pcus=12, api_v1_wh=3659478),
    "7.3.130_no_consumption": Expected(
        "202305058594", "7.3.130", pcus=15, ct=(704643328, 4545929.53)
    ),
    "7.3.466_metered_disabled_cts": Expected("122238082763", "7.3.466", pcus=7),
    "7.3.466_with_cts_3phase": Expected(
        "123456789012", "7.3.466", pcus=7, ct=(704643328, 3183793.885)
    ),
    "7.3.517": Expected("122027033238", "7.3.517", pcus=22, api_v1_wh=19229325),
    "7.3.517_legacy_savings_mode": Expected("122027033238", "7.3.517", pcus=22, api_v1_wh=19229325),
    "7.6.114_without_cts": Expected("122309122530", "7.6.114", pcus=13, api_v1_wh=1544282),
    "7.6.175": Expected("121729017746", "7.6.175", pcus=13, api_v1_wh=8717473),
    "7.6.175_standard": Expected("122302045041", "7.6.175", pcus=24, api_v1_wh=6139406),
    "7.6.175_total": Expected("122041077756", "7.6.175", pcus=14),
    "7.6.175_with_cts": Expected("122238082763", "7.6.175", pcus=7, ct=(704643328, 3183793.885)),
    "7.6.185_with_cts_and_battery_3t": Expected(
        "122238082690", "7.6.185", pcus=5, ct=(704643328, 2432969.956)
    ),
    "8.1.41": Expected("xxxxxxxxxxxx", "8.1.41", pcus=44, api_v1_wh=1509203),
    "8.2.127_with_3cts_and_battery_split": Expected(
        "123456789012", "8.2.127", pcus=5, ct=(704643840, 2274358.602)
    ),
    "8.2.127_with_generator_running": Expected(
        "123456789012", "8.2.127", pcus=26, ct=(704643328, 15097304.67)
    ),
    "8.2.4286_with_3cts_and_battery_split": Expected(
        "123456789012", "8.2.4286", pcus=35, ct=(704643328, 13431336.968)
    ),
    "8.2.4345_with_device_data": Expected(
        "122446001637", "8.2.4345", pcus=15, api_v1_wh=1243605, ct=(704643328, 1243812.228)
    ),
    "8.2.4382_ACB_2": Expected("123456789013", "8.2.4382", pcus=3, batteries=2),
    "8.3.1598_collar": Expected("123456789012", "8.3.1598", pcus=17, ct=(704643328, 47077.959)),
    "8.3.5167_3rd-pv": Expected("123456789012", "8.3.5167", pcus=12, ct=(704643328, 569122.622)),
    # device_data lists one microinverter (12122012100000) that the inverters list lacks.
    "8.3.5169_ACB_inventory": Expected(
        "122035000000", "8.3.5169", pcus=4, batteries=2, ct=(704643328, 1692970.739)
    ),
}


# The project's own sample sites (see sample_data/README.md).
SAMPLE_FACTS: dict[str, Expected] = {
    "legacy-5.0-nonmetered": Expected("121547060611", "5.0.62", pcus=24, api_v1_wh=20185720),
    "modern-7.6-nonmetered": Expected("122309122531", "7.6.175", pcus=13, api_v1_wh=2692703),
    "metered-split-phase": Expected(
        "122238082764", "7.6.185", pcus=20, ct=(704643328, 18798933.75)
    ),
    "metered-three-phase-device-data": Expected(
        "122446001638", "8.2.4345", pcus=37, ct=(704643328, 14731741.5)
    ),
    "metered-no-cts": Expected("122238083002", "7.6.175", pcus=10),
    "eu-single-phase-storage": Expected(
        "122035000123", "8.2.4382", batteries=2, ct=(704643840, 812334.5)
    ),
    "iq-battery-no-storage-ct": Expected(
        "122249097613", "7.6.185", pcus=16, ct=(704643328, 2432969.9)
    ),
}


def assert_every_endpoint_explained(poll: PollResult) -> None:
    for result in poll.endpoints:
        if result.ok:
            absent = BY_NAME[result.endpoint].absent_statuses  # "no such device here"
            assert result.http_status == 200 or result.http_status in absent, result
        else:
            assert result.error and len(result.error) < 500, result
            assert not result.records, f"{result.endpoint} failed but yielded records"


def test_every_capture_has_expected_facts(captures_dir: Path) -> None:
    folders = {p.name for p in capture_folders()}
    assert folders == set(CAPTURE_FACTS), "a capture folder has no expected facts (or vice versa)"


@pytest.mark.parametrize("name", sorted(CAPTURE_FACTS))
def test_capture_polls_end_to_end(captures_dir: Path, name: str) -> None:
    check_folder(captures_dir / name, CAPTURE_FACTS[name])


def check_folder(folder: Path, expected: Expected) -> None:
    poll, state = poll_folder(folder)
    assert_every_endpoint_explained(poll)
    assert poll_from_json(poll_to_json(poll)) == poll  # spooled whole, every record type

    assert poll.gateway.serial == expected.serial
    assert state.firmware == expected.firmware
    by_name = {r.endpoint: r for r in poll.endpoints}
    for endpoint in expected.failed:
        assert not by_name[endpoint].ok, f"{endpoint} should have failed"
    records = list(poll.records())

    inverters = {r.serial: r for r in records if isinstance(r, Inverter)}
    if expected.pcus is not None:
        pcus = [i for i in inverters.values() if i.device_type is DeviceType.PCU]
        assert len(pcus) == expected.pcus
    acbs = [i for i in inverters.values() if i.device_type is DeviceType.ACB]
    assert len(acbs) == expected.batteries

    if expected.api_v1_wh is not None:
        api = [r for r in records if isinstance(r, SystemReading) and r.source is Source.API_V1]
        assert [r.wh_lifetime for r in api] == [expected.api_v1_wh]

    if expected.ct is not None:
        eid, wh = expected.ct
        whole = [
            r for r in records if isinstance(r, MeterReading) and r.eid == eid and r.channel == 0
        ]
        assert [r.wh_delivered for r in whole] == [pytest.approx(wh)]


def test_legacy_html_production_page_gives_rounded_lifetime(captures_dir: Path) -> None:
    poll, _ = poll_folder(CAPTURES / "3.7.0")
    page = [
        r for r in poll.records() if isinstance(r, SystemReading) and r.source is Source.LEGACY_PAGE
    ]
    assert [(r.watts, r.wh_lifetime) for r in page] == [(6630.0, 133_000_000.0)]


def test_every_sample_site_has_expected_facts() -> None:
    assert {p.name for p in sample_folders()} == set(SAMPLE_FACTS)


@pytest.mark.parametrize("name", sorted(SAMPLE_FACTS))
def test_sample_site_polls_end_to_end(name: str) -> None:
    check_folder(SAMPLE_DATA / name, SAMPLE_FACTS[name])
    poll, _ = poll_folder(SAMPLE_DATA / name)
    assert all(r.ok for r in poll.endpoints), [r.error for r in poll.endpoints if not r.ok]


def test_sample_device_data_gives_inverter_detail() -> None:
    poll, _ = poll_folder(SAMPLE_DATA / "metered-three-phase-device-data")
    detail = [
        r for r in poll.records() if isinstance(r, InverterReading) and r.wh_lifetime is not None
    ]
    assert len({r.serial for r in detail}) == 36
    assert all(r.temperature_c is not None and r.dc_voltage_v for r in detail)
