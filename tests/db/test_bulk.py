"""The bulk write path stores exactly what the column types would: values, instants, counts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, timedelta, timezone
from pathlib import Path

import pytest
from db_queries import counts, rows
from factories import T0, at, device_data, make_poll, only

from envoylog.db import Store, open_store, save_poll, save_polls
from envoylog.db.models import FLAG_BITS, inverters, meter_readings, phase_readings, raw_bodies
from envoylog.db.types import sqlite_text
from envoylog.errors import StorageError
from envoylog.records import (
    EndpointResult,
    Inverter,
    InverterReading,
    MeterReading,
    PollResult,
    ReadingFlag,
    SystemReading,
)


def _records(poll: PollResult, kind: type) -> list:
    return [r for e in poll.endpoints for r in e.records if isinstance(r, kind)]


def test_reading_rows_read_back_through_the_models_as_the_records_gave_them(store: Store) -> None:
    poll = make_poll(at(0.25))
    save_poll(store, poll)
    with store.reading("q") as conn:
        stored = {
            (r.channel, r.measured_at, r.watts, r.voltage_v, r.wh_received)
            for r in conn.execute(meter_readings.select())
        }
        phases = sorted(tuple(r)[1:] for r in conn.execute(phase_readings.select()))
        expires = {r.expires_at - r.fetched_at for r in conn.execute(raw_bodies.select())}
    assert stored == {
        (m.channel, m.measured_at, m.watts, m.voltage_v, m.wh_received)
        for m in _records(poll, MeterReading)
    }
    assert all(at.tzinfo is not None for _, at, *_ in stored)
    expected = sorted(
        (p.phase, p.watts, p.wh_lifetime, p.va, p.var, p.power_factor, p.voltage_v, p.current_a)
        for s in _records(poll, SystemReading)
        for p in s.phases
    )
    assert phases == expected
    assert expires == {store.raw_body_lifetime}


def test_sqlite_instants_are_the_documented_text(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'e.sqlite'}")
    when = T0 + timedelta(seconds=15, microseconds=6000)
    # The same instant given in another zone is stored as the same UTC text.
    poll = make_poll(when.astimezone(timezone(timedelta(hours=2))))
    save_poll(store, poll)
    found = rows(
        store,
        "SELECT DISTINCT measured_at, typeof(measured_at) FROM meter_readings "
        "UNION SELECT DISTINCT started_at, typeof(started_at) FROM polls",
    )
    store.close()
    assert found == [(sqlite_text(when), "text")]
    assert sqlite_text(when) == "2026-06-01 10:00:15.006000"


def test_a_naive_instant_is_a_storage_error_and_nothing_is_stored(store: Store) -> None:
    poll = make_poll()
    naive = tuple(
        replace(
            e,
            records=tuple(
                replace(r, measured_at=r.measured_at.replace(tzinfo=None))
                if isinstance(r, MeterReading)
                else r
                for r in e.records
            ),
        )
        for e in poll.endpoints
    )
    with pytest.raises(StorageError, match="naive datetime"):
        save_poll(store, replace(poll, endpoints=naive))
    assert set(counts(store).values()) == {0}


def _device_data_poll(when_min: float, active: dict[int, bool]) -> PollResult:
    """A poll with device_data only; ``active`` overrides some devices' active flag."""
    when = at(when_min)
    records = tuple(
        replace(r, active=active.get(int(r.serial[-8:]), True)) if isinstance(r, Inverter) else r
        for r in device_data(when, count=4)
    )
    result = EndpointResult("device_data", "/d", when, 100, 200, None, records, b"{}", "x")
    return replace(make_poll(when, inverters=4), endpoints=(result,))


def test_inverter_sightings_apply_per_device_and_an_older_one_changes_nothing(
    store: Store,
) -> None:
    save_poll(store, _device_data_poll(0, {}))
    save_poll(store, _device_data_poll(10, {0: False}))  # two distinct sightings in one poll
    later = rows(
        store, "SELECT serial, active, first_seen_at, last_seen_at FROM inverters ORDER BY serial"
    )
    assert [r[1] for r in later] == [False, True, True, True]
    save_poll(store, _device_data_poll(5, {1: False, 0: True}))  # replayed late
    with store.reading("q") as conn:
        got = conn.execute(inverters.select().order_by(inverters.c.serial)).all()
    assert [r.active for r in got] == [False, True, True, True]
    assert {(r.first_seen_at, r.last_seen_at) for r in got} == {(at(0), at(10))}


