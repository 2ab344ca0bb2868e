"""Firmware versions: parsing and the thresholds where gateway behaviour changes."""

from __future__ import annotations

# Firmware from which the gateway serves HTTPS and wants a JWT token.
TOKEN_FIRMWARE = (7,)
# Firmware from which the gateway serves /ivp/ensemble/* (IQ Batteries).
ENSEMBLE_FIRMWARE = (7,)
# Firmware from which /ivp/pdm/device_data gives per-inverter detail.
DEVICE_DATA_FIRMWARE = (8, 2)
# Firmware before which /production.json is missing and the /production page stands in.
PRODUCTION_JSON_FIRMWARE = (4,)


def firmware_tuple(firmware: str) -> tuple[int, ...]:
    """Turn "8.2.4345" (or "D8.2.4345") into (8, 2, 4345) for comparisons.

    Not packaging.version: it refuses the gateways' "D8.2.4345" and "R3.9.31" strings.
    """
    parts: list[int] = []
    for piece in firmware.lstrip("RDMrdm").split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)
