"""docs/schema.md cannot rot: every query runs on SQLite and PostgreSQL against a database
filled by save_poll and rolled up, and its figures are checked against the energy tables.

The site: a gateway polled every minute for three hours with a 10-minute gap, failed
endpoints, a firmware and a meter change, a flagged reading and a counter that read
0 once; one weak inverter, one whose 32-bit counter wraps, one the gateway lists as
removed (its last report three days old); and a second gateway beside it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from factories import T0, battery_serial, inverter_serial, make_poll, meter_configs
from sqlalchemy import text

from envoylog.db import Store, open_store, save_polls
from envoylog.db.models import Base
from envoylog.db.raw import prune_raw_bodies
from envoylog.energy import WRAP_WH
from envoylog.energy.rollup import rollup
from envoylog.history.compact import compact
from envoylog.history.settings import STEP_DEFAULT
from envoylog.records import (
    Inverter,
    InverterReading,
    MeterReading,
    PollResult,
    ReadingFlag,
    SystemReading,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "schema.md"
QUERIES = DOC.read_text().split("## Example queries", 1)[1].split("\n## ", 1)[0]
SECTIONS = dict(re.findall(r"\n### (.+?)\n(.*?)(?=\n### |\Z)", QUERIES, flags=re.S))
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]

WEAK, WRAPPED, REMOVED = inverter_serial(2), inverter_serial(5), inverter_serial(7)
SILENT = inverter_serial(36)  # reported once, three days before, and never listed again
GAP = range(60, 70)  # minutes without a poll
SILENT_BATTERY = battery_serial(1)  # listed until minute 50, then never again
MINUTES = [m for m in range(181) if m not in GAP]


def blocks(section: str, backend: str) -> list[str]:
    """The section's queries that run on ``backend`` (unmarked blocks run on both)."""
    found = re.findall(r"```sql( \w+)?\n(.*?)```", SECTIONS[section], flags=re.S)
    return [sql for dialect, sql in found if dialect.strip() in ("", backend)]


def test_the_doc_has_a_dozen_queries_each_for_both_backends() -> None:
    assert len(SECTIONS) >= 12
    for section in SECTIONS:
        assert len(blocks(section, "sqlite")) == 1, section
        assert len(blocks(section, "postgresql")) == 1, section
        assert "gateway" in blocks(section, "sqlite")[0].split("FROM")[0], section


def test_every_table_and_column_is_documented() -> None:
    doc = DOC.read_text()
    for table in Base.metadata.sorted_tables:
        assert f"`{table.name}`" in doc, table.name
        for column in table.columns:
            assert f"`{column.name}`" in doc, f"{table.name}.{column.name}"


def _site(poll: PollResult, minute: int) -> PollResult:
    """The factory's poll with a weak, a wrapping and a removed inverter, a zero and a flag."""
    endpoints = []
    for result in poll.endpoints:
        records: list[Any] = []
        for r in result.records:
            serial = getattr(r, "serial", None)
            if serial == REMOVED and minute >= 0:  # removed: listed inactive, last report old
                if isinstance(r, Inverter) and result.endpoint == "device_data":
                    records.append(replace(r, active=False))
                continue
            if isinstance(r, InverterReading) and r.wh_lifetime is not None:
                if serial == WEAK:
                    r = replace(r, wh_lifetime=5e5 + (r.wh_lifetime - 5e5) / 2)
                elif serial == WRAPPED:
                    r = replace(r, wh_lifetime=(r.wh_lifetime - 5e5 + WRAP_WH - 300) % WRAP_WH)
            if serial == SILENT_BATTERY and minute > 50:
                continue
            if minute == 20 and isinstance(r, MeterReading):  # a restart's zeros
                r = replace(r, wh_delivered=0.0, wh_received=0.0)
            if minute == 49 and isinstance(r, SystemReading):
                r = replace(r, flags=(ReadingFlag.CT_INACTIVE,))
            records.append(r)
        endpoints.append(replace(result, records=tuple(records)))
    return replace(poll, endpoints=tuple(endpoints))


