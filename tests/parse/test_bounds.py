"""Values no column can store are refused at the parse boundary, naming the field and value."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import String, Table
from support import refusal

from envoylog import parse
from envoylog.db import models
from envoylog.endpoints import Parser
from envoylog.errors import ParseError
from envoylog.parse import bounds
from envoylog.parse.context import ParseContext
from envoylog.records import MeterConfig

CTX = ParseContext(fetched_at=datetime.fromtimestamp(1_700_000_000, UTC))

# (table, column, the bound the parsers keep it within)
TEXT_COLUMNS = [
    (models.gateways, "serial", bounds.SERIAL_CHARS),
    (models.inverters, "serial", bounds.SERIAL_CHARS),
    (models.gateways, "firmware", bounds.FIRMWARE_CHARS),
    (models.gateways, "part_number", bounds.PART_NUMBER_CHARS),
    (models.gateways, "timezone", bounds.TIMEZONE_CHARS),
    (models.system_readings, "state", bounds.STATE_CHARS),
    (models.meters, "measurement_type", bounds.MEASUREMENT_TYPE_CHARS),
    (models.meters, "state", bounds.METER_STATE_CHARS),
    (models.meters, "phase_mode", bounds.PHASE_MODE_CHARS),
    (models.meters, "metering_status", bounds.METERING_STATUS_CHARS),
    (models.meters, "status_flags", bounds.STATUS_FLAGS_CHARS),
    (models.batteries, "serial", bounds.SERIAL_CHARS),
    (models.batteries, "part_number", bounds.PART_NUMBER_CHARS),
    (models.battery_readings, "status", bounds.BATTERY_STATUS_CHARS),
]


@pytest.mark.parametrize(("table", "column", "bound"), TEXT_COLUMNS, ids=lambda v: str(v))
def test_text_bounds_are_the_widths_of_their_columns(table: Table, column: str, bound: int) -> None:
    kind = table.c[column].type
    assert isinstance(kind, String)
    assert kind.length == bound


def eim(**changes: object) -> bytes:
    entry = {"type": "eim", "measurementType": "production", "readingTime": 1_700_000_000}
    entry |= {"activeCount": 1, "wNow": 5.0, "whLifetime": 10.0, **changes}
    return json.dumps({"production": [entry]}).encode()


def meter(**changes: object) -> bytes:
    config = {"eid": 704643328, "state": "enabled", "measurementType": "production"}
    return json.dumps([{**config, "phaseCount": 1, **changes}]).encode()


def inverter(serial: str) -> bytes:
    report = {"lastReportDate": 1_700_000_000, "lastReportWatts": 5}
    return json.dumps([{"serialNumber": serial, **report}]).encode()


def device(serial: str) -> bytes:
    return json.dumps({"1": {"devName": "pcu", "sn": serial}, "deviceCount": 1}).encode()


LINE = {"wNow": 1.0}
BATTERY = {"type": "acb", "activeCount": 1, "wNow": 0, "whNow": 0}
INFO = "<envoy_info><device><sn>{sn}</sn><software>{software}</software>{pn}</device></envoy_info>"


def info(sn: str = "122446001637", software: str = "D8.2.4345", pn: str = "") -> bytes:
    return INFO.format(sn=sn, software=software, pn=f"<pn>{pn}</pn>" if pn else "").encode()


# (parser, body, what the error must say)
UNSTORABLE = {
    "activeCount beyond 64 bits": (
        parse.parse_production_json,
        eim(activeCount=9223372036854775808),
        "/production.json?details=1: body.production[0].activeCount: 9223372036854775808 is "
        "not a gateway's device count (0 to 2,000)",
    ),
    "activeCount beyond the devices a gateway has": (
        parse.parse_production_json,
        eim(activeCount=2001),
        "activeCount: 2001 is not a gateway's device count",
    ),
    "negative activeCount": (
        parse.parse_production_json,
        eim(activeCount=-1),
        "activeCount: -1 is not",
    ),
    "four phases": (
        parse.parse_production_json,
        eim(lines=[LINE] * 4),
        "body.production[0].lines: 4 phases; a gateway measures at most 3",
    ),
    "eid beyond 64 bits": (
        parse.parse_meters,
        meter(eid=2**64),
        "body[0].eid: 18446744073709551616 is not a 64-bit meter id",
    ),
    "phaseCount beyond 3": (parse.parse_meters, meter(phaseCount=4), "phaseCount: 4 is not"),
    "meter state longer than its column": (
        parse.parse_meters,
        meter(state="e" * 17),
        "body[0].state: 17 characters, more than its column holds (16)",
    ),
    "status flags longer than their column": (
        parse.parse_meters,
        meter(statusFlags=["check-wiring"] * 16),
        "body[0].statusFlags: 207 characters, more than its column holds (200)",
    ),
    "NUL in a meter state": (
        parse.parse_meters,
        meter(state="enabled\x00"),
        "body[0].state: holds a NUL character",
    ),
    "inverter serial longer than its column": (
        parse.parse_api_v1_inverters,
        inverter("1" * 33),
        "body[0].serialNumber: 33 characters",
    ),
    "NUL in a device serial": (
        parse.parse_device_data,
        device("1234\x00"),
        "body['1'].sn: holds a NUL character",
    ),
    "battery state longer than its column": (
        parse.parse_production_json,
        json.dumps({"production": [], "storage": [BATTERY | {"state": "x" * 33}]}).encode(),
        "body.storage[0].state: 33 characters",
    ),
    "timezone longer than its column": (
        parse.parse_home,
        json.dumps({"timezone": "Europe/" + "x" * 60}).encode(),
        "body.timezone: 67 characters",
    ),
    "gateway serial longer than its column": (
        parse.parse_info,
        info(sn="1" * 33),
        "/info: <sn>: 33 characters",
    ),
    "firmware longer than its column": (
        parse.parse_info,
        info(software="D8." + "1" * 63),  # 65 characters without the D
        "<software>: 65 characters",
    ),
    "part number longer than its column": (
        parse.parse_info,
        info(pn="8" * 65),
        "<pn>: 65 characters",
    ),
    "number beyond a double": (
        parse.parse_api_v1_production,
        b'{"wattHoursLifetime": 1' + b"0" * 400 + b', "wattsNow": 5}',
        "/api/v1/production: unreadable JSON (number is infinity",
    ),
}


@pytest.mark.parametrize(("parser", "body", "message"), UNSTORABLE.values(), ids=list(UNSTORABLE))
def test_a_value_no_column_can_store_is_a_parse_error_naming_it(
    parser: Parser, body: bytes, message: str
) -> None:
    assert message in refusal(parser, body, CTX)


def test_values_at_their_bounds_are_read() -> None:
    (config,) = parse.parse_meters(
        meter(eid=bounds.MAX_ID, phaseCount=3, state="e" * 16, statusFlags=["f" * 200]), CTX
    )
    assert isinstance(config, MeterConfig)
    assert (config.eid, config.phase_count) == (2**63 - 1, 3)


def test_a_nul_quoted_from_the_body_leaves_no_nul_in_the_error() -> None:
    message = refusal(parse.parse_home, b'{"error": "bad\\u0000thing"}', CTX)
    assert "\x00" not in message
    assert "bad\ufffdthing" in message


def inverters(count: int) -> bytes:
    report = {"lastReportDate": 1_700_000_000, "lastReportWatts": 5}
    return json.dumps([{"serialNumber": str(i), **report} for i in range(count)]).encode()


def devices(count: int) -> bytes:
    listed = {str(i): {"devName": "pcu", "sn": str(i)} for i in range(count)}
    return json.dumps({**listed, "deviceCount": count}).encode()


@pytest.mark.parametrize(
    ("parser", "body", "message"),
    [
        (
            parse.parse_api_v1_inverters,
            inverters(2001),
            "/api/v1/production/inverters: body: 2,001 entries, more than a gateway has "
            "(at most 2,000 devices)",
        ),
        (
            parse.parse_device_data,
            devices(2001),
            "/ivp/pdm/device_data: body: 2,001 devices, more than a gateway has",
        ),
        (
            parse.parse_meter_readings,
            json.dumps([{"eid": 1, "timestamp": 0}] * 2001).encode(),
            "/ivp/meters/readings: body: 2,001 entries",
        ),
    ],
    ids=["api_v1_inverters", "device_data", "meter_readings"],
)
def test_more_devices_than_a_gateway_has_is_a_parse_error_naming_the_count(
    parser: Parser, body: bytes, message: str
) -> None:
    assert message in refusal(parser, body, CTX)


@pytest.mark.parametrize(
    ("parser", "body"),
    [(parse.parse_api_v1_inverters, inverters(2000)), (parse.parse_device_data, devices(2000))],
    ids=["api_v1_inverters", "device_data"],
)
def test_as_many_devices_as_a_gateway_can_have_are_read(parser: Parser, body: bytes) -> None:
    assert len(parser(body, CTX)) >= 2000


def test_a_body_of_millions_of_values_is_refused_before_it_is_decoded() -> None:
    body = b"[" + b",".join([b"{}"] * (4 * 1024 * 1024 // 3)) + b"]"  # 4 MiB

    message = "up to 2,796,202 JSON values, more than a gateway with at most 2,000 devices sends"
    assert message in refusal(parse.parse_api_v1_inverters, body, CTX)


def test_an_info_page_of_thousands_of_tags_is_refused_before_it_is_read() -> None:
    body = info().replace(b"</device>", b"</device>" + b"<x/>" * 1000)

    with pytest.raises(ParseError, match=r"/info: up to 1,0\d\d XML tags"):
        parse.parse_info(body, CTX)
