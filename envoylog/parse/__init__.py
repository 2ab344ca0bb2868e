"""Pure parsers: one function per gateway endpoint, raw body -> typed records or ParseError."""

from envoylog.parse.api_v1 import parse_api_v1_inverters, parse_api_v1_production
from envoylog.parse.battery import (
    parse_acb_inventory,
    parse_ensemble_inventory,
    parse_ensemble_power,
    parse_ensemble_secctrl,
)
from envoylog.parse.device_data import parse_device_data
from envoylog.parse.info import parse_home, parse_info
from envoylog.parse.meters import parse_meter_readings, parse_meters
from envoylog.parse.production import parse_production, parse_production_json

__all__ = [
    "parse_acb_inventory",
    "parse_api_v1_inverters",
    "parse_api_v1_production",
    "parse_device_data",
    "parse_ensemble_inventory",
    "parse_ensemble_power",
    "parse_ensemble_secctrl",
    "parse_home",
    "parse_info",
    "parse_meter_readings",
    "parse_meters",
    "parse_production",
    "parse_production_json",
]
