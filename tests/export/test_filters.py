"""Which rows an export holds: gateways by name or serial, inclusive local dates, order."""

from __future__ import annotations

from datetime import date

import pytest
from energy_rows import (
    BARN,
    HOUSE,
    add_daily,
    add_gateway,
    add_inverter,
    add_inverter_daily,
    add_monthly,
    days,
    tiny_site,
)

from envoylog.db import Store
from envoylog.errors import ConfigError
from envoylog.export import ExportKind, frame


def test_a_gateway_is_chosen_by_name(store: Store) -> None:
    tiny_site(store)
    assert set(frame(store, ExportKind.DAILY, gateways=["house"])["gateway_serial"]) == {HOUSE}


def test_a_gateway_is_chosen_by_serial(store: Store) -> None:
    tiny_site(store)
    df = frame(store, ExportKind.DAILY, gateways=[BARN])
    assert df["gateway"].tolist() == [BARN]  # unnamed: labelled by its serial


def test_an_unknown_gateway_is_named_with_the_known_ones(store: Store) -> None:
    tiny_site(store)
    with pytest.raises(ConfigError) as caught:
        frame(store, ExportKind.DAILY, gateways=["house", "garage"])
    message = str(caught.value)
    assert message.startswith(f"unknown gateway 'garage' in {store.name}; ")
    assert message.endswith(f"known gateways: {BARN}, house ({HOUSE})")


def test_from_and_to_are_inclusive_local_dates(store: Store) -> None:
    gateway = add_gateway(store, HOUSE, "house")
    for day in days(date(2024, 1, 1), 10):
        add_daily(store, gateway, day, production_wh=1000.0)
    df = frame(store, ExportKind.DAILY, start=date(2024, 1, 3), end=date(2024, 1, 5))
    assert df["date"].tolist() == [date(2024, 1, 3), date(2024, 1, 4), date(2024, 1, 5)]


def test_a_month_is_exported_when_any_of_its_days_is_in_range(store: Store) -> None:
    gateway = add_gateway(store, HOUSE, "house")
    for month in (1, 2, 3, 4):
        add_monthly(store, gateway, date(2024, month, 1), production_wh=1000.0)
    df = frame(store, ExportKind.MONTHLY, start=date(2024, 2, 15), end=date(2024, 3, 1))
    assert df["month"].tolist() == [date(2024, 2, 1), date(2024, 3, 1)]


def test_a_range_ending_before_it_starts_is_refused(store: Store) -> None:
    with pytest.raises(ConfigError, match="2024-02-01 is after 2024-01-01"):
        frame(store, ExportKind.DAILY, start=date(2024, 2, 1), end=date(2024, 1, 1))


def test_an_empty_range_gives_an_empty_frame_with_every_column(store: Store) -> None:
    tiny_site(store)
    df = frame(store, ExportKind.DAILY, start=date(2030, 1, 1))
    assert df.empty
    assert "production_kwh" in df.columns


def test_inverter_days_are_sorted_by_gateway_date_then_inverter(store: Store) -> None:
    gateway = add_gateway(store, HOUSE, "house")
    second = add_inverter(store, gateway, "482300000002")
    first = add_inverter(store, gateway, "482300000001")
    for day in days(date(2024, 7, 1), 2):
        add_inverter_daily(store, second, day, wh=1500.0, peak_w=290.2)
        add_inverter_daily(store, first, day, wh=None, coverage=0.0, source=None)
    df = frame(store, ExportKind.INVERTERS)
    assert list(df.columns) == [
        "gateway",
        "gateway_serial",
        "inverter_serial",
        "date",
        "timezone",
        "energy_kwh",
        "peak_w",
        "coverage_pct",
        "source",
        "corrections",
    ]
    assert list(zip(df["date"].astype(str), df["inverter_serial"], strict=True)) == [
        ("2024-07-01", "482300000001"),
        ("2024-07-01", "482300000002"),
        ("2024-07-02", "482300000001"),
        ("2024-07-02", "482300000002"),
    ]
    assert df["energy_kwh"].tolist()[1] == 1.5
    assert df["peak_w"].tolist()[1] == 290


def test_progress_is_told_rows_done_of_total(store: Store) -> None:
    gateway = add_gateway(store, HOUSE, "house")
    for day in days(date(2024, 1, 1), 12):
        add_daily(store, gateway, day, production_wh=1.0)
    calls: list[tuple[int, int]] = []
    frame(store, ExportKind.DAILY, progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (0, 12)
    assert calls[-1] == (12, 12)
