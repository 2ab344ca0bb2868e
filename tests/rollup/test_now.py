"""`envoylog now`: power now, today's energy so far and the last poll's age, from the database."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from builders import SERIAL, battery_poll, log_ct
from click.testing import CliRunner

import envoylog.cli.now as now_cli
from envoylog.cli import cli
from envoylog.db import Store, save_poll
from envoylog.energy import day_range
from envoylog.now import as_json, current, render

ZONE = "Europe/Berlin"
DAY = date(2024, 6, 1)


def logged_until_one_pm(store: Store) -> None:
    begin, _ = day_range(DAY, DAY, ZONE)
    # From the evening before, so today's first interval starts at midnight.
    log_ct(store, ZONE, begin - timedelta(hours=2), begin + timedelta(hours=13), production_w=1200)


def test_now_shows_power_today_so_far_and_the_age_of_the_last_poll(store: Store) -> None:
    logged_until_one_pm(store)
    moment = day_range(DAY, DAY, ZONE)[0] + timedelta(hours=13, seconds=42)

    (gateway,) = current(store, moment)

    assert gateway.power["production"].watts == 1200
    assert gateway.power["net"].watts == 0.0
    assert gateway.power["consumption"].source == "production + net"
    assert gateway.today_wh["production_wh"] == pytest.approx(13 * 1200)
    assert gateway.today_wh["import_wh"] == pytest.approx(13 * 500)
    assert gateway.age_s(moment) == 42
    text = render([gateway], moment)
    assert f"roof ({SERIAL}, Europe/Berlin)  last poll 42 s ago (13:00:00 CEST)" in text
    assert "production 1,200 W" in text
    assert "today 2024-06-01  production 15.60 kWh" in text


def test_old_readings_are_not_power_now(store: Store) -> None:
    logged_until_one_pm(store)
    moment = day_range(DAY, DAY, ZONE)[0] + timedelta(hours=14)

    (gateway,) = current(store, moment)

    assert gateway.power == {}
    assert "power now     no recent reading" in render([gateway], moment)


def test_now_json_is_for_machines(store: Store) -> None:
    logged_until_one_pm(store)
    moment = day_range(DAY, DAY, ZONE)[0] + timedelta(hours=13, minutes=1)

    (document,) = json.loads(json.dumps(as_json(current(store, moment), moment)))

    assert document["serial"] == SERIAL
    assert document["power_w"]["production"] == 1200
    assert document["last_poll_age_s"] == 60
    assert document["today_wh"]["production_wh"] == pytest.approx(15_600)
    assert document["battery_soc_pct"] is None


def test_the_battery_tables_light_up_the_state_of_charge(store: Store) -> None:
    logged_until_one_pm(store)
    moment = day_range(DAY, DAY, ZONE)[0] + timedelta(hours=13, minutes=1)
    save_poll(store, battery_poll(moment - timedelta(seconds=30), ZONE, 57.0, -1500.0))

    (gateway,) = current(store, moment)

    assert gateway.soc_pct == 57.0
    assert "battery 3,000 W charging 57 %" in render([gateway], moment)


def test_without_the_aggregate_the_batteries_own_state_of_charge_shows(store: Store) -> None:
    logged_until_one_pm(store)
    moment = day_range(DAY, DAY, ZONE)[0] + timedelta(hours=13, minutes=1)
    save_poll(store, battery_poll(moment, ZONE, 41.0, aggregate=False))

    (gateway,) = current(store, moment)

    assert gateway.soc_pct == 41.0


def test_without_a_storage_ct_the_batteries_own_power_shows_and_counts_in_consumption(
    store: Store,
) -> None:
    logged_until_one_pm(store)  # production 1200 W, net 0 W, the last reading at 13:00
    moment = day_range(DAY, DAY, ZONE)[0] + timedelta(hours=13, minutes=1)
    save_poll(store, battery_poll(moment - timedelta(seconds=30), ZONE, 57.0, 500.0))

    (gateway,) = current(store, moment)

    assert gateway.power["storage"].watts == 1000.0 and gateway.power["storage"].source == "battery"
    assert gateway.power["consumption"].watts == 2200.0
    assert gateway.power["consumption"].source == "production + net + battery"
    assert "battery 1,000 W discharging 57 %" in render([gateway], moment)


def test_now_command_prints_each_gateway(store: Store, db_url: str) -> None:
    logged_until_one_pm(store)
    result = CliRunner().invoke(cli, ["now", "--db", db_url])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"roof ({SERIAL}, Europe/Berlin)  last poll ")


def test_now_watch_refreshes_until_interrupted(
    store: Store, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    logged_until_one_pm(store)
    naps: list[float] = []

    def nap(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(now_cli, "sleep", nap)
    result = CliRunner().invoke(cli, ["now", "--db", db_url, "--watch", "--interval", "5"])
    assert result.exit_code == 0, result.output
    assert naps == [5, 5]
    assert result.output.count(f"roof ({SERIAL}") == 2
