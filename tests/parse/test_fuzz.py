"""Arbitrary bodies never raise anything but ParseError from any parser."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envoylog import parse
from envoylog.errors import ParseError
from envoylog.parse.context import ParseContext
from envoylog.records import MeterConfig, Record

CTX = ParseContext(
    fetched_at=datetime(2024, 6, 1, tzinfo=UTC),
    meters=(MeterConfig(1, "production", "enabled", phase_count=2),),
)
PARSERS: list[Callable[[bytes, ParseContext], tuple[Record, ...]]] = [
    parse.parse_info,
    parse.parse_home,
    parse.parse_production_json,
    parse.parse_production,
    parse.parse_api_v1_production,
    parse.parse_api_v1_inverters,
    parse.parse_meters,
    parse.parse_meter_readings,
    parse.parse_device_data,
]
KEYS = st.sampled_from(
    [
        "eid",
        "timestamp",
        "type",
        "measurementType",
        "wNow",
        "whLifetime",
        "readingTime",
        "lines",
        "channels",
        "devName",
        "sn",
        "lastReading",
        "endDate",
        "duration",
        "joulesProduced",
        "serialNumber",
        "lastReportDate",
        "lastReportWatts",
        "activePower",
        "actEnergyDlvd",
        "actEnergyRcvd",
        "state",
        "phaseCount",
        "production",
        "consumption",
        "wattHoursLifetime",
        "wattsNow",
        "timezone",
        "network",
        "1",
        "status",
        "error",
    ]
)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=6),
    max_leaves=30,
)


@pytest.mark.parametrize("parser", PARSERS, ids=lambda p: p.__name__)
@settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(value=JSON_VALUES)
def test_arbitrary_json_gives_records_or_parse_error(
    parser: Callable[[bytes, ParseContext], tuple[Record, ...]], value: object
) -> None:
    with contextlib.suppress(ParseError):
        parser(json.dumps(value).encode(), CTX)


@pytest.mark.parametrize("parser", PARSERS, ids=lambda p: p.__name__)
@settings(max_examples=100, deadline=None, database=None)
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes_give_records_or_parse_error(
    parser: Callable[[bytes, ParseContext], tuple[Record, ...]], raw: bytes
) -> None:
    with contextlib.suppress(ParseError):
        parser(raw, CTX)
