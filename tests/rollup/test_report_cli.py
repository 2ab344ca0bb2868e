"""`envoylog report` through click: what it writes, and one sentence for each mistake."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from builders import SERIAL, log_ct
from click.testing import CliRunner, Result

from envoylog.cli import cli
from envoylog.db import Store
from envoylog.energy import day_range
from envoylog.report import build_report

ZONE = "Europe/Berlin"


def logged(store: Store, first: date, last: date) -> None:
    begin, end = day_range(first, last, ZONE)
    log_ct(store, ZONE, begin, end, step_min=15)


def report(db_url: str, tmp_path: Path, *args: str) -> Result:
    out = tmp_path / "r.html"
    return CliRunner().invoke(cli, ["report", "--db", db_url, "-o", str(out), *args])


def test_a_report_is_written_and_summarised(store: Store, db_url: str, tmp_path: Path) -> None:
    logged(store, date(2024, 6, 1), date(2024, 6, 3))

    result = report(db_url, tmp_path)

    assert result.exit_code == 0, result.output
    html = (tmp_path / "r.html").read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert f"Gateway {SERIAL}, Europe/Berlin: 2024-06-01 to 2024-06-03." in html
    assert "wrote " in result.output and "roof (2024-06-01 to 2024-06-03)" in result.output


def test_the_report_rolls_up_what_polls_left_and_draws_the_last_day(store: Store) -> None:
    logged(store, date(2024, 6, 1), date(2024, 6, 2))

    _, (data,) = build_report(store)

    assert [str(d) for d in data.daily["date"]] == ["2024-06-01", "2024-06-02"]
    assert data.day == date(2024, 6, 2)
    assert len(data.power["production"].points) == 24 * 4


def test_the_range_and_the_day_are_local_dates(store: Store) -> None:
    logged(store, date(2024, 6, 1), date(2024, 6, 5))

    _, (data,) = build_report(
        store, start=date(2024, 6, 2), end=date(2024, 6, 3), day=date(2024, 6, 2)
    )

    assert (data.first, data.last, data.day) == (
        date(2024, 6, 2),
        date(2024, 6, 3),
        date(2024, 6, 2),
    )
    assert [str(d) for d in data.daily["date"]] == ["2024-06-02", "2024-06-03"]
    lo, hi = day_range(date(2024, 6, 2), date(2024, 6, 2), ZONE)
    assert all(lo <= t < hi for t, _ in data.power["production"].points)


def test_a_day_outside_the_range_is_one_sentence(store: Store, db_url: str, tmp_path: Path) -> None:
    logged(store, date(2024, 6, 1), date(2024, 6, 2))
    result = report(db_url, tmp_path, "--to", "2024-06-02", "--day", "2024-07-01")
    assert result.exit_code == 1
    assert result.output == (
        "Error: --day 2024-07-01 is outside the report's range 2024-06-01 to 2024-06-02\n"
    )


def test_a_range_without_energy_is_one_sentence(store: Store, db_url: str, tmp_path: Path) -> None:
    logged(store, date(2024, 6, 1), date(2024, 6, 1) + timedelta(days=1))
    result = report(db_url, tmp_path, "--from", "2023-01-01", "--to", "2023-01-31")
    assert result.exit_code == 1
    assert result.output.startswith("Error: no energy for gateway roof between 2023-01-01 and ")
    assert result.output.endswith(": nothing to report\n")
    assert not (tmp_path / "r.html").exists()


def test_an_empty_database_is_one_sentence(store: Store, db_url: str, tmp_path: Path) -> None:
    result = report(db_url, tmp_path)
    assert result.exit_code == 1
    assert result.output.startswith("Error: no gateway in ")
    assert result.output.endswith(" yet: nothing to report\n")
