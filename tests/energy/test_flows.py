"""Flow choice: preference order, never a splice, CT state, flags, derived figures."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from envoylog.energy import (
    CounterKind,
    CounterSource,
    Flow,
    PeriodEnergy,
    choose_flows,
    derived_consumption,
    derived_figures,
    is_trusted,
    meter_sources,
    system_source,
)
from envoylog.energy.periods import Period
from envoylog.records import Measurement, MeterConfig, ReadingFlag, Source

S = CounterSource


def meter(kind: str, state: str = "enabled", status: str = "normal") -> MeterConfig:
    return MeterConfig(eid=1, measurement_type=kind, state=state, metering_status=status)


def test_production_takes_the_first_source_in_preference_order() -> None:
    growth = {S.INVERTERS_PRODUCTION: 900.0, S.EIM_PRODUCTION: 1000.0, S.PRODUCTION_CT: 1010.0}
    choice = choose_flows(growth, meters=[meter("production")])[Flow.PRODUCTION]
    assert choice.source is S.PRODUCTION_CT
    assert choice.kind is CounterKind.METER


def test_inverter_built_sources_wrap() -> None:
    choice = choose_flows({S.INVERTERS_PRODUCTION: 900.0})[Flow.PRODUCTION]
    assert choice.kind is CounterKind.INVERTER_32BIT


def test_a_frozen_source_is_skipped_with_a_reason() -> None:
    choice = choose_flows({S.API_V1_PRODUCTION: 0.0, S.INVERTERS_PRODUCTION: 900.0})[
        Flow.PRODUCTION
    ]
    assert choice.source is S.INVERTERS_PRODUCTION
    assert "api-v1-production: did not grow" in choice.reason


def test_a_dark_range_still_uses_the_preferred_source() -> None:
    choice = choose_flows({S.API_V1_PRODUCTION: 0.0, S.INVERTERS_PRODUCTION: 0.0})
    assert choice[Flow.PRODUCTION].source is S.API_V1_PRODUCTION


def test_a_disabled_or_not_metering_ct_is_unavailable() -> None:
    growth = {S.PRODUCTION_CT: 10.0, S.EIM_PRODUCTION: 10.0, S.INVERTERS_PRODUCTION: 9.0}
    for config in (
        meter("production", state="disabled"),
        meter("production", status="not-metering"),
    ):
        choice = choose_flows(growth, meters=[config])[Flow.PRODUCTION]
        assert choice.source is S.INVERTERS_PRODUCTION
        assert "production CT is disabled or not metering" in choice.reason


def test_eim_without_a_meter_list_is_judged_by_flags_alone() -> None:
    assert choose_flows({S.EIM_PRODUCTION: 5.0})[Flow.PRODUCTION].source is S.EIM_PRODUCTION
    choice = choose_flows({S.EIM_PRODUCTION: 5.0}, meters=[meter("net-consumption")])
    assert choice[Flow.PRODUCTION].source is S.EIM_PRODUCTION


def test_import_and_export_come_only_from_the_net_ct() -> None:
    flows = choose_flows({S.NET_CT_DELIVERED: 5.0, S.NET_CT_RECEIVED: 3.0})
    assert flows[Flow.IMPORT].source is S.NET_CT_DELIVERED
    assert flows[Flow.EXPORT].source is S.NET_CT_RECEIVED
    assert choose_flows({})[Flow.IMPORT].source is None


def test_consumption_takes_the_total_cts_loads_register_whichever_way_it_faces() -> None:
    forward = choose_flows({S.TOTAL_CT_DELIVERED: 9000.0, S.TOTAL_CT_RECEIVED: 12.0})
    backward = choose_flows({S.TOTAL_CT_DELIVERED: 3.0, S.TOTAL_CT_RECEIVED: 8000.0})
    assert forward[Flow.CONSUMPTION].source is S.TOTAL_CT_DELIVERED
    assert backward[Flow.CONSUMPTION].source is S.TOTAL_CT_RECEIVED
    assert "reverse noise" in backward[Flow.CONSUMPTION].reason


def test_consumption_is_derived_when_the_total_ct_direction_is_unclear() -> None:
    growth = {
        S.TOTAL_CT_DELIVERED: 5000.0,
        S.TOTAL_CT_RECEIVED: 4000.0,
        S.PRODUCTION_CT: 1.0,
        S.NET_CT_DELIVERED: 1.0,
        S.NET_CT_RECEIVED: 1.0,
    }
    choice = choose_flows(growth)[Flow.CONSUMPTION]
    assert choice.source is S.DERIVED and choice.kind is None
    assert "direction unclear" in choice.reason


def test_consumption_cannot_be_derived_without_all_three_flows() -> None:
    choice = choose_flows({S.PRODUCTION_CT: 1.0, S.NET_CT_DELIVERED: 1.0})[Flow.CONSUMPTION]
    assert choice.source is None


def test_battery_flows_come_from_the_storage_ct() -> None:
    flows = choose_flows({S.STORAGE_CT_DELIVERED: 1.0, S.STORAGE_CT_RECEIVED: 2.0})
    assert flows[Flow.DISCHARGE].source is S.STORAGE_CT_DELIVERED
    assert flows[Flow.CHARGE].source is S.STORAGE_CT_RECEIVED


def test_net_consumption_lifetime_is_refused_as_a_counter() -> None:
    with pytest.raises(ValueError, match="signed import - export balance"):
        system_source(Source.EIM, Measurement.NET_CONSUMPTION)
    with pytest.raises(ValueError, match="not an energy counter"):
        system_source(Source.EIM, Measurement.TOTAL_CONSUMPTION)
    assert system_source(Source.INVERTERS, Measurement.PRODUCTION) is S.INVERTERS_PRODUCTION
    with pytest.raises(ValueError):
        choose_flows({S.DERIVED: 1.0})


def test_meter_sources_by_measurement_type() -> None:
    assert meter_sources("net-consumption") == (S.NET_CT_DELIVERED, S.NET_CT_RECEIVED)
    assert meter_sources("production") == (S.PRODUCTION_CT, None)
    assert meter_sources("unknown") == (None, None)


def test_flagged_readings_are_not_counter_values() -> None:
    assert is_trusted(())
    assert is_trusted((ReadingFlag.NO_READING_TIME,))
    for flag in (
        ReadingFlag.CT_INACTIVE,
        ReadingFlag.OVERWRITTEN_BY_NET,
        ReadingFlag.ZERO_LIFETIME,
    ):
        assert not is_trusted((flag,))


def test_derived_figures() -> None:
    figures = derived_figures(
        production_wh=20_000, consumption_wh=15_000, import_wh=3_000, export_wh=8_000
    )
    assert figures.self_consumption_wh == 12_000
    assert figures.self_sufficiency == pytest.approx(0.8)
    assert figures.net_grid_wh == -5_000


def test_self_sufficiency_is_none_without_consumption() -> None:
    figures = derived_figures(production_wh=0, consumption_wh=0, import_wh=0, export_wh=0)
    assert figures.self_sufficiency is None
    assert derived_figures(
        production_wh=None, consumption_wh=None, import_wh=None, export_wh=None
    ) == (type(figures)(None, None, None))


def period_energy(wh: float, coverage: float = 1.0) -> list[PeriodEnergy]:
    start = datetime(2024, 6, 1, tzinfo=UTC)
    period = Period(start, start, datetime(2024, 6, 2, tzinfo=UTC))
    return [PeriodEnergy(period, wh, 0.0, coverage)]


def test_derived_consumption_balances_the_flows() -> None:
    (day,) = derived_consumption(
        period_energy(20_000),
        period_energy(3_000, coverage=0.5),
        period_energy(8_000),
        discharged=period_energy(1_000),
        charged=period_energy(2_500),
    )
    assert day.wh == 20_000 + 3_000 - 8_000 + 1_000 - 2_500
    assert day.coverage == 0.5


def test_derived_consumption_needs_the_same_periods() -> None:
    with pytest.raises(ValueError, match="same periods"):
        derived_consumption(period_energy(1), [], period_energy(1))
