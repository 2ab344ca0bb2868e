"""One test per counter rule of the engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from envoylog.energy import (
    WRAP_WH,
    CorrectionKind,
    CounterKind,
    Method,
    Sample,
    Thresholds,
    intervals,
)

T0 = datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
METER = CounterKind.METER
INVERTER = CounterKind.INVERTER_32BIT


def series(*values: float, step: timedelta = timedelta(minutes=5)) -> list[Sample]:
    return [Sample(T0 + n * step, v) for n, v in enumerate(values)]


def kinds(samples: list[Sample], kind: CounterKind = METER, **options: object) -> list[str]:
    result = intervals(samples, kind=kind, **options)  # type: ignore[arg-type]
    return [c.kind.value for c in result.corrections]


def test_a_rising_counter_gives_its_differences() -> None:
    result = intervals(series(1000, 1100, 1250), kind=METER)
    assert [i.wh for i in result.intervals] == [100, 150]
    assert all(i.method is Method.MEASURED and i.covered for i in result.intervals)
    assert result.corrections == ()


def test_arrival_order_does_not_matter() -> None:
    samples = series(1000, 1100, 0, 1250, 1300)
    assert intervals(samples[::-1], kind=METER) == intervals(samples, kind=METER)


def test_exact_repeats_are_dropped_silently() -> None:
    samples = series(1000, 1100, 1250)
    result = intervals([*samples, samples[1], samples[1]], kind=METER)
    assert result.ignored == 2
    assert result.wh == 250
    assert result.corrections == ()


def test_two_values_at_one_instant_keep_the_one_nearest_the_reading_before() -> None:
    samples = [*series(1000, 1100), Sample(T0 + timedelta(minutes=5), 0.0)]
    for order in (samples, samples[::-1]):
        result = intervals(order, kind=METER)
        assert result.wh == 100
        assert [c.kind for c in result.corrections] == [CorrectionKind.GLITCH]
        assert "kept 1,100.0 Wh" in result.corrections[0].detail


def test_untrusted_and_non_finite_readings_are_left_out() -> None:
    samples = [*series(1000, 1100), Sample(T0 + timedelta(minutes=7), 9e9, trusted=False)]
    samples.append(Sample(T0 + timedelta(minutes=8), float("nan")))
    result = intervals(samples, kind=METER)
    assert result.ignored == 2
    assert result.wh == 100


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="no timezone"):
        intervals([Sample(datetime(2024, 1, 1), 5.0)], kind=METER)


def test_a_zero_between_readings_is_a_glitch() -> None:
    result = intervals(series(1000, 0, 0, 1200), kind=METER)
    assert result.wh == 200
    assert len(result.corrections) == 1  # one run of zeros, one correction
    assert "read 0 2 times" in result.corrections[0].detail


def test_leading_zeros_of_a_new_counter_are_real() -> None:
    result = intervals(series(0, 0, 40, 90), kind=METER)
    assert result.wh == 90
    assert result.corrections == ()


def test_leading_zeros_before_a_big_value_are_restart_glitches() -> None:
    result = intervals(series(0, 0, 5_000_000, 5_000_100), kind=METER)
    assert result.wh == 100
    assert [c.kind for c in result.corrections] == [CorrectionKind.GLITCH]
    assert "read 0 2 times" in result.corrections[0].detail


def test_a_negative_value_is_no_counter_reading() -> None:
    # e.g. a net-consumption whLifetime (a signed balance) fed here by mistake
    result = intervals(series(-500, 1000, -20, 1100), kind=METER)
    assert result.wh == 100
    assert [c.kind for c in result.corrections] == [CorrectionKind.GLITCH] * 2
    assert all("negative" in c.detail for c in result.corrections)


def test_a_transient_dip_that_recovers_is_a_glitch() -> None:
    result = intervals(series(5000, 5100, 2000, 2100, 5200), kind=METER)
    assert result.wh == 200
    assert kinds(series(5000, 5100, 2000, 2100, 5200)) == ["glitch", "glitch"]
    assert "recovered within 2:00:00" in result.corrections[0].detail


def test_a_drop_within_noise_holds_the_level() -> None:
    result = intervals(series(5000, 5100, 5095, 5120), kind=METER)
    assert [i.wh for i in result.intervals] == [100, 0, 20]
    assert result.corrections == ()


def test_a_reading_above_both_neighbours_is_a_spike() -> None:
    result = intervals(series(5000, 5100, 90_000, 5200, 5210, 5300), kind=METER)
    assert result.wh == 300
    assert kinds(series(5000, 5100, 90_000, 5200, 5210, 5300)) == ["glitch"]
    assert "a spike" in result.corrections[0].detail


def test_an_impossible_jump_is_an_anomaly_without_energy() -> None:
    result = intervals(series(5000, 5100, 95_000, 95_100), kind=METER, max_power_w=5000)
    assert [i.wh for i in result.intervals] == [100, 0, 100]
    assert result.intervals[1].method is Method.ANOMALY
    assert result.corrections[0].kind is CorrectionKind.JUMP
    assert "more than 5,000 W could make" in result.corrections[0].detail


def test_an_impossible_jump_that_falls_back_is_a_spike() -> None:
    samples = series(5000, 5100, 95_000, 5200)
    result = intervals(samples, kind=METER, max_power_w=5000)
    assert result.wh == 200
    assert kinds(samples, max_power_w=5000) == ["glitch"]


def test_without_max_power_a_big_rise_is_energy() -> None:
    assert intervals(series(5000, 95_000, 95_100), kind=METER).wh == 90_100


def test_a_wrap_is_added_back_with_the_energy_made_meanwhile() -> None:
    result = intervals(series(1_190_000, 1_192_000, 1_000), kind=INVERTER)
    assert result.intervals[1].method is Method.WRAP
    assert result.intervals[1].wh == pytest.approx(1_000 + WRAP_WH - 1_192_000)
    assert result.corrections[0].kind is CorrectionKind.WRAP


def test_two_wraps_in_one_interval() -> None:
    result = intervals(series(3_000_000, 3_000_000 - 2 * WRAP_WH + 500), kind=INVERTER)
    assert result.wh == pytest.approx(500)
    assert "2 wrap(s)" in result.corrections[0].detail


def test_a_wrap_may_overshoot_by_rounding() -> None:
    # QUIRKS 19: a sum 1,193,048 Wh below where it was, 1.5 Wh more than one wrap
    result = intervals(series(2_500_000, 2_500_000 - 1_193_048), kind=INVERTER)
    assert result.intervals[0].method is Method.WRAP
    assert result.wh == 0


def test_a_meter_never_wraps() -> None:
    assert kinds(series(2_500_000, 2_500_000 - WRAP_WH + 100)) == ["anomaly"]


def test_a_wrap_needs_plausible_energy() -> None:
    samples = series(2_500_000, 2_500_000 - WRAP_WH + 50_000)  # 50 kWh in 5 minutes
    assert kinds(samples, INVERTER, max_power_w=5000) == ["anomaly"]
    assert kinds(samples, INVERTER) == ["wrap"]  # within the default slack without max power


def test_a_drop_to_near_zero_that_grows_is_a_reset() -> None:
    result = intervals(series(5_000_000, 5_000_100, 30, 130), kind=METER)
    assert [i.wh for i in result.intervals] == [100, 30, 100]
    assert result.intervals[1].method is Method.RESET
    assert not result.intervals[1].covered
    assert result.corrections[0].kind is CorrectionKind.RESET


def test_a_reset_to_zero_that_grows_counts_from_zero() -> None:
    result = intervals(series(5_000_000, 0, 0, 40, 90), kind=METER)
    assert result.intervals[0].method is Method.RESET
    assert result.wh == 90
    assert [c.kind for c in result.corrections] == [CorrectionKind.RESET]


def test_an_unconfirmed_reset_is_an_anomaly_until_more_data() -> None:
    assert kinds(series(5_000_000, 5_000_100, 30)) == ["anomaly"]
    assert "no later reading" in intervals(series(5_000_000, 30), kind=METER).corrections[0].detail


def test_any_other_drop_is_an_anomaly_and_counting_goes_on() -> None:
    result = intervals(series(5_000_000, 4_000_000, 4_000_100), kind=METER)
    assert [i.wh for i in result.intervals] == [0, 100]
    assert result.intervals[0].method is Method.ANOMALY
    assert "counting goes on from 4,000,000.0 Wh" in result.corrections[0].detail


def test_energy_across_a_gap_is_kept_but_not_covered() -> None:
    result = intervals(series(1000, 5000, step=timedelta(hours=3)), kind=METER)
    assert result.intervals[0].wh == 4000
    assert result.intervals[0].method is Method.GAP
    assert not result.intervals[0].covered


def test_a_compacted_reading_that_covers_the_next_makes_its_long_interval_no_gap() -> None:
    """Two inverter reports 15 min 1 s apart folded into one: 30 min 2 s to the next."""
    step = timedelta(minutes=30, seconds=2)
    folded = [
        Sample(T0, 1000, covers_next=True),
        Sample(T0 + step, 1100),
        Sample(T0 + 2 * step, 1200),
    ]
    result = intervals(folded, kind=INVERTER)
    assert [(i.method, i.covered) for i in result.intervals] == [
        (Method.MEASURED, True),  # through the folded report
        (Method.GAP, False),  # the next reading covers nothing: a gap as before
    ]


def test_thresholds_are_tunable() -> None:
    samples = series(1000, 5000, step=timedelta(hours=1))
    loose = Thresholds(max_gap=timedelta(hours=2))
    assert intervals(samples, kind=METER, thresholds=loose).intervals[0].covered


def test_corrections_name_their_series_and_event_kind() -> None:
    result = intervals(series(1_190_000, 1_000), kind=INVERTER, series="production inverters")
    assert result.corrections[0].detail.startswith("production inverters: ")
    assert result.corrections[0].event_kind == "counter-wrap"
