"""Doc.json (orjson, the one decoder) reads bodies as the standard decoder does, or refuses them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import capture_folders, sample_folders

from envoylog.errors import ParseError
from envoylog.parse.body import Doc

STANDARD = json.JSONDecoder()


def typed(value: object) -> object:
    """The value with every leaf's type beside it: 1 and 1.0 must not compare equal."""
    if isinstance(value, dict):
        return {key: typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [typed(item) for item in value]
    return (type(value).__name__, value)


def decoded(text: str) -> object:
    return Doc("meter_readings", text.encode()).json()


def json_bodies() -> list[Path]:
    found = []
    for folder in capture_folders() + sample_folders():
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.read_bytes().lstrip()[:1] in (b"{", b"["):
                found.append(path)
    return found


@pytest.mark.parametrize("path", json_bodies(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_capture_and_sample_body_decodes_as_the_standard_decoder_does(path: Path) -> None:
    text = path.read_bytes().decode("utf-8")

    try:
        expected = typed(STANDARD.decode(text))
    except json.JSONDecodeError:  # a truncated capture: it must be refused
        with pytest.raises(ParseError, match="unreadable JSON"):
            decoded(text)
        return
    try:
        assert typed(decoded(text)) == expected
    except ParseError as exc:  # a gateway error object, read and refused
        assert exc.problem.startswith("the gateway answered")


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "a": 2}',  # duplicate keys: the last wins
        '{"f": 0.1, "g": 1e-320, "h": -0.0, "i": 1E+2, "j": 12345678901234567}',
        "[1.7976931348623157e308, 5e-324, 2.2250738585072014e-308]",
    ],
)
def test_edge_cases_decode_as_the_standard_decoder_does(text: str) -> None:
    assert typed(decoded(text)) == typed(STANDARD.decode(text))


def test_an_integer_beyond_64_bits_comes_as_the_nearest_float() -> None:
    # Not what the standard decoder gives (an exact int), but what every number reader
    # makes of it (float(int) rounds to the nearest double too); no gateway sends one.
    big = 123456789012345678901234567890

    assert decoded(f'{{"big": {big}, "small": {2**63 - 1}}}') == {
        "big": float(big),
        "small": 2**63 - 1,
    }


@pytest.mark.parametrize(
    "text",
    [
        '{"a": NaN}',
        '{"a": 1,',
        "[" * 100_000,
        '{"s": "\\ud800"}',  # a lone surrogate: no database can store it
        '{"a": 1' + "0" * 400 + "}",  # beyond a double
        '\ufeff{"a": 1}',
    ],
    ids=["nan", "truncated", "deep", "lone-surrogate", "beyond-double", "bom"],
)
def test_unreadable_json_is_a_parse_error(text: str) -> None:
    with pytest.raises(ParseError, match=r"meter_readings: unreadable JSON \(.+ at char \d+\)"):
        decoded(text)
