"""What a gateway's values can be: what the columns can store, and what can be true.

A value beyond a storage bound cannot be a gateway's reading: the body is corrupt or
hostile, so the whole body is refused (a ParseError: the endpoint's error names the
field and the value, and its raw body is kept for reparse). A value that can be stored
but cannot be true (a plausibility bound) is stored, with its reading flagged.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import TypeVar

from envoylog.records import (
    InverterReading,
    Measurement,
    MeterReading,
    PhaseValues,
    ReadingFlag,
    SystemReading,
)

# --- storage: the text columns each string the parsers keep is written to (db/models.py;
# tests/parse/test_bounds.py keeps the two in step). PostgreSQL refuses a longer value, and
# a NUL character in any text, and with it the whole poll.
SERIAL_CHARS = 32  # gateways.serial, inverters.serial
FIRMWARE_CHARS = 64  # gateways.firmware
PART_NUMBER_CHARS = 64  # gateways.part_number
TIMEZONE_CHARS = 64  # gateways.timezone
STATE_CHARS = 32  # system_readings.state (an AC battery's state)
MEASUREMENT_TYPE_CHARS = 24  # meters.measurement_type
METER_STATE_CHARS = 16  # meters.state
PHASE_MODE_CHARS = 16  # meters.phase_mode
METERING_STATUS_CHARS = 24  # meters.metering_status
STATUS_FLAGS_CHARS = 200  # meters.status_flags: the flags joined by commas
BATTERY_STATUS_CHARS = 32  # battery_readings.status ("ENCHG_STATE_READY", "discharging")

MAX_ID = 2**63 - 1  # a 64-bit integer column (meters.eid)
MAX_PHASES = 3  # phase_readings.phase and meter_readings.channel allow 1-3
MAX_SMALL_INT = 2**15 - 1  # a 16-bit integer column (battery_readings.led_status)

# --- counts: an Envoy manages at most a few hundred devices (Enphase's installation manuals
# size one gateway for a few hundred microinverters, 250 for the Envoy ENV-120; bigger sites
# get more gateways). 2,000 leaves room for batteries, CTs and firmware not seen yet; a count
# beyond it is no gateway's (it also keeps activeCount inside its 32-bit column).
MAX_DEVICES = 2_000
# Decoded JSON costs memory per value: the largest real body holds 57 values per device
# (device_data, 8.3.5167_3rd-pv), so 64 per device bounds what a body may decode into. They
# are counted (over-counted: commas and brackets inside strings count too) before decoding.
MAX_JSON_VALUES = 64 * MAX_DEVICES
# /info is a page of about 30 elements.
MAX_XML_TAGS = 1_000

# --- plausibility: values a column stores but no site can have. The reading is stored,
# flagged, and kept out of energy (records.UNTRUSTED_FLAGS).
# MAX_DEVICES microinverters of at most about 500 W (the largest Enphase models) make at
# most 1 MW, and even a 480 V three-phase 1,200 A service, far beyond the homes and small
# businesses an Envoy's CTs are fitted to, carries about 1 MW. A power beyond that, either
# way, is no reading.
MAX_SITE_WATTS = 1_000_000.0
# Beyond 2^53 a float no longer holds every whole Wh; a megawatt for a century is 8.8e11 Wh.
MAX_COUNTER_WH = 2.0**53
# Lifetime counters that only grow; net-consumption is import - export (QUIRKS 12), and the
# sign of a storage CT's is not known.
NEVER_NEGATIVE = frozenset({Measurement.PRODUCTION, Measurement.TOTAL_CONSUMPTION})


# The largest battery Enphase makes holds about 10 kWh (IQ Battery 10T: 10.08 kWh); a
# capacity beyond 100 kWh, or a negative one, is no battery's (the batteries table holds
# no flags, so such a body is refused).
MAX_BATTERY_WH = 100_000.0
# A state of charge is a percentage: outside 0-100 it is stored, flagged, and left out.
SOC_RANGE = (0.0, 100.0)


# --- time: a gateway instant far from the fetch is the gateway's clock, not its reading
# (QUIRKS 28: after a reset a clock can be days or years off until NTP catches up).
MAX_CLOCK_SKEW = timedelta(days=1)


def clock_skew(at: datetime, fetched_at: datetime, *, request_time: bool) -> timedelta | None:
    """How far a gateway instant is from the fetch, when that is more than its kind allows.

    An instant more than a day after the fetch is always the gateway's clock. So is one more
    than a day before it when the instant is the request time (a meter's `timestamp`, an eim
    entry's `readingTime`: QUIRKS 21). A last report (an inverter's, an AC battery's, the
    production.json inverters entry's) can truly be that old: retired inverters stay listed
    with years-old reports (QUIRKS 23), an AC battery's can be days old (QUIRKS 21).
    """
    off = at - fetched_at
    if off > MAX_CLOCK_SKEW or (request_time and -off > MAX_CLOCK_SKEW):
        return off
    return None


def on_clock(
    at: datetime, fetched_at: datetime, *, request_time: bool
) -> tuple[datetime, tuple[ReadingFlag, ...]]:
    """The instant to store a reading at, and its flags: CLOCK_SKEW when the clock is off.

    Skewed readings are stored, flagged, and kept out of energy (the gateway's clock and
    ours, in one series, could count the same energy twice where they meet). A request
    time is then stored at the fetch (the reading is of now, whatever the clock says); a
    last report keeps its own instant, which is its key (each report is stored once).
    """
    if clock_skew(at, fetched_at, request_time=request_time) is None:
        return at, ()
    return (fetched_at if request_time else at), (ReadingFlag.CLOCK_SKEW,)


_Reading = TypeVar("_Reading", SystemReading, MeterReading, InverterReading)

# The power and counter fields of each kind of reading (a system reading's phases too).
_POWERS: dict[type, tuple[str, ...]] = {
    SystemReading: ("watts", "va", "var"),
    PhaseValues: ("watts", "va", "var"),
    MeterReading: ("watts", "va", "var"),
    InverterReading: ("watts", "max_watts"),
}
_COUNTERS: dict[type, tuple[str, ...]] = {
    SystemReading: ("wh_lifetime", "wh_stored"),
    PhaseValues: ("wh_lifetime",),
    MeterReading: ("wh_delivered", "wh_received"),
    InverterReading: ("wh_lifetime", "wh_interval"),
}


def plausible(reading: _Reading) -> _Reading:
    """The reading, flagged for a counter or a power (its own or a phase's) no site can have."""
    least = 0.0
    if isinstance(reading, SystemReading) and reading.measurement not in NEVER_NEGATIVE:
        least = -MAX_COUNTER_WH
    parts: tuple[object, ...] = (reading, *getattr(reading, "phases", ()))
    counters_ok = powers_ok = True
    for part in parts:
        for name in _COUNTERS[type(part)]:
            wh = getattr(part, name)
            # An AC battery's stored energy (wh_stored) is never negative, whatever its kind.
            low = 0.0 if name == "wh_stored" else least
            counters_ok = counters_ok and (wh is None or low <= wh <= MAX_COUNTER_WH)
        for name in _POWERS[type(part)]:
            watts = getattr(part, name)
            powers_ok = powers_ok and (watts is None or abs(watts) <= MAX_SITE_WATTS)
    if counters_ok and powers_ok:
        return reading
    flags = [*reading.flags]
    if not counters_ok:
        flags.append(ReadingFlag.IMPLAUSIBLE_COUNTER)
    if not powers_ok:
        flags.append(ReadingFlag.IMPLAUSIBLE_POWER)
    return replace(reading, flags=tuple(flags))