def fill(store: Store) -> None:
    polls = [_site(make_poll(T0 - timedelta(days=3), inverters=37), -4320)]
    for minute in MINUTES:
        late = minute >= 150
        poll = make_poll(
            T0 + timedelta(minutes=minute),
            firmware="8.3.5167" if late else "8.2.4345",
            fail=("device_data",) if minute % 7 == 0 else (),
            meters=meter_configs(state="disabled") if late else meter_configs(),
            batteries=2,
        )
        polls.append(_site(poll, minute))
    for minute in range(31):
        poll = make_poll(T0 + timedelta(minutes=minute), serial="202400000002", inverters=3)
        polls.append(replace(poll, gateway=replace(poll.gateway, name="garage")))
    save_polls(store, polls)
    rollup(store)


# Each backend as polled, and compacted (every day: the queries read both tiers alike).
TIERS = [
    pytest.param((backend, compacted), marks=backend.marks, id=f"{backend.values[0]}-{tier}")
    for backend in (pytest.param("sqlite"), *BACKENDS[1:])
    for compacted, tier in ((False, "as-polled"), (True, "compacted"))
]


@pytest.fixture(scope="module", params=TIERS)
def filled(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    backend, compacted = request.param
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('doc') / 'doc.sqlite'}"
    else:
        name = f"schema_doc_{'compacted' if compacted else 'polled'}"
        server = request.getfixturevalue("pg_server")
        server.drop_database(name)  # pytest may set a module fixture up again
        url = server.create_database(name)
    store = open_store(url)
    fill(store)
    if compacted:
        later = datetime(2030, 1, 1, tzinfo=UTC)
        prune_raw_bodies(store, later)  # as the service has long before a day is compacted
        done = compact(store, now=later, window_days=0, step=STEP_DEFAULT, before=later.date())
        assert done.days >= 2 and done.readings_after < done.readings_before / 4
    try:
        yield store
    finally:
        store.close()


def query(store: Store, sql: str) -> list[dict[str, Any]]:
    with store.reading("doc query") as conn:
        return [dict(r._mapping) for r in conn.execute(text(sql))]


def table(store: Store, sql: str) -> list[tuple[Any, ...]]:
    with store.reading("expected figures") as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def near(a: Any, b: Any, tolerance: float = 0.0015) -> bool:
    return (a is None and b is None) or abs(float(a) - float(b)) <= tolerance


GATEWAYS = {"roof", "garage"}


def check_hours(store: Store, rows: list[dict[str, Any]]) -> None:
    assert {r["gateway"] for r in rows} == GATEWAYS
    days = dict(table(store, "SELECT g.name, d.production_wh FROM energy_daily d "
                             "JOIN gateways g ON g.id = d.gateway_id "
                             "WHERE d.day = (SELECT max(x.day) FROM energy_daily x "
                             "WHERE x.gateway_id = d.gateway_id)"))  # fmt: skip
    for gateway, wh in days.items():
        hours = [r["wh_produced"] for r in rows if r["gateway"] == gateway]
        assert abs(sum(float(h) for h in hours) - wh) <= 0.5 * len(hours)


def check_grid(store: Store, rows: list[dict[str, Any]]) -> None:
    stored = {
        (name, str(day)): (imp, exp)
        for name, day, imp, exp in table(
            store, "SELECT g.name, d.day, d.import_wh, d.export_wh FROM energy_daily d "
            "JOIN gateways g ON g.id = d.gateway_id"
        )
    }  # fmt: skip
    assert rows and {r["gateway"] for r in rows} == GATEWAYS
    for r in rows:
        imp, exp = stored[(r["gateway"], str(r["day"]))]
        assert near(r["kwh_imported"], None if imp is None else imp / 1000)
        assert near(r["kwh_exported"], None if exp is None else exp / 1000)


