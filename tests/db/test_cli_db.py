"""envoylog db upgrade / current and envoylog reparse, through click."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from envoylog.cli.db import db
from envoylog.cli.reparse import reparse_command
from envoylog.db import head_revision


def test_upgrade_then_current(tmp_path: Path) -> None:
    path = tmp_path / "e.sqlite"
    runner = CliRunner()
    before = runner.invoke(db, ["current", "--db", str(path)])
    assert before.exit_code == 0
    assert (
        before.output
        == f"SQLite database {path} has no envoylog schema yet (run: envoylog db upgrade).\n"
    )
    upgraded = runner.invoke(db, ["upgrade", "--db", str(path)])
    assert upgraded.exit_code == 0
    assert (
        upgraded.output
        == f"SQLite database {path} is at schema revision {head_revision()} (newest).\n"
    )
    after = runner.invoke(db, ["current", "--db", str(path)])
    assert after.output == upgraded.output


def test_reparse_on_an_empty_database(tmp_path: Path) -> None:
    result = CliRunner().invoke(reparse_command, ["--db", str(tmp_path / "e.sqlite")])
    assert result.exit_code == 0, result.output
    assert result.output == "reparse done: nothing new\n"


def test_reparse_since_takes_an_instant_with_an_offset(tmp_path: Path) -> None:
    args = ["--db", str(tmp_path / "e.sqlite"), "--since", "2024-06-01T06:00+02:00"]
    result = CliRunner().invoke(reparse_command, args)
    assert result.exit_code == 0, result.output


def test_reparse_since_a_time_that_is_not_one_is_a_usage_error(tmp_path: Path) -> None:
    args = ["--db", str(tmp_path / "e.sqlite"), "--since", "yesterday"]
    result = CliRunner().invoke(reparse_command, args)
    assert result.exit_code == 2
    assert "'yesterday' is not an ISO-8601 date or time such as 2024-06-01T06:00" in result.output
