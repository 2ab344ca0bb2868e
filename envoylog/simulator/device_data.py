"""``/ivp/pdm/device_data`` (firmware >= 8.2): per-device detail in milli-units and joules."""

from __future__ import annotations

from typing import Any

from envoylog.simulator.meters import (
    CHANNEL_EID_BASE,
    EID_STEP,
    METER_CHANNELS,
    METER_EID_BASE,
    METER_SLOTS,
    Channel,
    ct_channels,
)
from envoylog.simulator.site import AcBattery, Microinverter, Site

DEVICE_DATA_LIMIT = 50
PCU_EID_BASE = 553648384
PCU_CHANNEL_EID_BASE = 1627390225
ACB_EID_BASE = 721420544
ACB_CHANNEL_EID_BASE = 1795162385
CT_INTERVAL_S = 900
NO_FLAGS = "0x0000000000000000"


def _empty_channel(chan_eid: int) -> dict[str, Any]:
    return {
        "chanEid": chan_eid,
        "created": 0,
        "wattHours": {"today": 0, "yesterday": 0, "week": 0},
        "watts": {"now": 0, "nowUsed": 0, "max": 0},
        "lastReading": {},
        "lifetime": {},
    }


def _pcu(inverter: Microinverter, index: int) -> dict[str, Any]:
    chan_eid = PCU_CHANNEL_EID_BASE + EID_STEP * index
    entry: dict[str, Any] = {
        "devName": "pcu",
        "sn": inverter.serial,
        "active": inverter.active,
        "modGone": not inverter.active,
    }
    if not inverter.active:
        entry["channels"] = [_empty_channel(chan_eid)]
        return entry
    end = inverter.last_report_at
    ac_current_ma = round(inverter.watts * 1_000_000 / inverter.ac_voltage_mv)
    entry["channels"] = [
        {
            "chanEid": chan_eid,
            "created": end,
            "wattHours": {
                "today": inverter.wh_today,
                "yesterday": inverter.wh_yesterday,
                "week": inverter.wh_week,
            },
            "watts": {"now": inverter.watts, "nowUsed": 0, "max": inverter.max_watts},
            "lastReading": {
                "eid": chan_eid,
                "interval_type": 0,
                "endDate": end,
                "duration": inverter.report_interval_s,
                "flags": 0,
                "flags_hex": NO_FLAGS,
                "joulesProduced": inverter.watts * inverter.report_interval_s,
                "acVoltageINmV": inverter.ac_voltage_mv,
                "acFrequencyINmHz": inverter.ac_frequency_mhz,
                "dcVoltageINmV": inverter.dc_voltage_mv,
                "dcCurrentINmA": inverter.dc_current_ma,
                "channelTemp": inverter.temperature_c,
                "pwrConvErrSecs": 0,
                "pwrConvMaxErrCycles": 0,
                "joulesUsed": 0,
                "leadingVArs": 0,
                "laggingVArs": 38,
                "acCurrentInmA": ac_current_ma,
                "l1NAcVoltageInmV": 0,
                "l2NAcVoltageInmV": 0,
                "l3NAcVoltageInmV": 0,
                "rssi": 110,
                "issi": 70,
            },
            "lifetime": {
                "createdTime": inverter.installed_at,
                "duration": end - inverter.installed_at,
                # The raw 32-bit counter: it has wrapped once lifetime passed 2**32 J.
                "joulesProduced": inverter.joules_counter,
            },
        }
    ]
    return entry


def _ct_channel(site: Site, chan_eid: int, channel: Channel) -> dict[str, Any]:
    end = site.instant - site.instant % CT_INTERVAL_S
    cumulative = {
        "wh_dlvd_cum": int(channel.wh_delivered),
        "varh_lead_cum": int(channel.varh_lead),
        "varh_lag_cum": int(channel.varh_lag),
        "vah_cum": int(channel.vah),
    }
    return {
        "chanEid": chan_eid,
        "created": end,
        "wattHours": {
            "today": int(channel.wh_today),
            "yesterday": 0,
            "week": int(channel.wh_last_seven_days),
        },
        "watts": {"now": round(channel.watts), "nowUsed": 0, "max": round(abs(channel.watts))},
        "lastReading": {
            "eid": chan_eid,
            "interval_type": 0,
            "endDate": end,
            "duration": CT_INTERVAL_S,
            "curr_w": round(channel.watts),
            **cumulative,
            "rms_mvolt": round(channel.voltage_v * 1000),
            "rms_mamp": round(channel.current_a * 1000),
            "freq_mhz": round(site.frequency_hz * 1000),
            "wh_pos": int(channel.wh_delivered),
            "wh_neg": int(channel.wh_received),
        },
        "lifetime": {
            "createdTime": site.commissioned_at,
            "duration": end - site.commissioned_at,
            **cumulative,
        },
    }


