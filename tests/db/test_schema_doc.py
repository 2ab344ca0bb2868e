"""docs/schema.md cannot rot: every ```sql block runs against a database filled by save_poll
and rolled up."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from factories import make_poll, meter_configs
from sqlalchemy import text

from envoylog.db import Store, save_poll
from envoylog.db.models import Base
from envoylog.energy.rollup import rollup
from envoylog.records import InverterReading, MeterReading, PollResult, ReadingFlag, SystemReading

DOC = Path(__file__).resolve().parents[2] / "docs" / "schema.md"
BLOCKS = re.findall(r"```sql\n(.*?)```", DOC.read_text(), flags=re.S)


def test_the_doc_has_a_dozen_queries() -> None:
    assert len(BLOCKS) >= 12


def test_every_table_and_column_is_documented() -> None:
    doc = DOC.read_text()
    for table in Base.metadata.sorted_tables:
        assert f"`{table.name}`" in doc, table.name
        for column in table.columns:
            assert f"`{column.name}`" in doc, f"{table.name}.{column.name}"


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Store:
    from envoylog.db import open_store

    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('doc') / 'doc.sqlite'}")
    # Fixed minutes past the hour: the inverter report times (5-minute steps) then fall so
    # that the zeroed poll below carries new reports, whatever the time the suite runs.
    now = datetime.now(UTC).replace(minute=4, second=0, microsecond=0)
    if now > datetime.now(UTC):
        now -= timedelta(hours=1)
    # An inverter that reported once, days ago, then never again.
    save_poll(store, make_poll(now - timedelta(days=3), inverters=37))
    for minute in [*range(0, 30), *range(40, 50)]:
        when = now - timedelta(hours=2) + timedelta(minutes=minute)
        fail = ("device_data",) if minute % 7 == 0 else ()
        firmware = "8.2.4345" if minute < 45 else "8.3.5167"
        meters = meter_configs() if minute < 45 else meter_configs(state="disabled")
        poll = make_poll(when, firmware=firmware, fail=fail, meters=meters)
        if minute == 49:
            poll = _flag_production(poll)
        if minute == 20:
            poll = _zero_meters(poll)
        save_poll(store, poll)
    rollup(store)  # the energy tables, and a counter-glitch event for the zero readings
    return store


def _zero_meters(poll: PollResult) -> PollResult:
    """The CT and inverter counters read 0 once, as after a gateway restart."""
    endpoints = []
    for result in poll.endpoints:
        records = tuple(
            replace(r, wh_delivered=0.0, wh_received=0.0)
            if isinstance(r, MeterReading)
            else replace(r, wh_lifetime=0.0)
            if isinstance(r, InverterReading) and r.wh_lifetime is not None
            else r
            for r in result.records
        )
        endpoints.append(replace(result, records=records))
    return replace(poll, endpoints=tuple(endpoints))


def _flag_production(poll: PollResult) -> PollResult:
    endpoints = []
    for result in poll.endpoints:
        records = tuple(
            replace(r, flags=(ReadingFlag.CT_INACTIVE,)) if isinstance(r, SystemReading) else r
            for r in result.records
        )
        endpoints.append(replace(result, records=records))
    return replace(poll, endpoints=tuple(endpoints))


@pytest.mark.parametrize("sql", BLOCKS, ids=[f"query{i}" for i in range(len(BLOCKS))])
def test_doc_query_runs_and_answers(filled: Store, sql: str) -> None:
    with filled.reading("doc query") as conn:
        result = conn.execute(text(sql)).all()
    assert result, f"no rows from:\n{sql}"