def check_weakest(store: Store, rows: list[dict[str, Any]]) -> None:
    roof = [r for r in rows if r["gateway"] == "roof"]
    # A silent inverter made nothing; after it the weak one, not the removed or the wrapped one.
    assert [r["inverter_serial"] for r in roof[:2]] == [SILENT, WEAK]
    assert float(roof[0]["kwh_this_month"]) == 0
    assert REMOVED not in {r["inverter_serial"] for r in rows}
    wrapped, normal = (
        table(store, "SELECT sum(d.wh) FROM inverter_daily d JOIN inverters i ON i.id = "
                     f"d.inverter_id WHERE i.serial = '{serial}' AND i.gateway_id = 1")[0][0]
        for serial in (WRAPPED, inverter_serial(4))
    )  # fmt: skip
    assert wrapped == pytest.approx(normal, rel=0.01)  # a wrap is no megawatt-hour
    for r in rows:
        (kwh,) = table(store, "SELECT sum(d.wh) / 1000 FROM inverter_daily d JOIN inverters i "
                              "ON i.id = d.inverter_id JOIN gateways g ON g.id = i.gateway_id "
                              f"WHERE i.serial = '{r['inverter_serial']}' "
                              f"AND g.name = '{r['gateway']}' "
                              "AND CAST(d.day AS text) >= '2026-06-01'")[0]  # fmt: skip
        assert near(r["kwh_this_month"], kwh)


def check_voltage(store: Store, rows: list[dict[str, Any]]) -> None:
    assert {r["gateway"] for r in rows} == GATEWAYS
    assert all(r["local_hour"] is not None for r in rows)
    for r in rows:
        assert near(r["avg_voltage_v"], 230.125 + r["phase"], 0.06)


def check_power_hours(store: Store, rows: list[dict[str, Any]]) -> None:
    assert {r["gateway"] for r in rows} == GATEWAYS
    for r in rows:
        assert r["min_w"] <= float(r["avg_w"]) + 0.5 and float(r["avg_w"]) - 0.5 <= r["max_w"]
    for gateway in GATEWAYS:  # every trusted reading counted once, compacted or not
        counts = "SELECT sum(coalesce(p.samples, 1)) FROM polls p JOIN gateways g "
        (polls,) = table(store, f"{counts} ON g.id = p.gateway_id WHERE g.name = '{gateway}'")[0]
        for measurement in {r["measurement_type"] for r in rows if r["gateway"] == gateway}:
            counted = sum(
                int(r["readings"])
                for r in rows
                if r["gateway"] == gateway and r["measurement_type"] == measurement
            )
            assert polls - 1 <= counted <= polls, (gateway, measurement)


def check_gaps(store: Store, rows: list[dict[str, Any]]) -> None:
    roof = [r for r in rows if r["gateway"] == "roof"]
    assert [float(r["minutes"]) for r in roof][-1] == 11  # minute 59 to minute 70
    assert float(roof[0]["minutes"]) > 3 * 24 * 60 - 1  # the poll three days before


def check_firmware(store: Store, rows: list[dict[str, Any]]) -> None:
    assert any(r["gateway"] == "roof" and "8.3.5167" in r["detail"] for r in rows)


def check_failures(store: Store, rows: list[dict[str, Any]]) -> None:
    (roof,) = [r for r in rows if r["gateway"] == "roof"]
    assert roof["endpoint"] == "device_data"
    assert roof["failures"] == len([m for m in MINUTES if m % 7 == 0])


def check_status(store: Store, rows: list[dict[str, Any]]) -> None:
    counts = {(r["gateway"], r["status"]): r["polls"] for r in rows}
    assert counts[("roof", "partial")] == len([m for m in MINUTES if m % 7 == 0])
    assert counts[("garage", "ok")] == 31


def check_power(store: Store, rows: list[dict[str, Any]]) -> None:
    ct = {(r["gateway"], r["measurement"]) for r in rows if r["source"] == "ct"}
    assert ("roof", "production") in ct and ("garage", "net-consumption") in ct
    # A compacted row's mean power is in whole watts.
    assert all(near(r["watts"], 3000.369, 0.5) for r in rows if r["source"] == "ct")


