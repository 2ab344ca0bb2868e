"""End to end: stored polls -> envoylog.energy.rollup -> export, on both databases."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pandas as pd
import sqlalchemy as sa
from factories import SERIAL, T0, make_poll

from envoylog.db import Store, save_polls
from envoylog.energy.rollup import rollup
from envoylog.export import ExportKind, export, frame


def logged_and_rolled_up(store: Store) -> None:
    save_polls(store, [make_poll(T0 + timedelta(minutes=5 * i)) for i in range(24)])
    rollup(store)


def test_the_rollup_exports_as_stored_in_kwh_under_the_local_date(store: Store) -> None:
    logged_and_rolled_up(store)
    with store.reading("test") as conn:
        stored_wh = conn.execute(sa.text("select production_wh from energy_daily")).scalar_one()
    out = io.StringIO()
    summary = export(store, ExportKind.DAILY, gateways=[SERIAL], fmt="csv", output=out)
    df = pd.read_csv(io.StringIO(out.getvalue()), dtype={"gateway_serial": str})
    assert summary.rows == 1 and summary.first == date(2026, 6, 1)
    assert df.loc[0, "gateway_serial"] == SERIAL
    assert df.loc[0, "date"] == "2026-06-01"
    assert df.loc[0, "timezone"] == "Europe/Berlin"
    assert stored_wh > 0
    assert abs(df.loc[0, "production_kwh"] * 1000 - stored_wh) <= 0.5  # to the nearest Wh
    assert isinstance(df.loc[0, "production_source"], str)


def test_the_rollup_exports_every_inverter_day(store: Store) -> None:
    logged_and_rolled_up(store)
    df = frame(store, ExportKind.INVERTERS)
    assert len(df) == 36
    assert df["inverter_serial"].is_monotonic_increasing
    assert (df["energy_kwh"] > 0).all()
