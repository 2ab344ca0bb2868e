"""Battery payloads: ``/ivp/ensemble/inventory``, ``power``, ``secctrl`` and ``/inventory.json``.

Shaped like the real captures (``8.2.4286_with_3cts_and_battery_split``,
``8.3.5169_ACB_inventory``): a gateway without IQ Batteries answers an empty
inventory, an empty ``"devices:"`` list and aggregates of zero.
"""

from __future__ import annotations

from typing import Any

from envoylog.simulator.site import Site

ENCHARGE_FIRMWARE = "3.0.7545_rel/31.33"
ACB_FIRMWARE = "520-00092-r01-v02.13.02"
PCU_FIRMWARE = "520-00082-r01-v04.30.32"
# The grid-forming settings secctrl reports beside the batteries: not battery figures.
_BIASES: dict[str, Any] = {
    "shutdown": False,
    **{
        f"{name}{phase}": 0.0 if name.endswith(("_hz", "_v")) else 0
        for phase in ("", "_phaseb", "_phasec")
        for name in ("freq_bias_hz", "voltage_bias_v", "freq_bias_hz_q8", "voltage_bias_v_q5")
    },
}


def render_ensemble_inventory(site: Site) -> list[dict[str, Any]]:
    """``/ivp/ensemble/inventory``: each IQ Battery as of its last report; [] without any."""
    if not site.iq_batteries:
        return []
    devices = [
        {
            "part_num": battery.part_number,
            "serial_num": battery.serial,
            "installed": battery.installed_at,
            "device_status": ["envoy.global.ok", "prop.done"],
            "last_rpt_date": battery.last_report_at,
            "admin_state": 6,
            "admin_state_str": "ENCHG_STATE_READY",
            "created_date": battery.installed_at,
            "img_load_date": battery.installed_at,
            "img_pnum_running": ENCHARGE_FIRMWARE,
            "bmu_fw_version": "3.8.63",
            "communicating": True,
            "sleep_enabled": False,
            "percentFull": round(battery.reported_soc_pct),
            "temperature": battery.temperature_c,
            "maxCellTemp": battery.temperature_c + 1,
            "reported_enc_grid_state": "grid-tied",
            "comm_level_sub_ghz": 4,
            "comm_level_2_4_ghz": 4,
            "led_status": 12,
            "dc_switch_off": False,
            "encharge_rev": 3,
            "encharge_capacity": battery.capacity_wh,
            "phase": "ph-a",
            "der_index": 2,
        }
        for battery in site.iq_batteries
    ]
    return [{"type": "ENCHARGE", "devices": devices}]


def render_ensemble_power(site: Site) -> dict[str, Any]:
    """``/ivp/ensemble/power``: power in mW (negative while charging) and state of charge now."""
    devices = [
        {
            "serial_num": battery.serial,
            "real_power_mw": round(battery.watts * 1000),
            "apparent_power_mva": round(battery.watts * 1000),
            "soc": round(battery.soc_pct),
        }
        for battery in site.iq_batteries
    ]
    return {"devices:": devices}  # the colon is the gateway's (QUIRKS 25)


def render_ensemble_secctrl(site: Site) -> dict[str, Any]:
    """``/ivp/ensemble/secctrl``: the aggregates of every battery, IQ and AC."""
    iq_wh = sum(b.capacity_wh for b in site.iq_batteries)
    iq_stored = sum(b.capacity_wh * b.soc_pct / 100 for b in site.iq_batteries)
    acb_wh = sum(b.capacity_wh for b in site.batteries)
    acb_stored = sum(b.wh_now for b in site.batteries)
    reserve = site.battery_reserve_pct if iq_wh else 0

    def pct(stored: float, capacity: float) -> int:
        return round(100 * stored / capacity) if capacity else 0

    return {
        **_BIASES,
        "configured_backup_soc": round(reserve),
        "adjusted_backup_soc": round(reserve),
        "agg_soc": pct(iq_stored + acb_stored, iq_wh + acb_wh),
        "Max_energy": iq_wh + acb_wh,
        "ENC_agg_soc": pct(iq_stored, iq_wh),
        "ENC_agg_soh": 100 if iq_wh else 0,
        "ENC_agg_backup_energy": round(iq_wh * reserve / 100),
        "ENC_agg_avail_energy": round(iq_stored),
        "Enc_commissioned_capacity": iq_wh,
        "Enc_max_available_capacity": iq_wh,
        "ACB_agg_soc": pct(acb_stored, acb_wh),
        "ACB_agg_energy": round(acb_stored),
        "VLS_Limit": 10,
        "soc_rec_enabled": False,
        "soc_recovery_entry": 2,
        "soc_recovery_exit": 10,
    }


def render_inventory(site: Site) -> list[dict[str, Any]]:
    """``/inventory.json``: microinverters (PCU) and AC Batteries, instants as digit strings."""
    pcus = [
        {
            "part_num": "800-00630-r02",
            "installed": str(inverter.installed_at),
            "serial_num": inverter.serial,
            "device_status": ["envoy.global.ok"],
            "last_rpt_date": str(inverter.last_report_at),
            "admin_state": 1,
            "dev_type": 1,
            "created_date": str(inverter.installed_at),
            "img_pnum_running": PCU_FIRMWARE,
            "producing": inverter.watts > 0,
            "communicating": inverter.active,
            "provisioned": inverter.active,
            "operating": inverter.active,
        }
        for inverter in site.inverters
    ]
    acbs = [
        {
            "part_num": "800-00930-r03",
            "installed": str(battery.installed_at),
            "serial_num": battery.serial,
            "device_status": ["envoy.global.ok"],
            "last_rpt_date": str(battery.last_report_at),
            "admin_state": 2,
            "dev_type": 11,
            "created_date": str(battery.installed_at),
            "img_pnum_running": ACB_FIRMWARE,
            "producing": True,
            "communicating": True,
            "provisioned": True,
            "operating": True,
            "sleep_enabled": False,
            "percentFull": round(100 * battery.wh_now / battery.capacity_wh),
            "maxCellTemp": 27,
            "sleep_min_soc": 25,
            "sleep_max_soc": 30,
            "charge_status": (
                "charging" if battery.watts < 0 else "discharging" if battery.watts > 0 else "idle"
            ),
        }
        for battery in site.batteries
    ]
    return [
        {"type": "PCU", "devices": pcus},
        {"type": "ACB", "devices": acbs},
        {"type": "NSRB", "devices": []},
        {"type": "ESUB", "devices": []},
    ]
