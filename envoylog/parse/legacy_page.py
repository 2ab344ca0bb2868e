"""The HTML /production page of firmware 3.x: current power and lifetime energy, rounded."""

from __future__ import annotations

import re

from envoylog.parse.body import Doc
from envoylog.parse.bounds import plausible
from envoylog.parse.context import ParseContext
from envoylog.records import Measurement, ReadingFlag, Source, SystemReading

_NUMBER = r"([0-9]+(?:,[0-9]{3})*(?:\.[0-9]+)?)"
_CURRENTLY = re.compile(rf"Currently\s*{_NUMBER}\s*(W|kW|MW)\b")
_LIFETIME = re.compile(rf"Since Installation\s*{_NUMBER}\s*(Wh|kWh|MWh)\b")
_TAG = re.compile(r"<[^>]*>")
_SCALE = {"W": 1.0, "kW": 1e3, "MW": 1e6, "Wh": 1.0, "kWh": 1e3, "MWh": 1e6}


def legacy_page_reading(doc: Doc, ctx: ParseContext) -> SystemReading:
    """Read "Currently 6.63 kW" and "Since Installation 133 MWh" off the page, in W and Wh."""
    text = " ".join(_TAG.sub(" ", doc.text()).split())
    current = _CURRENTLY.search(text)
    lifetime = _LIFETIME.search(text)
    if current is None or lifetime is None:
        doc.fail(f"{doc.html_problem()} without 'Currently' and 'Since Installation' figures")
    wh_lifetime = _value(lifetime)
    return plausible(
        SystemReading(
            source=Source.LEGACY_PAGE,
            measurement=Measurement.PRODUCTION,
            measured_at=ctx.fetched_at,
            watts=_value(current),
            wh_lifetime=wh_lifetime,
            flags=(ReadingFlag.ZERO_LIFETIME,) if wh_lifetime == 0 else (),
        )
    )


def _value(match: re.Match[str]) -> float:
    number, unit = match.group(1), match.group(2)
    # round() hides float noise such as 6.63 * 1000 = 6630.000000000001.
    return round(float(number.replace(",", "")) * _SCALE[unit], 3)