def _eims(site: Site) -> dict[str, dict[str, Any]]:
    devices = {}
    for measurement, ct in site.cts():
        slot = METER_SLOTS[measurement]
        used = ct_channels(site, ct, measurement)
        channels = []
        for index in range(METER_CHANNELS):
            chan_eid = CHANNEL_EID_BASE + EID_STEP * slot + index
            if index < len(used):
                channels.append(_ct_channel(site, chan_eid, used[index]))
            else:
                channels.append(_empty_channel(chan_eid))
        devices[str(METER_EID_BASE + EID_STEP * slot)] = {
            "devName": "eim",
            "sn": f"{site.serial}EIM{slot + 1}",
            # Real gateways flag their own CT meters modGone while they work.
            "active": True,
            "modGone": True,
            "channels": channels,
        }
    return devices


def _acb(site: Site, battery: AcBattery, index: int) -> dict[str, Any]:
    chan_eid = ACB_CHANNEL_EID_BASE + EID_STEP * index
    end = battery.last_report_at
    percent = round(100 * battery.wh_now / battery.capacity_wh)
    return {
        "devName": "acb",
        "sn": battery.serial,
        "active": True,
        "modGone": False,
        "channels": [
            {
                "chanEid": chan_eid,
                "created": end,
                "wattHours": {"today": 0, "yesterday": 0, "week": 0},
                "watts": {"now": battery.watts, "nowUsed": 0, "max": battery.max_watts},
                "lastReading": {
                    "eid": chan_eid,
                    "interval_type": 0,
                    "endDate": end,
                    "duration": CT_INTERVAL_S,
                    "flags": 0,
                    "flags_hex": NO_FLAGS,
                    "joulesProduced": max(battery.watts, 0) * CT_INTERVAL_S,
                    "acVoltageINmV": 240_000,
                    "acFrequencyINmHz": round(site.frequency_hz * 1000),
                    "dcVoltageINmV": 22_540,
                    "dcCurrentINmA": round(abs(battery.watts) * 1_000_000 / 22_540),
                    "channelTemp": 31,
                    "pwrConvErrSecs": 0,
                    "pwrConvMaxErrCycles": 0,
                    "joulesUsed": max(-battery.watts, 0) * CT_INTERVAL_S,
                    "leadingVArs": 0,
                    "laggingVArs": 0,
                    "SOC": percent,
                    "SOH": 95,
                    "minCellTemp": 30,
                    "maxCellTemp": 32,
                    "totVoltage": 22_400,
                },
                "lifetime": {
                    "createdTime": battery.installed_at,
                    "duration": end - battery.installed_at,
                    "joulesProduced": battery.joules_discharged,
                    "joulesUsed": battery.joules_charged,
                },
            }
        ],
    }


def render_device_data(site: Site) -> dict[str, Any]:
    """``/ivp/pdm/device_data``: inverters, CT meters and batteries, at most 50 devices."""
    devices: dict[str, dict[str, Any]] = {}
    for index, inverter in enumerate(site.inverters):
        devices[str(PCU_EID_BASE + EID_STEP * index)] = _pcu(inverter, index)
    devices |= _eims(site)
    for index, battery in enumerate(site.batteries):
        devices[str(ACB_EID_BASE + EID_STEP * index)] = _acb(site, battery, index)
    listed = dict(list(devices.items())[:DEVICE_DATA_LIMIT])
    return {**listed, "deviceCount": len(listed), "deviceDataLimit": DEVICE_DATA_LIMIT}
