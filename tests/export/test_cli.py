"""`envoylog export` through click: defaults, files, stdout, messages and exit codes."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result
from energy_rows import HOUSE, tiny_site
from test_csv import DAILY_HEADER, DAILY_ROWS

import envoylog.cli.export as export_cli
from envoylog.cli import EnvoylogGroup
from envoylog.cli import progress as bars
from envoylog.db import Store

# The real group turns library errors into one-line messages; export registered on it.
GROUP = EnvoylogGroup(name="envoylog-test", commands={"export": export_cli.export})


def run(*args: str) -> Result:
    result = CliRunner().invoke(GROUP, ["export", *args])
    assert "Traceback" not in result.output
    return result


def test_daily_csv_goes_to_stdout_by_default(store: Store, db_url: str) -> None:
    tiny_site(store)
    result = run("daily", "--db", db_url)
    assert result.exit_code == 0, result.output
    assert result.stdout == "\n".join([DAILY_HEADER, *DAILY_ROWS]) + "\n"
    assert result.stderr == ""


def test_an_output_file_is_written_and_summarised(
    store: Store, db_url: str, tmp_path: Path
) -> None:
    tiny_site(store)
    target = tmp_path / "daily.csv"
    result = run("daily", "--db", db_url, "--gateway", "house", "--output", str(target))
    assert result.exit_code == 0, result.output
    assert target.read_text().splitlines() == [DAILY_HEADER, *DAILY_ROWS[1:]]
    assert result.stderr == (
        f"exported 2 daily rows for 1 gateway (2024-03-30 to 2024-03-31) to {target}\n"
    )
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_parquet_suffix_chooses_parquet(store: Store, db_url: str, tmp_path: Path) -> None:
    tiny_site(store)
    target = tmp_path / "daily.parquet"
    assert run("daily", "--db", db_url, "-o", str(target)).exit_code == 0
    assert pq.read_table(target).num_rows == 3


def test_parquet_goes_to_a_pipe(store: Store, db_url: str) -> None:
    tiny_site(store)
    result = run("monthly", "--db", db_url, "--format", "parquet")
    assert result.exit_code == 0
    assert result.stdout_bytes == b""  # no monthly rows in the tiny site
    result = run("daily", "--db", db_url, "--format", "parquet", "--gateway", HOUSE)
    assert pq.read_table(io.BytesIO(result.stdout_bytes)).num_rows == 2


def test_parquet_to_a_terminal_is_refused(
    store: Store, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny_site(store)
    monkeypatch.setattr(bars, "is_terminal", lambda stream: True)
    result = run("daily", "--db", db_url, "--format", "parquet")
    assert result.exit_code == 2
    assert "refusing to write Parquet (binary) to a terminal" in result.stderr
    assert result.stdout_bytes == b""


def test_an_unknown_gateway_fails_in_one_sentence(store: Store, db_url: str) -> None:
    tiny_site(store)
    result = run("daily", "--db", db_url, "--gateway", "garage")
    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: unknown gateway 'garage' in ")
    assert line.endswith(f"; known gateways: 202400000001, house ({HOUSE})")


def test_an_empty_range_says_so_and_succeeds(store: Store, db_url: str) -> None:
    tiny_site(store)
    result = run("daily", "--db", db_url, "--gateway", "house", "--from", "2025-01-01")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr.startswith("no daily energy for gateway house from 2025-01-01 on in ")
    assert result.stderr.endswith(": no readings there (nothing written)\n")


def test_an_empty_database_says_so(store: Store, db_url: str) -> None:
    result = run("inverters", "--db", db_url, "--from", "2024-01-01", "--to", "2024-01-31")
    assert result.exit_code == 0
    assert "no inverter energy for any gateway between 2024-01-01 and 2024-01-31" in result.stderr


def test_from_after_to_is_a_usage_error(store: Store, db_url: str) -> None:
    result = run("daily", "--db", db_url, "--from", "2024-02-01", "--to", "2024-01-01")
    assert result.exit_code == 2
    assert "--from 2024-02-01 is after --to 2024-01-01" in result.stderr


def test_a_date_that_is_not_one_is_a_usage_error() -> None:
    result = run("daily", "--from", "31/01/2024")
    assert result.exit_code == 2
    assert "'31/01/2024' does not match the format '%Y-%m-%d'" in result.stderr


def test_a_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "typo.sqlite"
    result = run("daily", "--db", str(missing))
    assert result.exit_code == 1
    assert f"no database at {missing}" in result.stderr
    assert not missing.exists()


def test_the_db_flag_wins_over_the_environment(
    store: Store, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny_site(store)
    monkeypatch.setenv("ENVOYLOG_DB", str(tmp_path / "elsewhere.sqlite"))
    result = run("daily", "--db", db_url)
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 4


def test_the_environment_names_the_database(
    store: Store, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny_site(store)
    monkeypatch.setenv("ENVOYLOG_DB", db_url)
    assert len(run("daily").stdout.splitlines()) == 4


def test_a_long_export_on_a_terminal_shows_progress(
    store: Store, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny_site(store)
    monkeypatch.setattr(bars, "is_terminal", lambda stream: True)
    monkeypatch.setattr(bars, "SHOW_AFTER_S", 0.0)
    result = run("daily", "--db", db_url, "-o", str(tmp_path / "d.csv"))
    assert result.exit_code == 0, result.output
    assert "Reading rows" in result.stderr