def check_phases(store: Store, rows: list[dict[str, Any]]) -> None:
    assert sorted((r["gateway"], r["phase"]) for r in rows) == sorted(
        (g, p) for g in GATEWAYS for p in (1, 2, 3)
    )


def check_untrusted(store: Store, rows: list[dict[str, Any]]) -> None:
    assert rows and all(r["gateway"] == "roof" and r["why"].startswith("ct-inactive") for r in rows)
    assert all(r["local_time"] is not None for r in rows)


def check_stopped(store: Store, rows: list[dict[str, Any]]) -> None:
    stopped = {(r["gateway"], r["serial"]) for r in rows}
    assert ("roof", REMOVED) in stopped and ("roof", SILENT) in stopped


def check_removed(store: Store, rows: list[dict[str, Any]]) -> None:
    assert [(r["gateway"], r["serial"]) for r in rows] == [("roof", REMOVED)]


def check_meter_changes(store: Store, rows: list[dict[str, Any]]) -> None:
    assert rows and {r["gateway"] for r in rows} == {"roof"}


def check_month(store: Store, rows: list[dict[str, Any]]) -> None:
    stored = {
        (name, str(day)): wh
        for name, day, wh in table(
            store,
            "SELECT g.name, d.day, d.production_wh "
            "FROM energy_daily d JOIN gateways g ON g.id = "
            "d.gateway_id",
        )
    }
    assert {r["gateway"] for r in rows} == GATEWAYS
    for r in rows:
        assert near(r["kwh_produced"], stored[(r["gateway"], str(r["day"]))] / 1000, 0.006)


def check_years(store: Store, rows: list[dict[str, Any]]) -> None:
    monthly = "SELECT g.name, sum(m.production_wh) FROM energy_monthly m JOIN gateways g "
    stored = dict(table(store, monthly + "ON g.id = m.gateway_id GROUP BY g.name"))
    for gateway, wh in stored.items():
        shown = sum(float(r["kwh_produced"]) for r in rows if r["gateway"] == gateway)
        assert near(shown, wh / 1000, 0.06)


def check_last_hours(store: Store, rows: list[dict[str, Any]]) -> None:
    stored = {
        (name, local): wh
        for name, local, wh in table(
            store,
            "SELECT g.name, h.local_start, h.production_wh FROM "
            "energy_hourly h JOIN gateways g ON g.id = "
            "h.gateway_id",
        )
    }
    assert {r["gateway"] for r in rows} == GATEWAYS
    assert all(r["production_wh"] == stored[(r["gateway"], r["local_start"])] for r in rows)


def check_corrections(store: Store, rows: list[dict[str, Any]]) -> None:
    kinds = {(r["gateway"], r["kind"]) for r in rows}
    assert ("roof", "counter-wrap") in kinds
    assert any(WRAPPED in r["detail"] for r in rows if r["kind"] == "counter-wrap")


def check_battery_hours(store: Store, rows: list[dict[str, Any]]) -> None:
    assert {(r["gateway"], r["battery_serial"]) for r in rows} == {
        ("roof", battery_serial(0)),
        ("roof", SILENT_BATTERY),
    }
    assert all(near(r["avg_watts"], -1200) for r in rows)
    (lowest, highest) = table(store, "SELECT min(soc_pct), max(soc_pct) FROM battery_readings "
                                     "WHERE battery_id = 1 AND watts IS NOT NULL")[0]  # fmt: skip
    mine = [r for r in rows if r["battery_serial"] == battery_serial(0)]
    assert near(min(float(r["min_soc_pct"]) for r in mine), lowest, 0.06)
    assert near(max(float(r["max_soc_pct"]) for r in mine), highest, 0.06)


