"""The fast dict readers and the checked Obj readers they fall back to give the same records."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import pytest
from support import capture_folders, sample_folders

from envoylog import parse
from envoylog.errors import ParseError
from envoylog.parse import api_v1, device_data, meters, production
from envoylog.parse.body import Irregular
from envoylog.parse.context import ParseContext
from envoylog.records import MeterConfig, Record

FETCHED = datetime(2030, 1, 1, tzinfo=UTC)
# parser, body files, and the fast readers that must hand everything to the checked ones
CASES: list[tuple[Callable[[bytes, ParseContext], tuple[Record, ...]], str, list[Any]]] = [
    (parse.parse_device_data, "ivp_pdm_device_data", [(device_data, "_quick_device")]),
    (parse.parse_production_json, "production.json_details_1", [(production, "_quick_entry")]),
    (parse.parse_production_json, "production.json", [(production, "_quick_entry")]),
    (parse.parse_meter_readings, "ivp_meters_readings", [(meters, "_quick_meter")]),
    (parse.parse_api_v1_inverters, "api_v1_production_inverters", [(api_v1, "_quick_device")]),
]


def irregular(*args: object) -> NoReturn:
    raise Irregular


def context(folder: Path) -> ParseContext:
    configs = None
    if (folder / "ivp_meters").is_file():
        try:
            found = parse.parse_meters((folder / "ivp_meters").read_bytes(), ParseContext(FETCHED))
            configs = tuple(r for r in found if isinstance(r, MeterConfig))
        except ParseError:
            pass
    return ParseContext(fetched_at=FETCHED, meters=configs)


def outcome(parser: Callable[[bytes, ParseContext], tuple[Record, ...]], path: Path) -> object:
    try:
        return parser(path.read_bytes(), context(path.parent))
    except ParseError as exc:
        return str(exc)


@pytest.mark.parametrize(("parser", "name", "fast"), CASES, ids=[c[1] for c in CASES])
def test_checked_readers_match_fast_readers_on_every_body(
    parser: Callable[[bytes, ParseContext], tuple[Record, ...]],
    name: str,
    fast: list[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    paths = [f / name for f in [*sample_folders(), *capture_folders()] if (f / name).is_file()]
    expected = [repr(outcome(parser, path)) for path in paths]
    for module, function in fast:
        monkeypatch.setattr(module, function, irregular)
    monkeypatch.setattr(meters, "numbers", irregular)  # meter values and channel timestamps
    assert [repr(outcome(parser, path)) for path in paths] == expected  # repr: 1 is not 1.0
    assert any(found.startswith("(") for found in expected)
