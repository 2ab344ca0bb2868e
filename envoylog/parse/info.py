"""Parsers for the gateway's identity (/info, XML) and settings (/home, JSON)."""

from __future__ import annotations

import re
from typing import Any
from xml.parsers.expat import ExpatError

import xmltodict

from envoylog.parse import bounds
from envoylog.parse.body import Doc, to_utc
from envoylog.parse.context import ParseContext
from envoylog.records import GatewayInfo, HomeInfo, Record

INFO_PATH = "/info"
HOME_PATH = "/home"

# The firmware string carries a release-channel letter: R (release), D, M.
_SOFTWARE = re.compile(r"[RDMrdm]?(\d+(?:\.\d+)*.*)")
_BOOLS = {"true": True, "false": False, "1": True, "0": False}


def parse_info(body: bytes, ctx: ParseContext) -> tuple[Record, ...]:
    """Parse /info XML into the gateway's serial, firmware, part number and capabilities."""
    doc = Doc(INFO_PATH, body)
    doc.refuse_beyond(bounds.MAX_XML_TAGS, "XML tags", b"<")
    doc.text()
    try:
        # disable_entities (the default, said aloud): a DOCTYPE that declares entities is
        # refused, so no entity expansion ("billion laughs") and no external entities.
        parsed = xmltodict.parse(body, disable_entities=True)
    except (ExpatError, ValueError) as exc:
        doc.fail(f"not well-formed XML ({exc})")
    root = parsed.get("envoy_info")
    if not isinstance(root, dict):
        doc.fail("no <envoy_info> root element")
    device = root.get("device")
    if not isinstance(device, dict):  # absent, empty, or a list of several
        doc.fail("no <device> element in <envoy_info>")

    serial = _text(device, "sn")
    software = _text(device, "software")
    if serial is None:
        doc.fail("<device> has no <sn>")
    if software is None:
        doc.fail("<device> has no <software>")
    version = _SOFTWARE.fullmatch(software)
    if version is None:
        doc.fail(f"<software> {software[:20]!r} is not a firmware version")
    part_number = _text(device, "pn")
    doc.fits("<sn>", serial, bounds.SERIAL_CHARS)
    doc.fits("<software>", version.group(1), bounds.FIRMWARE_CHARS)
    doc.fits("<pn>", part_number or "", bounds.PART_NUMBER_CHARS)

    epoch = _text(root, "time")
    gateway_time = None
    if epoch is not None:
        try:
            seconds = int(epoch)
        except ValueError:
            doc.fail(f"<time> {epoch[:20]!r} is not an epoch")
        gateway_time = to_utc(doc, seconds, "<time>")

    return (
        GatewayInfo(
            serial=serial,
            firmware=version.group(1),
            part_number=part_number,
            metered=_flag(doc, device, "imeter"),
            web_tokens=_flag(doc, root, "web-tokens"),
            gateway_time=gateway_time,
        ),
    )


def _text(node: dict[str, Any], tag: str) -> str | None:
    """The stripped text of the first <tag> in node, None when absent or blank."""
    value = node.get(tag)
    if isinstance(value, list):  # repeated: the first counts
        value = value[0]
    if isinstance(value, dict):  # attributes or children: only its own text counts
        value = value.get("#text")
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _flag(doc: Doc, node: dict[str, Any], tag: str) -> bool | None:
    value = _text(node, tag)
    if value is None:
        return None
    flag = _BOOLS.get(value.lower())
    if flag is None:
        doc.fail(f"<{tag}> is {value[:20]!r}, not true/false")
    return flag


def parse_home(body: bytes, ctx: ParseContext) -> tuple[Record, ...]:
    """Parse /home JSON into the gateway's timezone, build time and network facts."""
    doc = Doc(HOME_PATH, body)
    data = doc.json_object()
    network = data.opt_obj("network")
    home = HomeInfo(
        timezone=data.opt_str("timezone", most=bounds.TIMEZONE_CHARS),
        software_build_at=data.epoch("software_build_epoch"),
        primary_interface=network.opt_str("primary_interface") if network else None,
        last_cloud_report_at=network.epoch("last_enlighten_report_time") if network else None,
    )
    if home == HomeInfo():
        doc.fail("none of timezone, software_build_epoch or network is present")
    return (home,)
