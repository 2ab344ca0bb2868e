"""The endpoint registry: every gateway endpoint envoylog knows, and how to treat it."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from envoylog import parse
from envoylog.firmware import (
    DEVICE_DATA_FIRMWARE,
    ENSEMBLE_FIRMWARE,
    PRODUCTION_JSON_FIRMWARE,
    firmware_tuple,
)
from envoylog.parse.context import ParseContext
from envoylog.records import Record

Parser = Callable[[bytes, ParseContext], tuple[Record, ...]]

MINUTE = 60
HOUR = 60 * MINUTE
DAY = 24 * HOUR


class Needs(enum.StrEnum):
    """Batteries an endpoint is read for, once the gateway is known to have them."""

    IQ_BATTERY = "iq-battery"
    AC_BATTERY = "ac-battery"
    ANY_BATTERY = "any-battery"


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    path: str
    parser: Parser
    cadence_s: int  # default polling interval
    min_firmware: tuple[int, ...] | None = None  # first firmware that serves it
    max_firmware: tuple[int, ...] | None = None  # first firmware that no longer needs it
    metered_only: bool = False  # only meaningful on metered (CT-capable) hardware
    # Default interval while /ivp/meters/readings gives CT readings, which this
    # endpoint's own CT figures repeat (None: no such reduction).
    cadence_with_cts_s: int | None = None
    needs: Needs | None = None  # read only where the gateway has these (poller.plan)
    # Answers that say the gateway has no such device (QUIRKS 27): recorded, never a failure.
    absent_statuses: frozenset[int] = frozenset()
    when: str | None = None  # for the docs: which gateways it is read from, if not all

    @property
    def with_cts_key(self) -> str:
        """The [cadence] key of `cadence_with_cts_s` ("production_json_with_cts")."""
        return f"{self.name}_with_cts"

    def applies_to(self, firmware: str | None, metered: bool | None) -> bool:
        """Say whether this endpoint is worth asking a gateway with this firmware."""
        if self.metered_only and metered is False:
            return False
        if firmware is None:
            return True
        version = firmware_tuple(firmware)
        if self.min_firmware is not None and version < self.min_firmware:
            return False
        return not (self.max_firmware is not None and version >= self.max_firmware)


INFO = Endpoint("info", "/info", parse.parse_info, HOUR)
HOME = Endpoint("home", "/home", parse.parse_home, DAY)
# Its `eim` entries repeat the CT meters (QUIRKS 9, 15) and it costs the gateway 1-5 s
# to answer (QUIRKS 8), so while the meter readings answer each minute it is
# read every 5 minutes: CT data is not stored twice, and the gateway is spared.
PRODUCTION_JSON = Endpoint(
    "production_json",
    "/production.json?details=1",
    parse.parse_production_json,
    MINUTE,
    cadence_with_cts_s=5 * MINUTE,
)
# /production: an HTML page on 3.x firmware, production.json's twin after that. Only
# polled where production.json is missing (firmware before 4).
PRODUCTION = Endpoint(
    "production",
    "/production",
    parse.parse_production,
    MINUTE,
    max_firmware=PRODUCTION_JSON_FIRMWARE,
)
API_V1_PRODUCTION = Endpoint(
    "api_v1_production", "/api/v1/production", parse.parse_api_v1_production, 5 * MINUTE
)
API_V1_INVERTERS = Endpoint(
    "api_v1_inverters",
    "/api/v1/production/inverters",
    parse.parse_api_v1_inverters,
    5 * MINUTE,
)
METERS = Endpoint("meters", "/ivp/meters", parse.parse_meters, HOUR, metered_only=True)
METER_READINGS = Endpoint(
    "meter_readings",
    "/ivp/meters/readings",
    parse.parse_meter_readings,
    MINUTE,
    metered_only=True,
)
DEVICE_DATA = Endpoint(
    "device_data",
    "/ivp/pdm/device_data",
    parse.parse_device_data,
    5 * MINUTE,
    min_firmware=DEVICE_DATA_FIRMWARE,
)
# Batteries. The inventory says whether the gateway has IQ Batteries: it is read until it
# has said so, and again after a firmware change. Without them it answers 401, 404 or an
# empty list. Power and aggregates are read with the meters, where there are batteries.
ENSEMBLE_INVENTORY = Endpoint(
    "ensemble_inventory",
    "/ivp/ensemble/inventory",
    parse.parse_ensemble_inventory,
    5 * MINUTE,
    min_firmware=ENSEMBLE_FIRMWARE,
    absent_statuses=frozenset({401, 404}),
    when="gateways on firmware 7 and later; one that lists no IQ Battery is not asked again "
    "until its firmware changes or envoylog restarts",
)
ENSEMBLE_POWER = Endpoint(
    "ensemble_power",
    "/ivp/ensemble/power",
    parse.parse_ensemble_power,
    MINUTE,
    min_firmware=ENSEMBLE_FIRMWARE,
    needs=Needs.IQ_BATTERY,
    when="gateways with IQ Batteries",
)
ENSEMBLE_SECCTRL = Endpoint(
    "ensemble_secctrl",
    "/ivp/ensemble/secctrl",
    parse.parse_ensemble_secctrl,
    MINUTE,
    min_firmware=ENSEMBLE_FIRMWARE,
    needs=Needs.ANY_BATTERY,
    when="gateways with IQ Batteries or AC Batteries, firmware 7 and later",
)
# AC Batteries one by one; the gateway has them when production.json or an inverter
# endpoint lists one.
ACB_INVENTORY = Endpoint(
    "acb_inventory",
    "/inventory.json?deleted=1",
    parse.parse_acb_inventory,
    5 * MINUTE,
    needs=Needs.AC_BATTERY,
    when="gateways with AC Batteries",
)

# In fetch order: /info first (identity, firmware), /ivp/meters before its readings, what
# says which batteries there are (production.json, the inverter lists, the ensemble
# inventory) before the battery endpoints that depend on it.
ALL: tuple[Endpoint, ...] = (
    INFO,
    HOME,
    METERS,
    METER_READINGS,
    PRODUCTION_JSON,
    PRODUCTION,
    API_V1_PRODUCTION,
    API_V1_INVERTERS,
    DEVICE_DATA,
    ENSEMBLE_INVENTORY,
    ENSEMBLE_POWER,
    ENSEMBLE_SECCTRL,
    ACB_INVENTORY,
)
BY_NAME: dict[str, Endpoint] = {e.name: e for e in ALL}
