"""Parsers for the gateway's identity (/info, XML) and settings (/home, JSON)."""

from __future__ import annotations

import re
from typing import NoReturn
from xml.parsers import expat
from xml.parsers.expat import ExpatError

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
    doc.text()
    info = _InfoReader()
    try:
        info.read(body)
    except (ExpatError, ValueError) as exc:
        doc.fail(f"not well-formed XML ({exc})")
    if info.root != "envoy_info" or not info.root_has_children:
        doc.fail("no <envoy_info> root element")
    if info.devices != 1 or not info.device_has_children:
        doc.fail("no <device> element in <envoy_info>")
    device, top = info.device, info.top

    serial = device.get("sn")
    software = device.get("software")
    if serial is None:
        doc.fail("<device> has no <sn>")
    if software is None:
        doc.fail("<device> has no <software>")
    version = _SOFTWARE.fullmatch(software)
    if version is None:
        doc.fail(f"<software> {software[:20]!r} is not a firmware version")

    epoch = top.get("time")
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
            part_number=device.get("pn"),
            metered=_flag(doc, device, "imeter"),
            web_tokens=_flag(doc, top, "web-tokens"),
            gateway_time=gateway_time,
        ),
    )


class _InfoReader:
    """Read /info as xmltodict.parse did, keeping only what parse_info uses.

    The same expat set-up (no namespace processing, entity declarations refused) accepts
    and refuses the same documents. An element's text is its own character data,
    stripped, None when blank; only the first element of a name counts, and the root and
    <device> count as elements with children when they have attributes or child elements.
    """

    __slots__ = (
        "_depth",
        "_in_device",
        "_outer",
        "_text",
        "device",
        "device_has_children",
        "devices",
        "root",
        "root_has_children",
        "top",
    )

    def __init__(self) -> None:
        self.root: str | None = None
        self.root_has_children = False
        self.devices = 0  # <device> elements in the root
        self.device_has_children = False  # of the first <device>
        self.top: dict[str, str | None] = {}  # root children: text of the first of each name
        self.device: dict[str, str | None] = {}  # the same for the first <device>
        self._depth = 0
        self._in_device = False
        self._text: list[str] = []  # character data of the innermost open element
        self._outer: list[list[str]] = []  # the same for the elements around it

    def read(self, body: bytes) -> None:
        parser = expat.ParserCreate(None, None)
        parser.ordered_attributes = True
        parser.buffer_text = True
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._characters
        parser.EntityDeclHandler = _refuse_entities
        parser.Parse(body, True)

    def _start(self, name: str, attributes: list[str]) -> None:
        self._depth += 1
        depth = self._depth
        if depth == 2:
            self.root_has_children = True
            if name == "device":
                self.devices += 1
                if self.devices == 1:
                    self._in_device = True
                    self.device_has_children = bool(attributes)
        elif depth == 3 and self._in_device:
            self.device_has_children = True
        elif depth == 1:
            self.root = name
            self.root_has_children = bool(attributes)
        self._outer.append(self._text)
        self._text = []

    def _characters(self, data: str) -> None:
        self._text.append(data)

    def _end(self, name: str) -> None:
        depth = self._depth
        if depth == 2:
            if name not in self.top:
                self.top[name] = "".join(self._text).strip() or None
            self._in_device = False
        elif depth == 3 and self._in_device and name not in self.device:
            self.device[name] = "".join(self._text).strip() or None
        self._depth = depth - 1
        self._text = self._outer.pop()


def _refuse_entities(*args: object) -> NoReturn:
    raise ValueError("entities are disabled")


def _flag(doc: Doc, node: dict[str, str | None], tag: str) -> bool | None:
    value = node.get(tag)
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
        timezone=data.opt_str("timezone"),
        software_build_at=data.epoch("software_build_epoch"),
        primary_interface=network.opt_str("primary_interface") if network else None,
        last_cloud_report_at=network.epoch("last_enlighten_report_time") if network else None,
    )
    if home == HomeInfo():
        doc.fail("none of timezone, software_build_epoch or network is present")
    return (home,)