def check_battery_days(store: Store, rows: list[dict[str, Any]]) -> None:
    stored = {
        (name, str(day)): (charge, soc_end)
        for name, day, charge, soc_end in table(
            store, "SELECT g.name, d.day, d.battery_charge_wh, d.soc_end_pct FROM energy_daily d "
            "JOIN gateways g ON g.id = d.gateway_id"
        )
    }  # fmt: skip
    assert rows and {r["gateway"] for r in rows} == {"roof"}
    for r in rows:
        charge, soc_end = stored[(r["gateway"], str(r["day"]))]
        assert near(r["kwh_charged"], charge / 1000) and r["soc_end_pct"] == soc_end
        assert r["battery_source"] == "power-integral" and float(r["kwh_charged"]) > 0


def check_silent_batteries(store: Store, rows: list[dict[str, Any]]) -> None:
    assert [(r["gateway"], r["serial"]) for r in rows] == [("roof", SILENT_BATTERY)]


CHECKS: dict[str, Callable[[Store, list[dict[str, Any]]], None]] = {
    "Production and consumption by local hour, the latest day logged": check_hours,
    "Grid import and export per day, the last 7 days logged": check_grid,
    "The weakest inverters this month (removed ones left out)": check_weakest,
    "Voltage per phase of each CT meter, by local hour": check_voltage,
    "Power per local hour, compacted days and days as polled alike": check_power_hours,
    "Gaps in logging: polls more than 3 minutes apart": check_gaps,
    "Firmware history": check_firmware,
    "Failed endpoints in the last day logged, most frequent first": check_failures,
    "Poll status over the last day logged": check_status,
    "Power now: the latest CT reading of each meter (and production.json's)": check_power,
    "Per-phase production power, the latest production.json reading": check_phases,
    "Readings not to trust (any flag set)": check_untrusted,
    "Inverters that stopped reporting (nothing in the last day of the gateway's reports)": (
        check_stopped
    ),
    "Removed inverters (the gateway lists them as no longer active)": check_removed,
    "Meter configuration history": check_meter_changes,
    "Daily production and self-sufficiency, the month of the latest day logged": check_month,
    "Months compared year over year": check_years,
    "The last 24 hours rolled up, with their real UTC offsets (DST-proof)": check_last_hours,
    "Counter corrections the rollup made": check_corrections,
    "Battery state of charge and power by local hour": check_battery_hours,
    "Battery charge, discharge and state of charge per day": check_battery_days,
    "Batteries that stopped talking (no report in the gateway's last hour)": (
        check_silent_batteries
    ),
}


# The queries on the poll log: a compacted day must give the very rows it gave as polled.
POLL_LOG = (
    "Gaps in logging: polls more than 3 minutes apart",
    "Failed endpoints in the last day logged, most frequent first",
    "Poll status over the last day logged",
)


def test_the_poll_log_queries_read_compacted_days_as_polled(db_url: str) -> None:
    with open_store(db_url) as store:
        fill(store)
        (rows,) = table(store, "SELECT count(*) FROM polls")[0]
        before = {s: query(store, blocks(s, store.dialect)[0]) for s in POLL_LOG}
        later = datetime(2030, 1, 1, tzinfo=UTC)
        prune_raw_bodies(store, later)  # a poll whose raw body is kept is kept as polled
        compact(store, now=later, window_days=0, step=STEP_DEFAULT, before=later.date())
        assert table(store, "SELECT count(*) FROM polls")[0][0] < rows / 3  # runs were folded
        assert {s: query(store, blocks(s, store.dialect)[0]) for s in POLL_LOG} == before


def test_every_query_in_the_doc_has_its_check() -> None:
    assert set(CHECKS) == set(SECTIONS)


@pytest.mark.parametrize("section", list(CHECKS))
def test_doc_query_runs_and_its_figures_match_the_energy_tables(
    filled: Store, section: str
) -> None:
    (sql,) = blocks(section, filled.dialect)
    rows = query(filled, sql)
    assert rows, f"no rows from:\n{sql}"
    CHECKS[section](filled, rows)
