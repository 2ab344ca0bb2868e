"""`envoylog compact --jobs N` on PostgreSQL: days compacted at once in N processes roll up
to the same energy; SQLite, one writer at a time, says it needs PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from exactness import differences, snapshot
from sqlalchemy import func, select
from week import fill, local_days

from envoylog.cli import cli
from envoylog.db import Store, open_store
from envoylog.db.models import compacted_days


@pytest.fixture
def week(pg_url: str) -> Iterator[Store]:
    store = open_store(pg_url)
    try:
        fill(store)  # a wrap, restart zeros, a reset, a gap across midnight, a DST day
        yield store
    finally:
        store.close()


def test_days_compacted_in_two_processes_roll_up_to_the_same_energy(week: Store) -> None:
    before = snapshot(week)
    url = week.engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(
        cli, ["compact", "--db", url, "--before", "2030-01-01", "--jobs", "2"]
    )
    assert result.exit_code == 0, result.output
    with week.reading("compacted days") as conn:
        days = conn.execute(select(func.count()).select_from(compacted_days)).scalar_one()
    assert days >= len(local_days())
    assert f"Compacted {days} gateway-day(s)" in result.output
    assert differences(before, snapshot(week)) == []
    again = CliRunner().invoke(
        cli, ["compact", "--db", url, "--before", "2030-01-01", "--jobs", "2"]
    )
    assert "Nothing to compact" in again.output


def test_sqlite_refuses_more_than_one_job_in_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "e.sqlite"
    open_store(f"sqlite:///{path}").close()
    result = CliRunner().invoke(
        cli, ["compact", "--db", str(path), "--before", "2030-01-01", "--jobs", "2"]
    )
    assert result.exit_code == 1
    assert "needs PostgreSQL" in result.output and str(path) in result.output
    assert "Traceback" not in result.output


def test_a_compacting_process_that_dies_costs_one_sentence_and_no_day(
    week: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dying

    from envoylog.history import compact as compact_module

    before = snapshot(week)  # rolled up
    monkeypatch.setattr(compact_module, "_worker_day", dying.compact_or_die)
    url = week.engine.url.render_as_string(hide_password=False)
    args = ["compact", "--db", url, "--before", "2030-01-01", "--jobs", "2"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "stopped (killed, or out of memory)" in result.output
    assert "run envoylog compact again" in result.output
    assert "Traceback" not in result.output
    with week.reading("compacted days") as conn:
        days = set(conn.execute(select(compacted_days.c.day)).scalars())
    assert dying.DIES_ON not in days
    monkeypatch.undo()
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0, again.output
    with week.reading("compacted days") as conn:
        assert dying.DIES_ON in set(conn.execute(select(compacted_days.c.day)).scalars())
    assert differences(before, snapshot(week)) == []
