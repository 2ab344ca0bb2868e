"""Recomputing gives the same rows; late data is picked up; the command names unknown gateways."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from builders import SERIAL, ct_poll, events, every, log_ct, table
from click.testing import CliRunner

from envoylog.cli import cli
from envoylog.cli import progress as bars
from envoylog.db import Store, save_polls
from envoylog.energy import day_range
from envoylog.energy.rollup import rollup, rollup_recent

ZONE = "Europe/Berlin"
TABLES = {"energy_hourly": "start_at", "energy_daily": "day", "energy_monthly": "month"}


def snapshot(store: Store) -> dict[str, list[dict[str, object]]]:
    tables = {name: table(store, name, order) for name, order in TABLES.items()}
    tables["inverter_daily"] = table(store, "inverter_daily", "inverter_id, day")
    return tables


def test_recomputing_gives_identical_rows_and_no_duplicate_events(store: Store) -> None:
    begin, end = day_range(date(2024, 3, 30), date(2024, 4, 1), ZONE)
    # A missing poll each night: the same rows and events every run.
    log_ct(store, ZONE, begin, end, skip=lambda at: at.minute == 0 and at.hour == 3)
    first = rollup(store, now=datetime(2024, 4, 2, tzinfo=UTC))
    rows, recorded = snapshot(store), events(store)

    again = rollup(store, now=datetime(2024, 4, 3, tzinfo=UTC))

    assert snapshot(store) == rows
    assert events(store) == recorded
    assert first.days == again.days == 4  # 30, 31 March, 1 April and the day the last poll ends
    assert {r["computed_at"] for r in table(store, "energy_daily", "day", drop=())} == {
        datetime(2024, 4, 3, tzinfo=UTC) if store.dialect == "postgresql" else "2024-04-03 00:00:00"
    }


def test_late_data_is_picked_up_by_a_recent_rollup(store: Store, db_url: str) -> None:
    begin, end = day_range(date(2024, 6, 1), date(2024, 6, 2), ZONE)
    hole = (begin + timedelta(hours=30), begin + timedelta(hours=34))
    log_ct(store, ZONE, begin, end, skip=lambda at: hole[0] < at < hole[1])
    rollup(store)
    assert table(store, "energy_daily", "day")[1]["coverage"] < 1

    # The spool replays the polls of the hole after the rollup ran.
    log_ct(store, ZONE, begin, end, skip=lambda at: not hole[0] < at < hole[1])
    rollup_recent(store, end, since={SERIAL: hole[0]})

    late = snapshot(store)
    rollup(store)
    assert snapshot(store) == late
    assert late["energy_daily"][1]["coverage"] == pytest.approx(1.0)
    assert late["energy_daily"][1]["production_wh"] == pytest.approx(24_000)


def test_rollup_command_says_which_gateway_is_unknown(tmp_path: Path) -> None:
    db = tmp_path / "e.sqlite"
    result = CliRunner().invoke(cli, ["rollup", "--db", str(db), "--gateway", "garage"])
    assert result.exit_code == 1
    assert "unknown gateway 'garage' in SQLite database" in result.output
    assert "the database has no gateways yet" in result.output


def test_rollup_command_prints_what_it_recomputed(store: Store, db_url: str) -> None:
    begin, end = day_range(date(2024, 6, 1), date(2024, 6, 1), ZONE)
    log_ct(store, ZONE, begin, end)
    args = ["--db", db_url, "--gateway", "roof", "--from", "2024-06-01", "--to", "2024-06-01"]
    result = CliRunner().invoke(cli, ["rollup", *args])
    assert result.exit_code == 0, result.output
    assert f"roof ({SERIAL}, Europe/Berlin): 1 day(s) 2024-06-01 to 2024-06-01" in result.output
    assert "production_source   production-ct-delivered" in result.output
    assert [str(r["day"]) for r in table(store, "energy_daily", "day")] == ["2024-06-01"]


def test_rollup_without_a_range_covers_the_days_of_the_readings(store: Store) -> None:
    begin, end = day_range(date(2024, 6, 1), date(2024, 6, 1), ZONE)
    # Readings of 1 June stored by polls that ran two days later (a replayed spool).
    polls = [
        ct_poll(at, ZONE, 1000.0 * k, 0.0, 0.0)
        for k, at in enumerate(every(begin, end, timedelta(hours=1)))
    ]
    save_polls(
        store,
        [
            replace(
                p,
                started_at=p.started_at + timedelta(days=2),
                finished_at=p.finished_at + timedelta(days=2),
            )
            for p in polls
        ],
    )

    summary = rollup(store)

    assert [g.first_day for g in summary.gateways] == [date(2024, 6, 1)]
    assert [str(r["day"]) for r in table(store, "energy_daily", "day")] == ["2024-06-01"]


def test_rollup_to_is_an_inclusive_local_date(store: Store, db_url: str) -> None:
    begin, end = day_range(date(2024, 6, 1), date(2024, 6, 3), ZONE)
    log_ct(store, ZONE, begin, end)
    args = ["--db", db_url, "--from", "2024-06-02", "--to", "2024-06-02"]

    result = CliRunner().invoke(cli, ["rollup", *args])

    assert result.exit_code == 0, result.output
    assert [str(r["day"]) for r in table(store, "energy_daily", "day")] == ["2024-06-02"]


def test_a_long_rollup_on_a_terminal_shows_progress(
    store: Store, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Progress is told once a month: two months make a first report before the end.
    begin, end = day_range(date(2024, 5, 31), date(2024, 6, 1), ZONE)
    log_ct(store, ZONE, begin, end)
    monkeypatch.setattr(bars, "is_terminal", lambda stream: True)
    monkeypatch.setattr(bars, "SHOW_AFTER_S", 0.0)
    args = ["--db", db_url, "--from", "2024-05-31", "--to", "2024-06-01"]
    result = CliRunner().invoke(cli, ["rollup", *args])
    assert result.exit_code == 0, result.output
    assert "Recomputing days" in result.stderr


def test_a_rollup_off_a_terminal_draws_no_progress(store: Store, db_url: str) -> None:
    begin, end = day_range(date(2024, 5, 31), date(2024, 6, 1), ZONE)
    log_ct(store, ZONE, begin, end)
    args = ["--db", db_url, "--from", "2024-05-31", "--to", "2024-06-01"]
    result = CliRunner().invoke(cli, ["rollup", *args])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
