"""Per-panel health: energy against the median inverter, under-performers, removed inverters."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from envoylog.db.report import InverterStatus
from envoylog.report.health import RECENT_DAYS, inverter_health

SEEN = datetime(2024, 6, 1, tzinfo=UTC)
DAYS = [date(2024, 5, 1) + timedelta(days=k) for k in range(40)]


def days(kwh: dict[str, list[float | None]]) -> pd.DataFrame:
    rows = [
        {"inverter_serial": serial, "date": day, "energy_kwh": value}
        for serial, values in kwh.items()
        for day, value in zip(DAYS, values, strict=True)
    ]
    return pd.DataFrame(rows)


def statuses(*removed: str, serials: tuple[str, ...] = ()) -> dict[str, InverterStatus]:
    return {s: InverterStatus(s, s not in removed, SEEN) for s in serials}


NORMAL = [2.0] * 40
SERIALS = ("a", "b", "c", "weak", "falling", "gone")
SITE = {
    "a": NORMAL,
    "b": [2.1] * 40,
    "c": [1.9] * 40,
    "weak": [1.6] * 40,  # 80 % of its peers all along
    "falling": [2.0] * (40 - RECENT_DAYS) + [1.8] * RECENT_DAYS,  # 100 %, then 90 %
    "gone": [2.0] * 10 + [0.0] * 30,  # removed: made nothing since
}


def test_each_inverter_is_measured_against_the_median_of_the_active_ones() -> None:
    health = inverter_health(days(SITE), statuses("gone", serials=SERIALS))
    cells = health.cells.set_index(["serial", "date"])["ratio"]
    assert cells[("b", DAYS[0])] == pytest.approx(2.1 / 2.0)  # the median of a, b, c, weak, falling
    assert cells[("b", DAYS[-1])] == pytest.approx(2.1 / 1.9)  # falling has fallen below it
    assert cells[("gone", DAYS[-1])] == 0.0  # measured, but never part of the median


def test_below_peers_and_falling_inverters_are_under_performers_the_rest_are_not() -> None:
    health = inverter_health(days(SITE), statuses("gone", serials=SERIALS))
    weak = {i.serial: (i.below_peers, i.falling) for i in health.under_performers}
    assert weak == {"weak": (True, False), "falling": (False, True)}


def test_a_removed_inverter_is_marked_and_never_an_under_performer() -> None:
    health = inverter_health(days(SITE), statuses("gone", serials=SERIALS))
    assert [i.serial for i in health.removed] == ["gone"]
    assert health.inverters[-1].serial == "gone"  # listed last, after every active one
    assert "gone" not in {i.serial for i in health.under_performers}


def test_a_day_without_data_is_no_yardstick() -> None:
    site = {"a": [2.0] * 39 + [None], "b": [2.2] * 39 + [None], "c": [1.8] * 39 + [None]}
    health = inverter_health(days(site), statuses(serials=("a", "b", "c")))
    last = health.cells[health.cells["date"] == DAYS[-1]]
    assert last["ratio"].isna().all()
    assert {i.serial: i.ratio for i in health.inverters}["c"] == pytest.approx(0.9)
