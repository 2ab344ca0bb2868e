"""Battery parsers: IQ Battery inventory, power and aggregates, AC Battery inventory."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from support import refusal

from envoylog import parse
from envoylog.parse.context import ParseContext
from envoylog.records import (
    Battery,
    BatteryKind,
    BatteryReading,
    BatterySystemReading,
    ReadingFlag,
    Record,
)

NOW = datetime(2024, 8, 6, 17, 56, 47, tzinfo=UTC)
CTX = ParseContext(fetched_at=NOW)
REPORTED = int((NOW - timedelta(minutes=3)).timestamp())


def body(value: object) -> bytes:
    return json.dumps(value).encode()


def encharge(**changes: object) -> dict[str, object]:
    device = {
        "part_num": "836-01826-r76",
        "serial_num": "492320000140",
        "installed": 1722887725,
        "last_rpt_date": REPORTED,
        "admin_state_str": "ENCHG_STATE_READY",
        "communicating": True,
        "sleep_enabled": False,
        "percentFull": 39,
        "temperature": 18,
        "maxCellTemp": 19,
        "led_status": 12,
        "dc_switch_off": False,
        "encharge_capacity": 5000,
    }
    return {**device, **changes}


def inventory(*devices: dict[str, object]) -> bytes:
    return body([{"type": "ENCHARGE", "devices": list(devices)}])


def power(*devices: tuple[str, int, float], key: str = "devices:") -> bytes:
    listed = [
        {"serial_num": s, "real_power_mw": mw, "apparent_power_mva": mw, "soc": soc}
        for s, mw, soc in devices
    ]
    return body({key: listed})


def readings(records: tuple[Record, ...]) -> list[BatteryReading]:
    return [r for r in records if isinstance(r, BatteryReading)]


def test_power_in_milliwatts_becomes_watts_positive_while_discharging() -> None:
    records = parse.parse_ensemble_power(power(("a", -1_324_000, 39), ("b", 16_000, 100)), CTX)
    assert [(r.serial, r.watts, r.va) for r in readings(records)] == [
        ("a", -1324.0, -1324.0),
        ("b", 16.0, 16.0),
    ]


def test_power_readings_are_at_the_fetch_with_the_soc_flagged_as_from_power() -> None:
    (reading,) = readings(parse.parse_ensemble_power(power(("a", 0, 54)), CTX))
    assert (reading.measured_at, reading.soc_pct) == (NOW, 54.0)
    assert reading.flags == (ReadingFlag.SOC_FROM_POWER, ReadingFlag.NO_READING_TIME)


def test_power_lists_its_batteries_as_iq_batteries() -> None:
    records = parse.parse_ensemble_power(power(("a", 0, 54)), CTX)
    assert [r for r in records if isinstance(r, Battery)] == [Battery("a", BatteryKind.ENCHARGE)]


def test_power_reads_the_list_under_devices_with_or_without_the_colon() -> None:
    with_colon = parse.parse_ensemble_power(power(("a", 5000, 50)), CTX)
    without = parse.parse_ensemble_power(power(("a", 5000, 50), key="devices"), CTX)
    assert with_colon == without and len(readings(with_colon)) == 1


def test_an_empty_power_list_is_no_battery() -> None:
    assert parse.parse_ensemble_power(power(), CTX) == ()


def test_power_without_a_devices_list_is_refused() -> None:
    message = refusal(parse.parse_ensemble_power, body({"shutdown": False}), CTX)
    assert "/ivp/ensemble/power: no 'devices:' list" in message


def test_inventory_reading_is_at_the_last_report_with_the_soc_flagged_as_from_inventory() -> None:
    (reading,) = readings(parse.parse_ensemble_inventory(inventory(encharge()), CTX))
    assert reading.measured_at == datetime.fromtimestamp(REPORTED, UTC)
    assert (reading.soc_pct, reading.temperature_c, reading.max_cell_temperature_c) == (39, 18, 19)
    assert (reading.status, reading.communicating, reading.led_status) == (
        "ENCHG_STATE_READY",
        True,
        12,
    )
    assert reading.flags == (ReadingFlag.SOC_FROM_INVENTORY,)


def test_inventory_gives_serial_part_number_and_capacity() -> None:
    (battery,) = [
        r
        for r in parse.parse_ensemble_inventory(inventory(encharge()), CTX)
        if isinstance(r, Battery)
    ]
    assert battery == Battery(
        "492320000140",
        BatteryKind.ENCHARGE,
        "836-01826-r76",
        5000.0,
        datetime.fromtimestamp(1722887725, UTC),
    )


def test_inventory_without_encharge_devices_is_no_battery() -> None:
    enpower = {"type": "ENPOWER", "devices": [{"serial_num": "122446012073"}]}
    assert parse.parse_ensemble_inventory(body([enpower]), CTX) == ()
    assert parse.parse_ensemble_inventory(body([]), CTX) == ()


def test_a_last_report_days_ahead_is_the_gateways_clock_fetch_time_flagged() -> None:
    ahead = int((NOW + timedelta(days=400)).timestamp())
    (reading,) = readings(
        parse.parse_ensemble_inventory(inventory(encharge(last_rpt_date=ahead)), CTX)
    )
    assert reading.measured_at == NOW
    assert ReadingFlag.CLOCK_SKEW in reading.flags


@pytest.mark.parametrize("soc", [-1, 100.5, 4000])
def test_a_state_of_charge_outside_0_to_100_is_flagged(soc: float) -> None:
    (reading,) = readings(parse.parse_ensemble_power(power(("a", 0, soc)), CTX))
    assert reading.soc_pct == soc
    assert ReadingFlag.IMPLAUSIBLE_SOC in reading.flags


def test_a_capacity_no_battery_has_is_refused() -> None:
    message = refusal(
        parse.parse_ensemble_inventory, inventory(encharge(encharge_capacity=5e9)), CTX
    )
    assert "body[0].devices[0]: a capacity of 5,000,000,000 Wh is no battery's" in message


def test_a_401_page_is_refused_not_read_as_no_battery() -> None:
    page = b"<html><head><title>401 Authorization Required</title></head></html>"
    assert "401 Authorization Required" in refusal(parse.parse_ensemble_power, page, CTX)


SECCTRL = {
    "shutdown": False,
    "freq_bias_hz": -1.32,
    "configured_backup_soc": 30,
    "adjusted_backup_soc": 30,
    "agg_soc": 92,
    "Max_energy": 9920,
    "ENC_agg_soc": 92,
    "ENC_agg_soh": 100,
    "ENC_agg_backup_energy": 2976,
    "ENC_agg_avail_energy": 9176,
    "Enc_commissioned_capacity": 9920,
    "Enc_max_available_capacity": 9920,
    "ACB_agg_soc": 0,
    "ACB_agg_energy": 0,
}


def test_secctrl_gives_the_aggregates_at_the_fetch() -> None:
    (reading,) = parse.parse_ensemble_secctrl(body(SECCTRL), CTX)
    assert reading == BatterySystemReading(
        measured_at=NOW,
        soc_pct=92,
        max_capacity_wh=9920,
        available_wh=9176,
        backup_wh=2976,
        reserve_pct=30,
        adjusted_reserve_pct=30,
        soh_pct=100,
        encharge_soc_pct=92,
        encharge_capacity_wh=9920,
        flags=(ReadingFlag.NO_READING_TIME,),
    )


def test_secctrl_of_zeros_is_no_battery_even_with_a_reserve_configured() -> None:
    zeros = {k: 0 if isinstance(v, int) else v for k, v in SECCTRL.items()}
    assert parse.parse_ensemble_secctrl(body({**zeros, "configured_backup_soc": 30}), CTX) == ()


def test_secctrl_of_ac_batteries_leaves_the_iq_figures_out() -> None:
    acb = {**{k: 0 for k in SECCTRL if k.lower().startswith("enc")}, "agg_soc": 18}
    acb |= {"Max_energy": 412, "ACB_agg_soc": 18, "ACB_agg_energy": 446}
    (reading,) = parse.parse_ensemble_secctrl(body(acb), CTX)
    assert (reading.soc_pct, reading.acb_soc_pct, reading.acb_wh) == (18, 18, 446)
    assert (reading.soh_pct, reading.available_wh, reading.encharge_capacity_wh) == (None,) * 3


def test_acb_inventory_reads_ac_batteries_with_instants_as_digit_strings() -> None:
    acb = {
        "part_num": "800-00930-r03",
        "installed": "1769471087",
        "serial_num": "122000000001",
        "last_rpt_date": str(REPORTED),
        "percentFull": 18,
        "maxCellTemp": 27,
        "charge_status": "discharging",
        "communicating": True,
    }
    pcu = {"type": "PCU", "devices": [{"serial_num": "122000010001", "part_num": "800-00630-r02"}]}
    records = parse.parse_acb_inventory(body([pcu, {"type": "ACB", "devices": [acb]}]), CTX)
    battery, reading = records
    assert battery == Battery(
        "122000000001",
        BatteryKind.ACB,
        "800-00930-r03",
        None,
        datetime.fromtimestamp(1769471087, UTC),
    )
    assert isinstance(reading, BatteryReading)
    assert (reading.measured_at, reading.soc_pct, reading.status) == (
        datetime.fromtimestamp(REPORTED, UTC),
        18,
        "discharging",
    )
