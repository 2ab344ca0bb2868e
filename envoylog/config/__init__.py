"""Configuration: one TOML file plus environment overrides, validated into frozen settings.

Every key is declared once in :mod:`envoylog.config.table`; validation, the example
file (``deploy/envoylog.example.toml``) and ``docs/configuration.md`` come from it.
"""

from envoylog.config.load import CONFIG_ENV, SYSTEM_CONFIG, find_config_file, load_settings
from envoylog.config.model import GatewaySettings, Settings, credentials_for

__all__ = [
    "CONFIG_ENV",
    "SYSTEM_CONFIG",
    "GatewaySettings",
    "Settings",
    "credentials_for",
    "find_config_file",
    "load_settings",
]
