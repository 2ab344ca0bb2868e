"""Parsers for batteries: IQ Batteries (``/ivp/ensemble/*``, firmware 7+) and AC Batteries.

A gateway without batteries answers the ensemble endpoints with an empty list, a list
without ``ENCHARGE`` devices or aggregates of zero (QUIRKS 27): that parses into no
records, never into readings of zero. (401 and 404 answers are the poller's to read.)
"""

from __future__ import annotations

from collections.abc import Iterator

from envoylog.parse import bounds
from envoylog.parse.body import Doc, Obj, milli
from envoylog.parse.context import ParseContext
from envoylog.records import (
    Battery,
    BatteryKind,
    BatteryReading,
    BatterySystemReading,
    ReadingFlag,
    Record,
)

ENSEMBLE_INVENTORY_PATH = "/ivp/ensemble/inventory"
ENSEMBLE_POWER_PATH = "/ivp/ensemble/power"
ENSEMBLE_SECCTRL_PATH = "/ivp/ensemble/secctrl"
ACB_INVENTORY_PATH = "/inventory.json?deleted=1"

# secctrl key -> BatterySystemReading field
_AGGREGATES = {
    "agg_soc": "soc_pct",
    "Max_energy": "max_capacity_wh",
    "ENC_agg_avail_energy": "available_wh",
    "ENC_agg_backup_energy": "backup_wh",
    "configured_backup_soc": "reserve_pct",
    "adjusted_backup_soc": "adjusted_reserve_pct",
    "ENC_agg_soh": "soh_pct",
    "ENC_agg_soc": "encharge_soc_pct",
    "Enc_commissioned_capacity": "encharge_capacity_wh",
    "ACB_agg_soc": "acb_soc_pct",
    "ACB_agg_energy": "acb_wh",
}
# Any of these above zero says the gateway has batteries; a reserve alone does not
# (gateways without batteries report a configured reserve too [7.6.175_total]).
_PRESENCE = ("soc_pct", "max_capacity_wh", "encharge_capacity_wh", "acb_soc_pct", "acb_wh")
_PERCENTAGES = ("soc_pct", "encharge_soc_pct", "acb_soc_pct")
_IQ_ONLY = ("available_wh", "backup_wh", "soh_pct", "encharge_soc_pct", "encharge_capacity_wh")
_ACB_ONLY = ("acb_soc_pct", "acb_wh")


def parse_ensemble_inventory(body: bytes, ctx: ParseContext) -> tuple[Record, ...]:
    """Parse /ivp/ensemble/inventory into each IQ Battery and its last report.

    The list holds one entry per kind of device (ENCHARGE, ENPOWER, ...); only ENCHARGE
    devices are batteries. Each reading is at the battery's ``last_rpt_date``, with its
    ``percentFull`` as state of charge (flagged SOC_FROM_INVENTORY).
    """
    records: list[Record] = []
    for device in _devices(Doc(ENSEMBLE_INVENTORY_PATH, body), "ENCHARGE"):
        capacity = device.opt_num("encharge_capacity")
        records.append(_battery(device, BatteryKind.ENCHARGE, capacity))
        records.append(
            _reported(
                device,
                ctx,
                status=device.opt_str("admin_state_str", most=bounds.BATTERY_STATUS_CHARS),
                temperature_c=device.opt_num("temperature"),
                dc_switch_off=device.opt_bool("dc_switch_off"),
                led_status=device.opt_int(
                    "led_status", most=bounds.MAX_SMALL_INT, what="an LED status"
                ),
            )
        )
    return tuple(records)


def parse_ensemble_power(body: bytes, ctx: ParseContext) -> tuple[Record, ...]:
    """Parse /ivp/ensemble/power into each IQ Battery's power and state of charge now.

    Power is in mW, negative while charging: stored in W, positive while discharging.
    The body carries no time, so each reading is at the fetch (NO_READING_TIME).
    """
    doc = Doc(ENSEMBLE_POWER_PATH, body)
    data = doc.json_object()
    # The list's key is "devices:", colon included (QUIRKS 25); a fixed firmware may drop it.
    key = "devices:" if "devices:" in data else "devices"
    if key not in data:
        doc.fail("no 'devices:' list")
    records: list[Record] = []
    for device in data.opt_objects(key):
        serial = device.str_("serial_num", most=bounds.SERIAL_CHARS)
        watts = device.num("real_power_mw") / 1000
        va = milli(device.opt_num("apparent_power_mva"))
        soc, flags = _soc(device, "soc")
        if any(v is not None and abs(v) > bounds.MAX_SITE_WATTS for v in (watts, va)):
            flags.append(ReadingFlag.IMPLAUSIBLE_POWER)
        records.append(Battery(serial, BatteryKind.ENCHARGE))
        records.append(
            BatteryReading(
                serial=serial,
                measured_at=ctx.fetched_at,
                soc_pct=soc,
                watts=watts,
                va=va,
                flags=(ReadingFlag.SOC_FROM_POWER, ReadingFlag.NO_READING_TIME, *flags),
            )
        )
    return tuple(records)


