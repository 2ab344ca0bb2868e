"""Value kinds for settings: what a TOML value must look like, and what it becomes.

Validation is hand-written on purpose, on the stdlib (tomllib reads the file): every
message names the file and the dotted key, says what to write instead, suggests the
closest key or timezone, and hides secrets; the same table writes the docs and the
example file. pydantic (a compiled dependency, not among the chosen libraries) would
still need all of that as a translation layer over its own messages.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

T = TypeVar("T")

_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class Invalid(ValueError):
    """A value of the right shape is not acceptable; `fix` says what to write instead."""

    def __init__(self, problem: str, fix: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix


@dataclass(frozen=True, slots=True)
class Kind(Generic[T]):
    """A kind of value: its name in docs and messages, and how a TOML value becomes one."""

    name: str
    convert: Callable[[object], T]


def toml_type(value: object) -> str:
    """Name a TOML value's type the way the TOML spec does, with an article."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return "a date or time"


def _wrong(expected: str, value: object) -> Invalid:
    return Invalid(f"must be {expected}, not {toml_type(value)} ({value!r})")


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise _wrong("a string", value)
    if not value.strip():
        raise Invalid("is empty")
    return value.strip()


def _path(value: object) -> Path:
    return Path(_text(value)).expanduser()


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise _wrong("true or false", value)
    return value


def _number(value: object) -> float:
    # TOML tells 3 from 3.0; a person writing days should not have to.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _wrong("a number", value)
    if value < 0:
        raise Invalid(f"must not be negative, not {value}")
    return float(value)


def _whole(value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong("a whole number", value)
    if value < minimum:
        raise Invalid(f"must be at least {minimum}, not {value}")
    return value


def _cadence(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong("a whole number of seconds", value)
    if value != 0 and value < MIN_CADENCE_S:
        raise Invalid(f"must be 0 (off) or at least {MIN_CADENCE_S} seconds, not {value}")
    return value


def _step(value: object) -> int:
    seconds = _whole(value, 60)
    if 3600 % seconds:
        raise Invalid(f"must divide an hour (at most 3600 seconds), not {value}")
    return seconds


def _clock(value: object) -> time:
    if isinstance(value, time) and value.tzinfo is None:
        return value.replace(second=0, microsecond=0)
    match = _CLOCK.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise Invalid(f'must be a time of day as "HH:MM" (24-hour), not {value!r}')
    return time(int(match[1]), int(match[2]))


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _timezone(value: object) -> str:
    name = _text(value)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(name, _zones(), n=1)
        fix = f'did you mean "{close[0]}"' if close else 'use an IANA name like "Europe/Berlin"'
        raise Invalid(f"{name!r} is not a known IANA timezone", fix) from None
    return name


def choice(*options: str) -> Kind[str]:
    """One of `options`, compared without regard to case; returned as written in `options`."""
    by_lower = {o.lower(): o for o in options}

    def convert(value: object) -> str:
        text = _text(value)
        if text.lower() not in by_lower:
            raise Invalid(f"must be one of {', '.join(options)}, not {text!r}")
        return by_lower[text.lower()]

    return Kind(f"one of {', '.join(options)}", convert)


MIN_CADENCE_S = 5  # a poll of a slow gateway takes seconds; faster only queues requests

TEXT = Kind("string", _text)
PATH = Kind("path (string)", _path)
BOOLEAN = Kind("boolean", _boolean)
DAYS = Kind("number of days", _number)
BYTES = Kind("whole number of bytes", functools.partial(_whole, minimum=1))
SECONDS = Kind("whole number of seconds", functools.partial(_whole, minimum=1))
SECONDS_OR_OFF = Kind("whole number of seconds (0: off)", functools.partial(_whole, minimum=0))
CADENCE = Kind(f"whole number of seconds (0: off, else at least {MIN_CADENCE_S})", _cadence)
WHOLE_DAYS_OR_OFF = Kind("whole number of days (0: off)", functools.partial(_whole, minimum=0))
STEP = Kind("whole number of seconds dividing an hour, 60 to 3600", _step)
CLOCK = Kind('time of day, "HH:MM"', _clock)
TIMEZONE = Kind("IANA timezone name", _timezone)
