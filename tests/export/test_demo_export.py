"""What a newcomer exports first, after `envoylog demo`: the day logged, and nothing else."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from click.testing import CliRunner
from demos import DEMOS, PLAIN_DAY

from envoylog.cli import cli

SPLIT_PHASE = next(d for d in DEMOS if d.profile == "metered-split-phase" and not d.faults)
BERLIN = next(d for d in DEMOS if d.profile == "metered-three-phase-device-data" and not d.faults)


def exported(db: Path, kind: str) -> pd.DataFrame:
    result = CliRunner().invoke(cli, ["export", kind, "--db", str(db)])
    assert result.exit_code == 0, result.output
    return pd.read_csv(io.StringIO(result.stdout), dtype={"gateway_serial": str})


def test_the_first_csv_after_a_demo_has_the_day_logged_and_no_junk_row(
    demo_databases: dict[str, Path], tmp_path: Path
) -> None:
    db = tmp_path / "demo.sqlite"
    shutil.copy(demo_databases[SPLIT_PHASE.name], db)

    daily = exported(db, "daily")

    assert daily["date"].tolist() == [str(PLAIN_DAY)]
    assert daily["coverage_pct"].tolist() == [100.0]
    assert daily["production_kwh"].notna().all()
    assert exported(db, "monthly")["month"].tolist() == [f"{PLAIN_DAY:%Y-%m}"]
    assert set(exported(db, "hourly")["date"]) == {str(PLAIN_DAY)}


def test_a_demo_of_a_fall_back_day_logs_all_25_hours(demo_databases: dict[str, Path]) -> None:
    engine = sa.create_engine(f"sqlite:///{demo_databases[BERLIN.name]}")
    with engine.connect() as conn:
        polls = conn.execute(sa.text("select count(*) from polls")).scalar_one()
    engine.dispose()
    assert polls == 25 * 60 - 15 + 1  # every minute, the quiet window aside, and the closing poll
    assert exported(demo_databases[BERLIN.name], "daily")["coverage_pct"].tolist() == [100.0]