def parse_ensemble_secctrl(body: bytes, ctx: ParseContext) -> tuple[Record, ...]:
    """Parse /ivp/ensemble/secctrl into the gateway's battery aggregates at the fetch time.

    All zeros is a gateway without batteries: no reading. The body's grid biases and
    other settings are not battery figures and are left out.
    """
    doc = Doc(ENSEMBLE_SECCTRL_PATH, body)
    data = doc.json_object()
    values = {field: data.opt_num(key) for key, field in _AGGREGATES.items()}
    if not any(values[field] for field in _PRESENCE):
        return ()
    # Each kind's figures read 0 where the gateway has none of that kind: no figures then.
    iq_wh = values["encharge_capacity_wh"] or 0.0
    if not iq_wh:
        values.update(dict.fromkeys(_IQ_ONLY))
    if (
        not (values["acb_wh"] or values["acb_soc_pct"])
        and (values["max_capacity_wh"] or 0.0) <= iq_wh
    ):
        values.update(dict.fromkeys(_ACB_ONLY))
    flags = [ReadingFlag.NO_READING_TIME]
    low, high = bounds.SOC_RANGE
    if any((v := values[field]) is not None and not low <= v <= high for field in _PERCENTAGES):
        flags.append(ReadingFlag.IMPLAUSIBLE_SOC)
    return (BatterySystemReading(measured_at=ctx.fetched_at, **values, flags=tuple(flags)),)


def parse_acb_inventory(body: bytes, ctx: ParseContext) -> tuple[Record, ...]:
    """Parse /inventory.json into each AC Battery and its last report.

    Only ``ACB`` devices are read: the inverter endpoints already list the
    microinverters. Its instants and dates come as strings of digits.
    """
    records: list[Record] = []
    for device in _devices(Doc(ACB_INVENTORY_PATH, body), "ACB"):
        records.append(_battery(device, BatteryKind.ACB, None, digits_ok=True))
        records.append(
            _reported(
                device,
                ctx,
                status=device.opt_str("charge_status", most=bounds.BATTERY_STATUS_CHARS),
                digits_ok=True,
            )
        )
    return tuple(records)


def _devices(doc: Doc, kind: str) -> Iterator[Obj]:
    """The devices an inventory lists under ``kind`` (its list holds one entry per kind)."""
    for section in doc.as_objs(doc.json(), "body"):
        if section.str_("type") == kind:
            yield from section.opt_objects("devices")


def _battery(
    device: Obj, kind: BatteryKind, capacity_wh: float | None, *, digits_ok: bool = False
) -> Battery:
    if capacity_wh is not None and not 0 <= capacity_wh <= bounds.MAX_BATTERY_WH:
        device.doc.fail(
            f"{device.where}: a capacity of {capacity_wh:,.0f} Wh is no battery's "
            f"(0 to {bounds.MAX_BATTERY_WH:,.0f} Wh)"
        )
    return Battery(
        serial=device.str_("serial_num", most=bounds.SERIAL_CHARS),
        kind=kind,
        part_number=device.opt_str("part_num", most=bounds.PART_NUMBER_CHARS),
        capacity_wh=capacity_wh,
        installed_at=device.epoch("installed", digits_ok=digits_ok),
    )


def _reported(
    device: Obj,
    ctx: ParseContext,
    *,
    status: str | None,
    temperature_c: float | None = None,
    dc_switch_off: bool | None = None,
    led_status: int | None = None,
    digits_ok: bool = False,
) -> BatteryReading:
    """An inventory's reading of one battery, at its last report (a day old is possible)."""
    measured_at, flags = device.flagged_instant(
        "last_rpt_date", ctx.fetched_at, request_time=False, digits_ok=digits_ok
    )
    soc, soc_flags = _soc(device, "percentFull")
    return BatteryReading(
        serial=device.str_("serial_num", most=bounds.SERIAL_CHARS),
        measured_at=measured_at,
        soc_pct=soc,
        temperature_c=temperature_c,
        max_cell_temperature_c=device.opt_num("maxCellTemp"),
        status=status,
        communicating=device.opt_bool("communicating"),
        operating=device.opt_bool("operating"),
        sleep_enabled=device.opt_bool("sleep_enabled"),
        dc_switch_off=dc_switch_off,
        led_status=led_status,
        flags=(ReadingFlag.SOC_FROM_INVENTORY, *flags, *soc_flags),
    )


def _soc(device: Obj, key: str) -> tuple[float | None, list[ReadingFlag]]:
    """A state of charge, flagged when it is no percentage."""
    soc = device.opt_num(key)
    low, high = bounds.SOC_RANGE
    if soc is not None and not low <= soc <= high:
        return soc, [ReadingFlag.IMPLAUSIBLE_SOC]
    return soc, []
