"""QUIRKS facts 1 and 18: /info identity and /home timezone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from envoylog.errors import ParseError
from envoylog.parse import parse_home, parse_info
from envoylog.parse.context import ParseContext
from envoylog.records import GatewayInfo, HomeInfo

CTX = ParseContext(fetched_at=datetime(2024, 6, 1, 12, 0, tzinfo=UTC))


def info_xml(device: str = "", extra: str = "") -> bytes:
    return (
        "<?xml version='1.0' encoding='UTF-8'?><envoy_info><time>1700000000</time>"
        f"<device><sn>122446001637</sn><pn>800-00649-r01</pn><software>D8.2.4345</software>"
        f"{device}</device>{extra}</envoy_info>"
    ).encode()


def only_info(body: bytes) -> GatewayInfo:
    (record,) = parse_info(body, CTX)
    assert isinstance(record, GatewayInfo)
    return record


@pytest.mark.parametrize("letter", ["R", "D", "M", ""])
def test_firmware_loses_its_leading_letter(letter: str) -> None:
    body = info_xml().replace(b"D8.2.4345", f"{letter}7.6.175".encode())
    assert only_info(body).firmware == "7.6.175"


def test_serial_part_number_and_time_are_read() -> None:
    info = only_info(info_xml())
    assert (info.serial, info.part_number) == ("122446001637", "800-00649-r01")
    assert info.gateway_time == datetime.fromtimestamp(1700000000, tz=UTC)


@pytest.mark.parametrize(("imeter", "metered"), [("true", True), ("false", False)])
def test_imeter_gives_metered(imeter: str, metered: bool) -> None:
    assert only_info(info_xml(f"<imeter>{imeter}</imeter>")).metered is metered


def test_absent_imeter_is_unknown() -> None:
    assert only_info(info_xml()).metered is None


def test_web_tokens_is_read() -> None:
    info = only_info(info_xml(extra="<web-tokens>true</web-tokens>"))
    assert info.web_tokens is True


def test_imeter_with_odd_value_is_an_error() -> None:
    with pytest.raises(ParseError, match="imeter"):
        parse_info(info_xml("<imeter>maybe</imeter>"), CTX)


def test_info_without_serial_is_an_error() -> None:
    with pytest.raises(ParseError, match="sn"):
        parse_info(info_xml().replace(b"<sn>122446001637</sn>", b""), CTX)


def test_info_with_non_version_software_is_an_error() -> None:
    with pytest.raises(ParseError, match="firmware version"):
        parse_info(info_xml().replace(b"D8.2.4345", b"unknown"), CTX)


def test_info_that_is_not_xml_is_an_error() -> None:
    with pytest.raises(ParseError, match="XML"):
        parse_info(b'{"serial": "1"}', CTX)


def test_info_with_another_root_is_an_error() -> None:
    with pytest.raises(ParseError, match="envoy_info"):
        parse_info(b"<html><body>login</body></html>", CTX)


@pytest.mark.parametrize(
    "declaration",
    [b'<!ENTITY e "x">', b'<!ENTITY e SYSTEM "file:///etc/passwd">'],
    ids=["internal", "external"],
)
def test_info_with_an_entity_declaration_is_refused(declaration: bytes) -> None:
    body = b"<!DOCTYPE envoy_info [" + declaration + b"]>" + info_xml().split(b"?>", 1)[1]
    with pytest.raises(ParseError, match="entities are disabled"):
        parse_info(body, CTX)


def test_info_with_a_doctype_and_no_entities_is_read() -> None:
    body = b"<!DOCTYPE envoy_info>" + info_xml().split(b"?>", 1)[1]
    assert only_info(body).serial == "122446001637"


def test_info_with_two_devices_is_an_error() -> None:
    with pytest.raises(ParseError, match="no <device>"):
        parse_info(info_xml(extra="<device><sn>1</sn><software>D1</software></device>"), CTX)


HOME = b"""{"software_build_epoch": 1749981828, "timezone": "US/Eastern",
"network": {"last_enlighten_report_time": 1752974593, "primary_interface": "wlan0"}}"""


def test_home_gives_timezone_and_network_facts() -> None:
    assert parse_home(HOME, CTX) == (
        HomeInfo(
            timezone="US/Eastern",
            software_build_at=datetime.fromtimestamp(1749981828, tz=UTC),
            primary_interface="wlan0",
            last_cloud_report_at=datetime.fromtimestamp(1752974593, tz=UTC),
        ),
    )


def test_home_without_any_known_key_is_an_error() -> None:
    with pytest.raises(ParseError, match="timezone"):
        parse_home(b'{"comm": {}}', CTX)


def test_home_with_numeric_timezone_is_an_error() -> None:
    with pytest.raises(ParseError, match="timezone"):
        parse_home(b'{"timezone": 5}', CTX)
