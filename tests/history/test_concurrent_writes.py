"""On PostgreSQL, `envoylog compact` run beside the service compacts days while the
service's store worker goes on storing: a poll stored meanwhile is kept, and a day whose
readings change meanwhile is left as it is for the next run (SQLite's write lock keeps
the store worker waiting instead)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from exactness import compact_all, snapshot
from sqlalchemy import create_engine, func, insert, select, text, update
from week import fill

from envoylog.cli import cli
from envoylog.db import Store, open_store
from envoylog.db import history as history_sql
from envoylog.db.models import compacted_days, meter_readings, meters

Action = Callable[[Any, datetime, datetime], None]  # (engine, day start, day end)


@pytest.fixture
def store(pg_url: str) -> Iterator[Store]:
    opened = open_store(pg_url)
    try:
        fill(opened, days=2)
        snapshot(opened)  # rolled up
        yield opened
    finally:
        opened.close()


def meanwhile(monkeypatch: pytest.MonkeyPatch, store: Store, action: Action) -> None:
    """Run ``action`` on a connection of its own, committed, once: after the first day's
    rows are read and before they are replaced."""
    read = history_sql.read_rows
    other = create_engine(store.engine.url)
    done: list[bool] = []

    def read_then_act(conn: Any, gateway_id: int, reach: history_sql.Reach) -> Any:
        rows = read(conn, gateway_id, reach)
        if not done:
            done.append(True)
            action(other, reach.lo, reach.hi)
        return rows

    monkeypatch.setattr(history_sql, "read_rows", read_then_act)


def production_meter(store: Store) -> int:
    with store.reading("the production meter") as conn:
        query = select(meters.c.id).where(meters.c.measurement_type == "production")
        return int(conn.execute(query).scalar_one())


def test_a_poll_stored_while_its_day_is_compacted_is_kept(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    meter = production_meter(store)
    late: list[datetime] = []

    def store_late_reading(engine: Any, lo: datetime, hi: datetime) -> None:
        at = lo + (hi - lo) / 2 + timedelta(seconds=17)  # inside the day, no reading there
        late.append(at)
        with engine.begin() as conn:
            row = {"meter_id": meter, "channel": 0, "measured_at": at, "watts": 1234.0}
            conn.execute(insert(meter_readings).values(**row, wh_delivered=None))

    meanwhile(monkeypatch, store, store_late_reading)
    assert compact_all(store).days >= 2
    with store.reading("the late reading") as conn:
        m = meter_readings.c
        found = conn.execute(select(m.watts).where(m.meter_id == meter, m.measured_at == late[0]))
        assert found.scalars().all() == [1234.0]


def test_a_day_whose_readings_change_while_compacted_is_left_for_the_next_run(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    meter = production_meter(store)
    m = meter_readings.c
    changed: list[datetime] = []

    def change_a_reading(engine: Any, lo: datetime, hi: datetime) -> None:
        inside = (m.meter_id == meter, m.channel == 0, m.measured_at >= lo + (hi - lo) / 2)
        with engine.begin() as conn:
            at = conn.execute(select(func.min(m.measured_at)).where(*inside)).scalar_one()
            changed.append(at)
            conn.execute(
                update(meter_readings)
                .where(m.meter_id == meter, m.channel == 0, m.measured_at == at)
                .values(watts=4321.0)
            )

    meanwhile(monkeypatch, store, change_a_reading)
    with caplog.at_level("INFO", logger="envoylog.history.compact"):
        first = compact_all(store)
    assert first.changed == 1 and first.skipped == 0 and first.days >= 1
    assert "reason=changed_meanwhile" in caplog.text
    monkeypatch.undo()
    with store.reading("the changed reading") as conn:
        query = select(m.watts).where(
            m.meter_id == meter, m.channel == 0, m.measured_at == changed[0]
        )
        assert conn.execute(query).scalar_one() == 4321.0  # as changed, not compacted
        days = conn.execute(select(func.count()).select_from(compacted_days)).scalar_one()
    second = compact_all(store)
    assert second.days == 1 and second.changed == 0
    with store.reading("compacted days") as conn:
        assert (
            conn.execute(select(func.count()).select_from(compacted_days)).scalar_one() == days + 1
        )


def test_envoylog_compact_says_which_days_changed_while_compacted(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    meter = production_meter(store)
    m = meter_readings.c

    def change_a_reading(engine: Any, lo: datetime, hi: datetime) -> None:
        with engine.begin() as conn:
            inside = (m.meter_id == meter, m.channel == 0, m.measured_at >= lo + (hi - lo) / 2)
            at = conn.execute(select(func.min(m.measured_at)).where(*inside)).scalar_one()
            conn.execute(update(meter_readings).where(*inside, m.measured_at == at).values(watts=1))

    meanwhile(monkeypatch, store, change_a_reading)
    url = store.engine.url.render_as_string(hide_password=False)
    # One process: the change is made from within this one (other processes plan unpatched).
    args = ["compact", "--db", url, "--before", "2030-01-01", "--jobs", "1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "1 gateway-day(s) left as polled: another program changed their readings" in (
        result.output
    )
    assert "Compacted 1 gateway-day(s)" in result.output


def test_a_snapshot_transaction_leaves_the_next_ones_as_they_were(pg_url: str) -> None:
    """The pool's connection goes back to READ COMMITTED: the store worker's writes would
    otherwise fail wherever they met another writer's rows."""
    with open_store(pg_url) as store:
        for _ in range(3):  # the pool hands the same connection back
            with store.transaction("a snapshot", snapshot=True) as txn:
                level = txn.conn.execute(text("SHOW transaction_isolation")).scalar()
                assert level == "repeatable read"
            with store.transaction("a write") as txn:
                level = txn.conn.execute(text("SHOW transaction_isolation")).scalar()
                assert level == "read committed"
