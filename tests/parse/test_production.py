"""QUIRKS facts 9-10, 12, 14-15, 18 and 21 for /production.json and /production."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from envoylog.errors import ParseError
from envoylog.parse import parse_production, parse_production_json
from envoylog.parse.context import ParseContext
from envoylog.records import Measurement, MeterConfig, ReadingFlag, Source, SystemReading

T = 1700000000
FETCHED = datetime.fromtimestamp(T + 30, tz=UTC)
CTX = ParseContext(fetched_at=FETCHED)


def eim(measurement: str | None, **values: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": "eim", "activeCount": 1, "readingTime": T}
    if measurement is not None:
        entry["measurementType"] = measurement
    entry.update({"wNow": 100.0, "whLifetime": 5000.0, "rmsVoltage": 240.0})
    entry.update(values)
    return entry


def inverters(**values: Any) -> dict[str, Any]:
    return {"type": "inverters", "activeCount": 10, "readingTime": T, "wNow": 900, **values}


def body(**sections: list[dict[str, Any]]) -> bytes:
    sections.setdefault("production", [])
    return json.dumps(sections).encode()


def readings(
    raw: bytes, ctx: ParseContext = CTX
) -> dict[tuple[Source, Measurement], SystemReading]:
    result = {}
    for record in parse_production_json(raw, ctx):
        assert isinstance(record, SystemReading)
        result[(record.source, record.measurement)] = record
    return result


def one(raw: bytes, source: Source, measurement: Measurement) -> SystemReading:
    return readings(raw)[(source, measurement)]


def test_inverters_entry_is_the_inverters_source() -> None:
    reading = one(
        body(production=[inverters(whLifetime=123456)]), Source.INVERTERS, Measurement.PRODUCTION
    )
    assert (reading.watts, reading.wh_lifetime, reading.active_count) == (900, 123456, 10)
    assert reading.measured_at == datetime.fromtimestamp(T, tz=UTC)
    assert reading.flags == ()


def test_inverters_reading_time_zero_falls_back_to_fetch_time() -> None:
    raw = body(production=[inverters(readingTime=0, wNow=0, whLifetime=4339764)])
    reading = one(raw, Source.INVERTERS, Measurement.PRODUCTION)
    assert reading.measured_at == FETCHED
    assert reading.flags == (ReadingFlag.NO_READING_TIME,)


def test_absent_reading_time_falls_back_to_fetch_time() -> None:
    entry = eim("production")
    del entry["readingTime"]
    reading = one(body(production=[entry]), Source.EIM, Measurement.PRODUCTION)
    assert (reading.measured_at, reading.flags) == (FETCHED, (ReadingFlag.NO_READING_TIME,))


def test_consumption_is_matched_by_measurement_type_not_position() -> None:
    raw = body(
        consumption=[
            eim("net-consumption", whLifetime=-20.0),
            eim("total-consumption", whLifetime=300.0),
        ]
    )
    found = readings(raw)
    assert found[(Source.EIM, Measurement.NET_CONSUMPTION)].wh_lifetime == -20.0
    assert found[(Source.EIM, Measurement.TOTAL_CONSUMPTION)].wh_lifetime == 300.0


def test_eim_without_measurement_type_in_production_is_production() -> None:
    raw = body(production=[eim(None, whLifetime=8598256.633)])
    assert one(raw, Source.EIM, Measurement.PRODUCTION).wh_lifetime == 8598256.633


def test_eim_without_measurement_type_in_consumption_is_left_out() -> None:
    raw = body(production=[inverters(whLifetime=1)], consumption=[eim(None), eim(None)])
    assert set(readings(raw)) == {(Source.INVERTERS, Measurement.PRODUCTION)}


def test_unknown_measurement_type_is_left_out() -> None:
    assert readings(body(consumption=[eim("backfeed")])) == {}


def test_unknown_entry_type_is_left_out() -> None:
    raw = body(production=[{"type": "rgm", "wNow": 1}, inverters(whLifetime=1)])
    assert set(readings(raw)) == {(Source.INVERTERS, Measurement.PRODUCTION)}


def test_eim_values_are_mapped() -> None:
    raw = body(
        production=[
            eim(
                "production",
                apprntPwr=110.0,
                reactPwr=20.0,
                pwrFactor=0.9,
                rmsCurrent=4.5,
                whToday=999.0,
                whLastSevenDays=9999.0,
            )
        ]
    )
    reading = one(raw, Source.EIM, Measurement.PRODUCTION)
    assert (reading.watts, reading.wh_lifetime, reading.va, reading.var) == (100, 5000, 110, 20)
    assert (reading.power_factor, reading.voltage_v, reading.current_a) == (0.9, 240.0, 4.5)


def test_lines_become_phases() -> None:
    lines = [
        {"wNow": 50.0, "whLifetime": 2000.0, "rmsVoltage": 121.2, "rmsCurrent": 1.0},
        {"wNow": 50.5, "whLifetime": 3000.0, "rmsVoltage": 120.7, "apprntPwr": 60.0},
    ]
    reading = one(
        body(production=[eim("production", lines=lines)]), Source.EIM, Measurement.PRODUCTION
    )
    assert [(p.phase, p.watts, p.wh_lifetime, p.voltage_v) for p in reading.phases] == [
        (1, 50.0, 2000.0, 121.2),
        (2, 50.5, 3000.0, 120.7),
    ]
    assert reading.phases[1].va == 60.0


def test_aggregate_voltage_of_several_lines_is_dropped_as_a_sum() -> None:
    lines = [{"rmsVoltage": 237.8}, {"rmsVoltage": 229.8}, {"rmsVoltage": 226.9}]
    raw = body(production=[eim("production", rmsVoltage=694.5, lines=lines)])
    assert one(raw, Source.EIM, Measurement.PRODUCTION).voltage_v is None


def test_aggregate_voltage_of_one_line_is_kept() -> None:
    raw = body(production=[eim("production", rmsVoltage=243.6, lines=[{"rmsVoltage": 243.6}])])
    assert one(raw, Source.EIM, Measurement.PRODUCTION).voltage_v == 243.6


def test_aggregate_voltage_without_lines_is_dropped_when_meters_are_multi_phase() -> None:
    meters = (MeterConfig(1, "production", "enabled", phase_mode="split", phase_count=2),)
    raw = body(production=[eim("production", rmsVoltage=241.9)])
    found = readings(raw, ParseContext(fetched_at=FETCHED, meters=meters))
    assert found[(Source.EIM, Measurement.PRODUCTION)].voltage_v is None


def test_eu_single_phase_reported_as_three_keeps_voltage() -> None:
    meters = (MeterConfig(1, "production", "enabled", phase_mode="three", phase_count=1),)
    raw = body(production=[eim("production", rmsVoltage=235.8)])
    found = readings(raw, ParseContext(fetched_at=FETCHED, meters=meters))
    assert found[(Source.EIM, Measurement.PRODUCTION)].voltage_v == 235.8


def test_inactive_ct_is_flagged_and_kept_raw() -> None:
    raw = body(consumption=[eim("net-consumption", activeCount=0, wNow=-3.769, whLifetime=12.0)])
    reading = one(raw, Source.EIM, Measurement.NET_CONSUMPTION)
    assert reading.flags == (ReadingFlag.CT_INACTIVE,)
    assert (reading.watts, reading.wh_lifetime, reading.active_count) == (-3.769, 12.0, 0)


def test_zero_lifetime_is_flagged() -> None:
    raw = body(production=[eim("production", whLifetime=0)])
    assert ReadingFlag.ZERO_LIFETIME in one(raw, Source.EIM, Measurement.PRODUCTION).flags


def test_net_consumption_lifetime_keeps_its_negative_sign() -> None:
    raw = body(consumption=[eim("net-consumption", whLifetime=-315944.246, wNow=-4980.266)])
    reading = one(raw, Source.EIM, Measurement.NET_CONSUMPTION)
    assert (reading.wh_lifetime, reading.watts) == (-315944.246, -4980.266)


def test_total_overwritten_by_net_is_flagged() -> None:
    raw = body(
        consumption=[
            eim("total-consumption", wNow=1423.784, whLifetime=19338717.674),
            eim("net-consumption", wNow=1423.784, whLifetime=19338717.674),
        ]
    )
    found = readings(raw)
    assert found[(Source.EIM, Measurement.TOTAL_CONSUMPTION)].flags == (
        ReadingFlag.OVERWRITTEN_BY_NET,
    )
    assert found[(Source.EIM, Measurement.NET_CONSUMPTION)].flags == ()


def test_total_with_only_equal_watts_is_not_flagged() -> None:
    raw = body(
        consumption=[
            eim("total-consumption", wNow=3774.309, whLifetime=132912.625),
            eim("net-consumption", wNow=3774.309, whLifetime=85834.666),
        ]
    )
    assert readings(raw)[(Source.EIM, Measurement.TOTAL_CONSUMPTION)].flags == ()


def test_acb_entry_is_a_storage_reading() -> None:
    acb = {
        "type": "acb",
        "activeCount": 2,
        "readingTime": T,
        "wNow": -2,
        "whNow": 446,
        "state": "idle",
        "percentFull": 8,
    }
    reading = one(body(storage=[acb]), Source.ACB, Measurement.STORAGE)
    assert (reading.watts, reading.wh_stored, reading.state, reading.active_count) == (
        -2,
        446,
        "idle",
        2,
    )
    assert reading.wh_lifetime is None
    assert reading.measured_at == datetime.fromtimestamp(T, tz=UTC)


def test_acb_entry_without_batteries_is_left_out() -> None:
    acb = {
        "type": "acb",
        "activeCount": 0,
        "readingTime": 0,
        "wNow": 0,
        "whNow": 0,
        "state": "idle",
    }
    assert readings(body(storage=[acb])) == {}


def test_entry_without_lifetime_is_an_error() -> None:
    with pytest.raises(ParseError, match="whLifetime"):
        parse_production_json(body(production=[{"type": "inverters", "wNow": 5}]), CTX)


def test_entry_with_string_watts_is_an_error() -> None:
    with pytest.raises(ParseError, match=r"production\[0\]\.wNow"):
        parse_production_json(body(production=[inverters(wNow="5", whLifetime=1)]), CTX)


def test_sections_that_are_not_lists_are_an_error() -> None:
    with pytest.raises(ParseError, match="expected a list"):
        parse_production_json(b'{"production": {"type": "inverters"}}', CTX)


def test_production_json_shaped_production_uses_the_same_logic() -> None:
    raw = body(production=[inverters(whLifetime=77)], consumption=[eim("net-consumption")])
    assert parse_production(raw, CTX) == parse_production_json(raw, CTX)


LEGACY_PAGE = b"""<html><body><h1>System Energy Production</h1><table>
<tr><td>Currently</td>    <td> 6.63 kW</td></tr><tr><td>Today</td> <td> 53.6 kWh</td></tr>
<tr><td>Past Week</td> <td>  405 kWh</td></tr>
<tr><td>Since Installation</td>    <td>  133 MWh</td></tr>
</table></body></html>"""


def test_legacy_page_gives_watts_and_lifetime_wh() -> None:
    (reading,) = parse_production(LEGACY_PAGE, CTX)
    assert reading == SystemReading(
        source=Source.LEGACY_PAGE,
        measurement=Measurement.PRODUCTION,
        measured_at=FETCHED,
        watts=6630.0,
        wh_lifetime=133_000_000.0,
    )


@pytest.mark.parametrize(
    ("current", "lifetime", "expected"),
    [
        ("0 W", "14.6 MWh", (0.0, 14_600_000.0)),
        ("512 W", "1,234 kWh", (512.0, 1_234_000.0)),
        ("1.2 MW", "950 Wh", (1_200_000.0, 950.0)),
    ],
)
def test_legacy_page_units_are_converted(
    current: str, lifetime: str, expected: tuple[float, float]
) -> None:
    page = f"<td>Currently</td><td>{current}</td><td>Since Installation</td><td>{lifetime}</td>"
    (reading,) = parse_production(f"<html>{page}</html>".encode(), CTX)
    assert isinstance(reading, SystemReading)
    assert (reading.watts, reading.wh_lifetime) == expected


def test_legacy_page_with_zero_lifetime_is_flagged() -> None:
    page = b"<html>Currently 0 W Since Installation 0 Wh</html>"
    (reading,) = parse_production(page, CTX)
    assert isinstance(reading, SystemReading)
    assert reading.flags == (ReadingFlag.ZERO_LIFETIME,)


def test_legacy_page_without_figures_is_an_error() -> None:
    with pytest.raises(ParseError, match="Currently"):
        parse_production(b"<html><title>error</title><body>Not here</body></html>", CTX)
