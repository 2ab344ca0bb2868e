"""Battery charge and discharge from power readings, and the choice of the battery source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from envoylog.energy import CounterSource, Flow, choose_flows
from envoylog.energy.battery import power_integral

T0 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
S = CounterSource


def minutes(*pairs: tuple[float, float]) -> list[tuple[datetime, float]]:
    return [(T0 + timedelta(minutes=m), w) for m, w in pairs]


def test_each_power_holds_until_the_next_reading() -> None:
    charge, discharge = power_integral(minutes((0, -600), (10, -1200), (20, 0)))
    assert charge.wh == pytest.approx(600 / 6 + 1200 / 6)
    assert discharge.wh == 0


def test_charge_and_discharge_are_counted_apart() -> None:
    charge, discharge = power_integral(minutes((0, -3000), (30, 1500), (60, 1500)))
    assert (charge.wh, discharge.wh) == (pytest.approx(1500), pytest.approx(750))


def test_no_energy_across_a_gap_longer_than_30_minutes() -> None:
    charge, _ = power_integral(minutes((0, -1200), (10, -1200), (41, -1200), (50, -1200)))
    assert charge.wh == pytest.approx(1200 / 6 + 1200 * 9 / 60)
    assert [(i.start, i.end) for i in charge.intervals][1][0] == T0 + timedelta(minutes=41)


def test_the_intervals_are_covered_and_measured_between_readings() -> None:
    charge, _ = power_integral(minutes((0, -100), (1, -100), (2, -100)))
    assert [i.covered for i in charge.intervals] == [True, True]
    assert charge.intervals[0].end == charge.intervals[1].start


def test_a_storage_ct_wins_over_the_batteries_power() -> None:
    flows = choose_flows(
        {S.STORAGE_CT_DELIVERED: 50.0, S.STORAGE_CT_RECEIVED: 60.0}, battery_power=True
    )
    assert flows[Flow.CHARGE].source is S.STORAGE_CT_RECEIVED
    assert flows[Flow.DISCHARGE].source is S.STORAGE_CT_DELIVERED


def test_without_a_storage_ct_the_batteries_power_is_integrated() -> None:
    flows = choose_flows({S.PRODUCTION_CT: 5.0}, battery_power=True)
    assert flows[Flow.CHARGE].source is S.POWER_INTEGRAL
    assert "an estimate" in flows[Flow.DISCHARGE].reason
    assert flows[Flow.CHARGE].kind is None


def test_without_battery_power_there_is_no_battery_flow() -> None:
    assert choose_flows({S.PRODUCTION_CT: 5.0})[Flow.CHARGE].source is None


def test_power_integral_is_no_stored_series() -> None:
    with pytest.raises(ValueError, match="power-integral is no stored series"):
        choose_flows({S.POWER_INTEGRAL: 1.0})