def test_a_batch_larger_than_one_statement_page_is_stored_and_counted(store: Store) -> None:
    polls = [only(make_poll(at(m)), "production_json") for m in range(260)]  # 1040 readings
    summary = save_polls(store, polls)
    stored = counts(store)
    assert stored["system_readings"] == summary.system_readings == 1040
    assert stored["phase_readings"] == summary.phase_readings == 260 * 9
    assert save_polls(store, polls).rows == 0


def test_the_merged_inverter_row_is_counted_once_and_a_gap_fill_counts(store: Store) -> None:
    poll = make_poll()
    first = save_poll(store, only(poll, "api_v1_inverters"))
    again = save_poll(store, replace(only(poll, "api_v1_inverters"), started_at=at(0.2)))
    filled = save_poll(store, replace(only(poll, "device_data"), started_at=at(0.5)))
    assert (first.inverter_readings, again.inverter_readings) == (36, 0)
    assert filled.inverter_readings == 36  # the detail columns filled
    assert counts(store)["inverter_readings"] == 36
    assert T0.tzinfo is UTC


def test_float_columns_round_trip_with_ints_and_nulls_in_any_mix(store: Store) -> None:
    poll = only(make_poll(), "meter_readings")
    readings = poll.endpoints[0].records
    watts = [None, 1000, 2.5, -0.0, 1e300, None]  # cycled: some NULLs, an int, extremes
    mixed = tuple(
        replace(r, watts=watts[i % len(watts)], va=None, var=float(i))
        for i, r in enumerate(readings)
    )
    save_poll(store, replace(poll, endpoints=(replace(poll.endpoints[0], records=mixed),)))
    stored = rows(store, "SELECT watts, va, var FROM meter_readings ORDER BY var")
    assert stored == [(watts[i % len(watts)], None, float(i)) for i in range(len(readings))]


def flagged(poll: PollResult, endpoint: str, flag: ReadingFlag) -> PollResult:
    """The poll's `endpoint` alone, its readings carrying `flag`."""
    result = only(poll, endpoint).endpoints[0]
    records = tuple(
        replace(r, flags=(flag,)) if isinstance(r, MeterReading | InverterReading) else r
        for r in result.records
    )
    return replace(poll, endpoints=(replace(result, records=records),))


def test_meter_and_inverter_flags_are_stored_as_their_bits(store: Store) -> None:
    poll = make_poll()
    save_poll(store, flagged(poll, "meter_readings", ReadingFlag.IMPLAUSIBLE_POWER))
    later = replace(poll, started_at=at(0.5))  # a poll already stored adds nothing
    save_poll(store, flagged(later, "api_v1_inverters", ReadingFlag.CLOCK_SKEW))
    meter_bits = rows(store, "SELECT DISTINCT flags FROM meter_readings")
    inverter_bits = rows(store, "SELECT DISTINCT flags FROM inverter_readings")
    assert meter_bits == [(FLAG_BITS[ReadingFlag.IMPLAUSIBLE_POWER],)]
    assert inverter_bits == [(FLAG_BITS[ReadingFlag.CLOCK_SKEW],)]


def test_a_flag_either_endpoint_raised_on_a_merged_inverter_report_stays(store: Store) -> None:
    poll = make_poll()
    save_poll(store, flagged(poll, "device_data", ReadingFlag.IMPLAUSIBLE_COUNTER))
    merged = save_poll(store, replace(only(poll, "api_v1_inverters"), started_at=at(0.5)))
    again = save_poll(store, replace(only(poll, "api_v1_inverters"), started_at=at(0.7)))
    assert merged.inverter_readings == 36  # watts filled in, the flag kept
    assert again.inverter_readings == 0
    bits = rows(store, "SELECT DISTINCT flags FROM inverter_readings")
    assert bits == [(FLAG_BITS[ReadingFlag.IMPLAUSIBLE_COUNTER],)]
