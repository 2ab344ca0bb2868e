"""Weather for the model: sun position, clear-sky irradiance, clouds, and seeded noise.

Every function is a pure function of (seed, time): the model can ask for any instant
in any order and gets the same answer, which keeps it deterministic and lazy.
"""

from __future__ import annotations

import math

MASK64 = (1 << 64) - 1
TROPICAL_YEAR_DAYS = 365.2422
SOLAR_CONSTANT_GHI = 1098.0  # Haurwitz clear-sky model, W/m2
CLOUD_KNOT_S = 600  # clouds change shape every 10 minutes


def noise(seed: int, *keys: int) -> float:
    """A uniform number in [0, 1) that depends only on ``seed`` and ``keys`` (splitmix64)."""
    value = seed & MASK64
    for key in keys:
        value = (value ^ (key & MASK64)) * 0x9E3779B97F4A7C15 & MASK64
        value ^= value >> 30
        value = value * 0xBF58476D1CE4E5B9 & MASK64
        value ^= value >> 27
        value = value * 0x94D049BB133111EB & MASK64
        value ^= value >> 31
    return (value >> 11) / float(1 << 53)


def smooth_noise(seed: int, stream: int, t: float, knot_s: float) -> float:
    """Noise in [0, 1) interpolated linearly between knots ``knot_s`` apart."""
    position = t / knot_s
    index = math.floor(position)
    fraction = position - index
    a = noise(seed, stream, index)
    b = noise(seed, stream, index + 1)
    return a + (b - a) * fraction


def sun_elevation_sin(t: float, latitude: float, longitude: float) -> float:
    """Sine of the sun's elevation at epoch ``t`` (NOAA's low-precision formulas)."""
    days = t / 86400.0
    gamma = 2 * math.pi * (days % TROPICAL_YEAR_DAYS) / TROPICAL_YEAR_DAYS
    declination = (
        0.006918
        - 0.399912 * math.cos(gamma)
        + 0.070257 * math.sin(gamma)
        - 0.006758 * math.cos(2 * gamma)
        + 0.000907 * math.sin(2 * gamma)
        - 0.002697 * math.cos(3 * gamma)
        + 0.00148 * math.sin(3 * gamma)
    )
    equation_of_time_min = 229.18 * (
        0.000075
        + 0.001868 * math.cos(gamma)
        - 0.032077 * math.sin(gamma)
        - 0.014615 * math.cos(2 * gamma)
        - 0.040849 * math.sin(2 * gamma)
    )
    utc_minutes = (t % 86400.0) / 60.0
    solar_minutes = utc_minutes + equation_of_time_min + 4.0 * longitude
    hour_angle = math.radians(solar_minutes / 4.0 - 180.0)
    lat = math.radians(latitude)
    return math.sin(lat) * math.sin(declination) + math.cos(lat) * math.cos(declination) * math.cos(
        hour_angle
    )


def clear_sky_irradiance(t: float, latitude: float, longitude: float) -> float:
    """Irradiance on tilted panels under a clear sky, W/m2 (0 when the sun is down)."""
    s = sun_elevation_sin(t, latitude, longitude)
    if s <= 0.01:
        return 0.0
    ghi = SOLAR_CONSTANT_GHI * s * math.exp(-0.057 / s)
    # Panels tilted towards the sun catch more than a flat sensor, most at a low sun.
    return min(ghi * (1.0 + 0.25 * (1.0 - s)), 1100.0)


def cloud_factor(seed: int, t: float) -> float:
    """Share of the clear-sky irradiance that gets through the clouds, 0.1 to 1."""
    day = math.floor(t / 86400.0)
    # Each day has a weather (clear to overcast); within it, clouds pass by.
    clearness = 0.35 + 0.65 * math.sqrt(noise(seed, 11, day))
    passing = smooth_noise(seed, 12, t, CLOUD_KNOT_S)
    return max(0.1, min(1.0, 1.0 - (1.0 - clearness) * 1.6 * passing))
