"""What a gateway's values can be: what the columns can store, and what can be true.

A value beyond a storage bound cannot be a gateway's reading: the body is corrupt or
hostile, so the whole body is refused (a ParseError: the endpoint's error names the
field and the value, and its raw body is kept for reparse). A value that can be stored
but cannot be true (a plausibility bound) is stored, with its reading flagged.
"""

from __future__ import annotations

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

MAX_ID = 2**63 - 1  # a 64-bit integer column (meters.eid)
MAX_PHASES = 3  # phase_readings.phase and meter_readings.channel allow 1-3

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
