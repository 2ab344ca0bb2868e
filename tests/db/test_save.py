"""save_poll: everything stored once, all or nothing, and the same whatever the order."""

from __future__ import annotations

from dataclasses import replace

import pytest
from db_queries import counts, dump, rows
from factories import T0, at, make_poll, meter_configs, only

from envoylog.db import Store, save_poll, save_polls
from envoylog.db import readings as readings_module
from envoylog.db.models import FLAG_BITS
from envoylog.records import ReadingFlag, SystemReading

pytestmark = pytest.mark.usefixtures("backend")


def test_a_full_poll_fills_every_table(store: Store) -> None:
    summary = save_poll(store, make_poll())
    assert counts(store) == {
        "gateways": 1,
        "polls": 1,
        "poll_endpoints": 7,
        "raw_bodies": 7,
        "system_readings": 4,
        "phase_readings": 9,
        "meters": 3,
        "meter_readings": 12,
        "inverters": 36,
        "inverter_readings": 36,
        "gateway_events": 1,
        "batteries": 0,
        "battery_readings": 0,
        "battery_system_readings": 0,
    }
    assert summary.polls == 1 and summary.meter_readings == 12 and summary.skipped_polls == 0


def test_gateway_row_takes_firmware_from_info_and_timezone_from_home(store: Store) -> None:
    save_poll(store, make_poll())
    assert rows(store, "SELECT serial, firmware, metered, timezone, part_number FROM gateways") == [
        ("122233445566", "8.2.4345", True, "Europe/Berlin", "800-00654-r08")
    ]


def test_failed_endpoints_are_recorded_and_the_rest_stored(store: Store) -> None:
    save_poll(store, make_poll(fail=("production_json", "device_data")))
    failed = rows(
        store,
        "SELECT endpoint, http_status, error FROM poll_endpoints "
        "WHERE error IS NOT NULL ORDER BY endpoint",
    )
    assert failed == [
        ("device_data", 503, "HTTP 503: busy"),
        ("production_json", 503, "HTTP 503: busy"),
    ]
    assert rows(store, "SELECT status FROM polls") == [("partial",)]
    stored = counts(store)
    assert stored["system_readings"] == 0
    assert stored["meter_readings"] == 12
    assert stored["inverter_readings"] == 36


def test_an_exception_mid_save_leaves_no_row_of_the_poll(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object) -> None:
        raise RuntimeError("injected")

    monkeypatch.setattr(readings_module, "_meter_rows", explode)
    with pytest.raises(RuntimeError, match="injected"):
        save_poll(store, make_poll())
    assert set(counts(store).values()) == {0}
    monkeypatch.undo()
    save_poll(store, make_poll())  # the id caches were not poisoned by the rolled-back ids
    assert counts(store)["meter_readings"] == 12


def test_the_same_poll_twice_adds_nothing(store: Store) -> None:
    save_poll(store, make_poll())
    before = counts(store)
    summary = save_poll(store, make_poll())
    assert counts(store) == before
    assert summary.rows == 0 and summary.skipped_polls == 1


def test_replaying_older_polls_after_newer_ones_adds_nothing(store: Store) -> None:
    polls = [make_poll(at(m)) for m in range(4)]
    for poll in polls:
        save_poll(store, poll)
    before = counts(store)
    assert save_polls(store, polls[:2]).rows == 0
    assert save_poll(store, polls[0]).rows == 0
    assert counts(store) == before


def test_readings_seen_again_in_a_new_poll_are_not_duplicated(store: Store) -> None:
    save_poll(store, make_poll(at(0)))
    summary = save_poll(store, make_poll(at(1)))  # inverters have not reported again
    assert summary.inverter_readings == 0
    assert counts(store)["inverter_readings"] == 36


