"""A simulated week of a battery site, logged by the service's own job over real sockets and
rolled up, against the simulator's truth: from a storage CT within 0.1 %, from the batteries'
power polled each minute within 2 %, the state of charge always within 0-100 %, and the week
holds a daylight saving change."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from envoylog.client import Credentials, GatewayClient
from envoylog.db import Store, open_store, save_polls
from envoylog.energy.rollup import rollup
from envoylog.records import PollResult
from envoylog.service.jobs import GatewayJob, QuietWindow
from envoylog.simulator import ManualClock, SimulatedGateway
from envoylog.simulator.profiles import get_profile

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
# Only what battery energy needs: the inverters' endpoints and production.json would double
# the week's time and change nothing here.
BATTERY_CADENCES = {
    "production_json": 0,
    "api_v1_production": 0,
    "api_v1_inverters": 0,
    "device_data": 0,
}
FLOWS = {"battery_charge_wh": "battery_charge", "battery_discharge_wh": "battery_discharge"}


@dataclass
class Week:
    store: Store
    days: list[date]
    truth: dict[str, float]  # the whole week
    truth_days: dict[date, dict[str, float]]

    def rows(self, sql: str) -> list[dict[str, Any]]:
        with self.store.reading("week query") as conn:
            return [dict(r._mapping) for r in conn.execute(text(sql))]

    def logged(self, column: str) -> float:
        days = {str(d) for d in self.days}
        daily = self.rows(f"SELECT day, {column} FROM energy_daily")
        return sum(r[column] for r in daily if str(r["day"]) in days)


def log_week(folder: Path, profile: str, first: date, tick_s: int, **cadences: int) -> Week:
    """Seven local days from ``first`` logged every ``tick_s`` by a GatewayJob, then rolled up."""
    zone = ZoneInfo(get_profile(profile).timezone)
    days = [first + timedelta(days=k) for k in range(7)]
    start = datetime.combine(first, time(0), zone)
    end = datetime.combine(first + timedelta(days=7), time(0), zone)
    clock = ManualClock(start)
    store = open_store(f"sqlite:///{folder / 'week.sqlite'}")
    polls: list[PollResult] = []
    with SimulatedGateway(profile, clock=clock) as gateway:
        client = GatewayClient(gateway.url, credentials=Credentials(token=gateway.token))
        job = GatewayJob(
            name="home",
            client=client,
            submit=polls.append,
            cadences=cadences,
            tick_s=tick_s,
            quiet=QuietWindow(),
            clock=lambda: datetime.fromtimestamp(clock.now(), UTC),
        )
        try:
            while clock.now() <= end.timestamp():
                job.run()
                if len(polls) >= 240:
                    save_polls(store, polls)
                    polls.clear()
                clock.advance(tick_s)
            save_polls(store, polls)
        finally:
            client.close()
        truth = gateway.truth(start, end)
        truth_days = {
            day: gateway.truth(
                datetime.combine(day, time(0), zone),
                datetime.combine(day + timedelta(days=1), time(0), zone),
            )
            for day in days
        }
    rollup(store)
    return Week(store, days, truth, truth_days)


@pytest.fixture(scope="module")
def storage_ct_week(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Week]:
    # California springs forward on Sunday 8 March 2026. A counter needs no minute polls.
    folder = tmp_path_factory.mktemp("ct")
    week = log_week(folder, "iq-battery-storage-ct", date(2026, 3, 5), 600, **BATTERY_CADENCES)
    yield week
    week.store.close()


@pytest.fixture(scope="module")
def power_week(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Week]:
    # The Netherlands spring forward on Sunday 29 March 2026; polled each minute.
    folder = tmp_path_factory.mktemp("power")
    # The aggregates every 10 minutes are state of charge enough, and spare a third of the
    # week's requests; power and the CTs are read each minute.
    cadences = {**BATTERY_CADENCES, "ensemble_secctrl": 600}
    week = log_week(folder, "iq-battery-no-storage-ct", date(2026, 3, 25), 60, **cadences)
    yield week
    week.store.close()


@pytest.mark.parametrize("column", FLOWS)
def test_a_week_from_a_storage_ct_is_within_0_1_percent_of_the_truth(
    storage_ct_week: Week, column: str
) -> None:
    truth = storage_ct_week.truth[FLOWS[column]]
    assert truth > 5_000
    assert storage_ct_week.logged(column) == pytest.approx(truth, rel=1e-3)


@pytest.mark.parametrize("column", FLOWS)
def test_a_week_of_power_read_each_minute_is_within_2_percent_of_the_truth(
    power_week: Week, column: str
) -> None:
    truth = power_week.truth[FLOWS[column]]
    assert truth > 5_000
    assert power_week.logged(column) == pytest.approx(truth, rel=0.02)


def test_the_sources_say_how_the_battery_energy_was_found(
    storage_ct_week: Week, power_week: Week
) -> None:
    sql = "SELECT DISTINCT battery_source FROM energy_daily"
    assert storage_ct_week.rows(sql) == [{"battery_source": "storage-ct"}]
    assert power_week.rows(sql) == [{"battery_source": "power-integral"}]


def test_consumption_derived_with_the_battery_flows_is_within_2_percent(power_week: Week) -> None:
    assert power_week.rows("SELECT DISTINCT consumption_source FROM energy_daily") == [
        {"consumption_source": "derived"}
    ]
    truth = power_week.truth["consumption"]
    assert power_week.logged("consumption_wh") == pytest.approx(truth, rel=0.02)


@pytest.mark.parametrize(
    ("week", "day", "tolerance"),
    [("storage_ct_week", date(2026, 3, 8), 1e-3), ("power_week", date(2026, 3, 29), 0.02)],
)
def test_the_spring_forward_day_has_23_hours_and_its_own_energy(
    request: pytest.FixtureRequest, week: str, day: date, tolerance: float
) -> None:
    logged: Week = request.getfixturevalue(week)
    hours = logged.rows(
        "SELECT local_start, battery_charge_wh FROM energy_hourly "
        f"WHERE substr(local_start, 1, 10) = '{day}'"
    )
    (daily,) = logged.rows(f"SELECT battery_charge_wh FROM energy_daily WHERE day = '{day}'")
    assert len(hours) == 23
    assert sum(h["battery_charge_wh"] or 0 for h in hours) == pytest.approx(
        daily["battery_charge_wh"], rel=1e-9
    )
    truth = logged.truth_days[day]["battery_charge"]
    assert daily["battery_charge_wh"] == pytest.approx(truth, rel=tolerance)


@pytest.mark.parametrize("week", ["storage_ct_week", "power_week"])
def test_the_state_of_charge_never_leaves_0_to_100_percent(
    request: pytest.FixtureRequest, week: str
) -> None:
    logged: Week = request.getfixturevalue(week)
    found = logged.rows(
        "SELECT min(soc_pct) AS low, max(soc_pct) AS high, count(*) AS n FROM battery_readings "
        "UNION ALL SELECT min(soc_pct), max(soc_pct), count(*) FROM battery_system_readings "
        "UNION ALL SELECT min(soc_min_pct), max(soc_max_pct), count(*) FROM energy_hourly"
    )
    for row in found:
        assert row["n"] > 100 and 0 <= row["low"] < row["high"] <= 100, row
