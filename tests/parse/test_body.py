"""QUIRKS fact 5: status codes and content types lie; every body is decoded and shape-checked."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from envoylog import parse
from envoylog.errors import ParseError
from envoylog.parse.body import EXCERPT_CHARS, excerpt
from envoylog.parse.context import ParseContext
from envoylog.records import Record

CTX = ParseContext(fetched_at=datetime(2024, 6, 1, 12, 0, tzinfo=UTC))
Parser = Callable[[bytes, ParseContext], tuple[Record, ...]]

JSON_PARSERS: dict[str, Parser] = {
    "home": parse.parse_home,
    "production_json": parse.parse_production_json,
    "production": parse.parse_production,
    "api_v1_production": parse.parse_api_v1_production,
    "api_v1_inverters": parse.parse_api_v1_inverters,
    "meters": parse.parse_meters,
    "meter_readings": parse.parse_meter_readings,
    "device_data": parse.parse_device_data,
}
ALL_PARSERS: dict[str, Parser] = {"info": parse.parse_info, **JSON_PARSERS}

HTML_404 = b"""<!DOCTYPE html PUBLIC "-//IETF//DTD HTML 2.0//EN">
<html><head><title>Page Not Found</title></head><body><h2>Page Not Found</h2></body></html>"""
HTML_401 = b"""<html><head><title>401 Authorization Required</title></head>
<body><center><h1>401 Authorization Required</h1></center></body></html>"""
LYING_BODIES = {
    "html_page_with_200": HTML_404,
    "html_401_page": HTML_401,
    "error_404_object": b'{"error": "404 - Not Found"}',
    "plain_error_401": b"Error: 401",
    "status_401_object": b'{"status": 401, "error": "", "info": "Authentication required"}',
    "empty_body": b"",
    "whitespace_body": b" \n\t ",
    "truncated_json": b'{"production": [{"type": "inverters", "wNow": 12',
    "binary_garbage": b"\x00\xff\xfe\x80garbage",
    "json_number": b"42",
    "json_string": b'"ok"',
    "json_null": b"null",
}


@pytest.mark.parametrize("kind", sorted(LYING_BODIES))
@pytest.mark.parametrize("name", sorted(ALL_PARSERS))
def test_lying_body_raises_parse_error(name: str, kind: str) -> None:
    with pytest.raises(ParseError):
        ALL_PARSERS[name](LYING_BODIES[kind], CTX)


@pytest.mark.parametrize("name", sorted(ALL_PARSERS))
def test_parse_error_names_the_endpoint(name: str) -> None:
    with pytest.raises(ParseError) as caught:
        ALL_PARSERS[name](b'{"error": "404 - Not Found"}', CTX)
    assert caught.value.endpoint.startswith("/")
    assert str(caught.value).startswith(caught.value.endpoint)


def test_html_page_problem_quotes_its_title() -> None:
    with pytest.raises(ParseError, match="Page Not Found"):
        parse.parse_production_json(HTML_404, CTX)


def test_plain_error_body_is_reported_as_such() -> None:
    with pytest.raises(ParseError, match="Error: 401"):
        parse.parse_meters(b"Error: 401", CTX)


def test_status_object_is_reported_with_its_status() -> None:
    with pytest.raises(ParseError, match="status 401"):
        parse.parse_api_v1_inverters(b'{"status": 401, "info": "Authentication required"}', CTX)


def test_empty_object_for_production_json_is_an_error() -> None:
    with pytest.raises(ParseError, match="production"):
        parse.parse_production_json(b"{}", CTX)


def test_empty_object_for_api_v1_production_is_an_error() -> None:
    with pytest.raises(ParseError, match="wattHoursLifetime"):
        parse.parse_api_v1_production(b"{}", CTX)


def test_empty_list_where_an_object_belongs_is_an_error() -> None:
    with pytest.raises(ParseError, match="expected an object"):
        parse.parse_api_v1_production(b"[]", CTX)


def test_string_where_a_number_belongs_is_an_error() -> None:
    body = b'{"wattHoursLifetime": "1234", "wattsNow": 5}'
    with pytest.raises(ParseError, match="wattHoursLifetime: expected a number"):
        parse.parse_api_v1_production(body, CTX)


def test_boolean_where_a_number_belongs_is_an_error() -> None:
    body = b'{"wattHoursLifetime": true, "wattsNow": 5}'
    with pytest.raises(ParseError, match="expected a number"):
        parse.parse_api_v1_production(body, CTX)


def test_non_finite_number_is_an_error() -> None:
    body = b'{"wattHoursLifetime": NaN, "wattsNow": 5}'
    with pytest.raises(ParseError):
        parse.parse_api_v1_production(body, CTX)


def test_list_where_an_object_belongs_inside_a_list_is_an_error() -> None:
    with pytest.raises(ParseError, match=r"body\[0\]: expected an object"):
        parse.parse_meters(b"[[1, 2]]", CTX)


def test_missing_required_key_is_named() -> None:
    body = b'[{"eid": 1, "state": "enabled"}]'
    with pytest.raises(ParseError, match="measurementType"):
        parse.parse_meters(body, CTX)


def test_integer_beyond_float_range_is_an_error_not_an_overflow() -> None:
    body = b'{"wattHoursLifetime": 1' + b"0" * 400 + b', "wattsNow": 5}'
    with pytest.raises(ParseError, match=r"unreadable JSON \(number is infinity"):
        parse.parse_api_v1_production(body, CTX)


def test_absurd_epoch_is_an_error_not_an_overflow() -> None:
    body = b'[{"serialNumber": "1", "lastReportDate": 1e300, "lastReportWatts": 1}]'
    with pytest.raises(ParseError, match="epoch"):
        parse.parse_api_v1_inverters(body, CTX)


def test_deeply_nested_json_is_an_error_not_a_recursion_error() -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(ParseError):
        parse.parse_meters(body, CTX)


VALID_PRODUCTION_JSON = json.dumps(
    {
        "production": [
            {"type": "inverters", "activeCount": 2, "readingTime": 1, "wNow": 5, "whLifetime": 9},
            {
                "type": "eim",
                "measurementType": "production",
                "activeCount": 1,
                "readingTime": 1700000000,
                "wNow": 5.5,
                "whLifetime": 10.5,
                "lines": [{"wNow": 2.5, "rmsVoltage": 120.1}, {"wNow": 3.0}],
            },
        ],
        "consumption": [],
    }
).encode()


@pytest.mark.parametrize("cut", range(0, len(VALID_PRODUCTION_JSON), 7))
def test_truncated_body_at_any_point_gives_only_parse_error(cut: int) -> None:
    with pytest.raises(ParseError):
        parse.parse_production_json(VALID_PRODUCTION_JSON[:cut], CTX)


def test_excerpt_is_short_and_whitespace_collapsed() -> None:
    text = excerpt(b"<html>\n\n   <body>" + b"x " * 500)
    assert len(text) <= EXCERPT_CHARS
    assert "\n" not in text
    assert "  " not in text


def test_excerpt_redacts_bearer_tokens() -> None:
    text = excerpt(b"Authorization: Bearer abc.def.ghi rejected")
    assert "abc.def" not in text
    assert "Bearer [redacted]" in text


def test_excerpt_redacts_jwt_like_runs() -> None:
    jwt = b"eyJhbGciOiJFUzI1NiJ9.eyJhdWQiOiIxMjM0NTY3ODkwMTIifQ.c2lnbmF0dXJlc2lnbmF0dXJl"
    text = excerpt(b'{"error": "bad token ' + jwt + b'"}')
    assert "eyJ" not in text


def test_excerpt_redacts_named_secrets() -> None:
    text = excerpt(b'{"token": "short1", "password": "hunter2"}')
    assert "short1" not in text
    assert "hunter2" not in text


def test_parse_error_message_carries_the_redacted_excerpt() -> None:
    with pytest.raises(ParseError) as caught:
        parse.parse_meters(b"Error: 401 Bearer eyJsecretsecretsecretsecret", CTX)
    assert "eyJsecret" not in str(caught.value)
    assert caught.value.excerpt is not None and len(caught.value.excerpt) <= EXCERPT_CHARS
