"""Exports of a battery site's demo day: charge, discharge, their source and the state of charge,
the same in CSV and Parquet."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from demos import DEMOS

from envoylog.cli import cli

WITHOUT_CT = next(d for d in DEMOS if d.profile == "iq-battery-no-storage-ct")
WITH_CT = next(d for d in DEMOS if d.profile == "iq-battery-storage-ct")
BATTERY = ["battery_charge_kwh", "battery_discharge_kwh", "battery_source"]
SOC = ["battery_soc_min_pct", "battery_soc_max_pct", "battery_soc_end_pct"]


def export(db: Path, kind: str, out: Path | None = None) -> pd.DataFrame:
    args = ["export", kind, "--db", str(db)] + (["-o", str(out)] if out else [])
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    if out is not None:
        return pd.read_parquet(out)
    return pd.read_csv(io.StringIO(result.stdout), dtype={"gateway_serial": str})


@pytest.fixture
def demo(demo_databases: dict[str, Path], tmp_path: Path) -> Path:
    db = tmp_path / "battery.sqlite"
    shutil.copy(demo_databases[WITHOUT_CT.name], db)
    return db


def test_a_daily_export_carries_battery_energy_source_and_state_of_charge(demo: Path) -> None:
    (day,) = export(demo, "daily").to_dict("records")
    assert day["battery_charge_kwh"] > 0 and day["battery_discharge_kwh"] > 0
    assert day["battery_source"] == "power-integral"
    assert 0 <= day["battery_soc_min_pct"] <= day["battery_soc_end_pct"] <= 100
    assert day["battery_soc_min_pct"] < day["battery_soc_max_pct"] <= 100
    assert day["estimated_kwh"] >= day["battery_charge_kwh"] + day["battery_discharge_kwh"]


def test_csv_and_parquet_carry_the_same_battery_figures(demo: Path, tmp_path: Path) -> None:
    csv = export(demo, "daily")
    parquet = export(demo, "daily", tmp_path / "daily.parquet")
    assert csv[BATTERY + SOC].to_dict("records") == parquet[BATTERY + SOC].to_dict("records")


def test_the_month_ends_where_its_last_day_ended(demo: Path) -> None:
    daily, monthly = export(demo, "daily"), export(demo, "monthly")
    assert monthly[SOC].to_dict("records") == daily[SOC].to_dict("records")
    assert monthly["battery_charge_kwh"].tolist() == daily["battery_charge_kwh"].tolist()


def test_hours_add_up_to_the_day_and_each_stays_within_the_days_range(demo: Path) -> None:
    daily, hourly = export(demo, "daily"), export(demo, "hourly")
    assert len(hourly) == 25  # 27 October: the clocks go back in Amsterdam
    assert hourly["battery_charge_kwh"].sum() == pytest.approx(
        daily["battery_charge_kwh"][0], abs=0.02
    )
    assert hourly["battery_soc_min_pct"].min() == daily["battery_soc_min_pct"][0]
    assert hourly["battery_soc_end_pct"].iloc[-1] == daily["battery_soc_end_pct"][0]


def test_a_storage_ct_site_exports_its_battery_source(demo_databases: dict[str, Path]) -> None:
    (day,) = export(demo_databases[WITH_CT.name], "daily").to_dict("records")
    assert day["battery_source"] == "storage-ct" and day["battery_charge_kwh"] > 0
