"""Exports, the report and the SQL views read compacted days as they read days as polled."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from bokeh.models import Line, Quad
from demos import DEMOS
from exactness import compact_all, load, snapshot
from sqlalchemy import text

from envoylog.db import Store
from envoylog.db.power import PowerFlow
from envoylog.energy.periods import local_midnight
from envoylog.export import export
from envoylog.report import build_report
from envoylog.report.charts import COLOURS, power_curve

FAULTED = next(d for d in DEMOS if d.faults)  # three-phase, 36 inverters, a wrap, an outage


@pytest.fixture
def logged(store: Store, demo_databases: dict[str, Path]) -> Store:
    load(store, demo_databases[FAULTED.name])
    snapshot(store)  # rolled up
    return store


def exported(store: Store, kind: str) -> pd.DataFrame:
    out = io.BytesIO()
    export(store, kind, output=out)  # type: ignore[arg-type]
    return pd.read_csv(io.BytesIO(out.getvalue()))


@pytest.mark.parametrize("kind", ["hourly", "daily", "inverters"])
def test_an_export_of_compacted_days_is_the_export_of_the_days_as_polled(
    logged: Store, kind: str
) -> None:
    before = exported(logged, kind)
    compact_all(logged)
    snapshot(logged)  # recomputed from the compacted readings
    pd.testing.assert_frame_equal(exported(logged, kind), before, rtol=1e-4)


def test_the_report_of_a_compacted_day_shows_the_same_days_and_a_power_curve(
    logged: Store,
) -> None:
    _, (before,) = build_report(logged, day=FAULTED.day)
    compact_all(logged)
    snapshot(logged)
    _, (after,) = build_report(logged, day=FAULTED.day)
    pd.testing.assert_frame_equal(after.daily, before.daily, rtol=1e-4)
    assert after.corrections == before.corrections and after.gaps == before.gaps
    curve = max(after.power.values(), key=lambda s: len(s.points))
    assert 40 <= len(curve.points) < max(len(s.points) for s in before.power.values()) / 10


def breaks(day: Any) -> dict[str, int]:
    """Lines of the report's power chart, each with how many times it breaks (a gap)."""
    figure = power_curve("power", day.day, day.timezone, day.power)
    assert figure is not None
    found = {}
    for renderer in lines(figure):
        xs = renderer.data_source.data["x"]
        found[renderer.glyph.line_color] = sum(1 for x in xs if math.isnan(x))
    return found


def lines(figure: Any) -> list[Any]:
    return [r for r in figure.renderers if isinstance(r.glyph, Line)]


def bands(figure: Any) -> dict[str, Any]:
    return {r.glyph.fill_color: r.data_source.data for r in figure.renderers
            if isinstance(r.glyph, Quad)}  # fmt: skip


def test_the_power_chart_of_a_compacted_day_breaks_at_the_same_gaps_only(
    logged: Store,
) -> None:
    """Compacted points stand an hour apart (the default step): the chart joins them as it
    joined the readings they stand for, and breaks where the day as polled broke."""
    _, (before,) = build_report(logged, day=FAULTED.day)
    compact_all(logged)
    snapshot(logged)
    _, (after,) = build_report(logged, day=FAULTED.day)
    assert breaks(after) == breaks(before)
    assert any(n > 0 for n in breaks(before).values())  # the demo's outage is a gap


def test_the_power_chart_holds_a_compacted_mean_over_the_span_it_stands_for(
    logged: Store,
) -> None:
    compact_all(logged)
    snapshot(logged)
    _, (day,) = build_report(logged, day=FAULTED.day)
    production = day.power[PowerFlow.PRODUCTION]
    figure = power_curve("power", day.day, day.timezone, day.power)
    assert figure is not None and len(production.covering) >= 12
    line = next(r for r in lines(figure) if r.glyph.line_color == COLOURS["production"])
    data = line.data_source.data
    drawn = list(zip(data["x"], data["w"], strict=True))
    lo = local_midnight(day.day, day.timezone)
    points = production.points
    for k, (at, watts) in enumerate(points[:-1]):
        if at not in production.covering:
            continue
        start = (at - lo).total_seconds() / 3600
        end = (points[k + 1][0] - lo).total_seconds() / 3600
        i = drawn.index((start, max(watts, 0.0)))
        assert drawn[i + 1] == (end, max(watts, 0.0))  # flat to the next point, then on


def test_the_power_chart_shades_each_compacted_mean_between_its_lowest_and_highest(
    logged: Store,
) -> None:
    _, (before,) = build_report(logged, day=FAULTED.day)
    figure = power_curve("power", before.day, before.timezone, before.power)
    assert bands(figure) == {}  # a day as polled: its readings, nothing to shade
    compact_all(logged)
    snapshot(logged)
    _, (day,) = build_report(logged, day=FAULTED.day)
    figure = power_curve("power", day.day, day.timezone, day.power)
    band = bands(figure)[COLOURS["production"]]
    lo = local_midnight(day.day, day.timezone)
    means = {
        (t - lo).total_seconds() / 3600: max(w, 0.0)
        for t, w in day.power[PowerFlow.PRODUCTION].points
    }
    assert len(band["left"]) >= 12
    for left, right, low, high in zip(
        band["left"], band["right"], band["bottom"], band["top"], strict=True
    ):
        assert left < right and low <= means[left] <= high
    assert any(low < high for low, high in zip(band["bottom"], band["top"], strict=True))
    # Grid export is net power turned round: its band is the net band's, turned round too.
    export = bands(figure)[COLOURS["export"]]
    assert all(low <= high for low, high in zip(export["bottom"], export["top"], strict=True))


def test_the_reading_views_say_which_rows_are_compacted(logged: Store) -> None:
    compact_all(logged)
    with logged.reading("views") as conn:
        rows = conn.execute(
            text(
                "SELECT sum(samples), count(samples), max(watts_max) >= max(watts) "
                "FROM meter_readings_local WHERE channel = 0"
            )
        ).one()
    folded, compacted, highest = rows
    assert compacted > 0 and folded > compacted and highest