@pytest.mark.parametrize("first", ["api_v1_inverters", "device_data"])
def test_inverter_reports_merge_to_the_same_row_in_either_order(store: Store, first: str) -> None:
    poll = make_poll()
    second = "device_data" if first == "api_v1_inverters" else "api_v1_inverters"
    save_poll(store, only(poll, first))
    save_poll(store, replace(only(poll, second), started_at=at(0.5)))
    merged = rows(
        store,
        "SELECT watts, max_watts, wh_lifetime, dc_voltage_v, temperature_c FROM inverter_readings "
        "JOIN inverters ON inverters.id = inverter_id WHERE serial = '482100000003'",
    )
    # watts from /api/v1/production/inverters (253), the detail from device_data
    assert merged == [(253.0, 295.0, 500003.0, 35.125, 41.0)]


def test_inverter_merge_in_both_orders_gives_identical_tables(store: Store) -> None:
    poll = make_poll()
    save_poll(store, only(poll, "device_data", "api_v1_inverters"))
    forward = dump(store, "inverter_readings", "inverter_id, reported_at")
    reordered = replace(
        poll, endpoints=tuple(reversed(only(poll, "device_data", "api_v1_inverters").endpoints))
    )
    with store.transaction("wipe") as txn:
        txn.conn.exec_driver_sql("DELETE FROM inverter_readings")
    save_poll(store, replace(reordered, started_at=at(0.5)))
    assert dump(store, "inverter_readings", "inverter_id, reported_at") == forward


def test_firmware_change_becomes_an_event(store: Store) -> None:
    save_poll(store, make_poll(at(0), firmware="7.6.175"))
    save_poll(store, make_poll(at(1), firmware="7.6.175"))
    save_poll(store, make_poll(at(2), firmware="8.2.4345"))
    events = rows(store, "SELECT kind, detail FROM gateway_events ORDER BY at")
    assert events == [
        ("firmware-change", "first seen: 7.6.175"),
        ("firmware-change", "from 7.6.175 to 8.2.4345"),
    ]
    assert rows(store, "SELECT firmware FROM gateways") == [("8.2.4345",)]


def test_an_old_poll_replayed_late_does_not_set_the_firmware_back(store: Store) -> None:
    save_poll(store, make_poll(at(5), firmware="8.2.4345"))
    save_poll(store, make_poll(at(1), firmware="7.6.175"))
    assert rows(store, "SELECT firmware FROM gateways") == [("8.2.4345",)]
    assert len(rows(store, "SELECT * FROM gateway_events")) == 1


def test_meter_configuration_change_becomes_an_event(store: Store) -> None:
    save_poll(store, make_poll(at(0)))
    save_poll(store, make_poll(at(1), meters=meter_configs(state="disabled")))
    events = rows(store, "SELECT detail FROM gateway_events WHERE kind = 'meter-config-change'")
    assert len(events) == 3
    assert "state enabled -> disabled" in events[0][0]
    assert rows(store, "SELECT DISTINCT state FROM meters") == [("disabled",)]


def test_reading_flags_are_stored_as_bits(store: Store) -> None:
    poll = make_poll()
    production = poll.endpoints[4]
    flagged = tuple(
        replace(r, flags=(ReadingFlag.CT_INACTIVE, ReadingFlag.ZERO_LIFETIME))
        if isinstance(r, SystemReading)
        else r
        for r in production.records
    )
    poll = replace(poll, endpoints=(replace(production, records=flagged),))
    save_poll(store, poll)
    assert {f for (f,) in rows(store, "SELECT flags FROM system_readings")} == {1 | 4}


def test_every_reading_flag_has_its_own_bit() -> None:
    assert set(FLAG_BITS) == set(ReadingFlag)
    assert len(set(FLAG_BITS.values())) == len(FLAG_BITS)


def test_instants_come_back_as_aware_utc(store: Store) -> None:
    save_poll(store, make_poll())
    with store.reading("q") as conn:
        from envoylog.db.models import polls

        started = conn.execute(polls.select()).one().started_at
    assert started == T0 and started.utcoffset() is not None
