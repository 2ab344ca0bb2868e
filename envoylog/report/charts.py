"""The report's charts, drawn by Bokeh (its JavaScript goes inline into the one HTML file).

Times are the gateway's local time. A day's curve is drawn against the hours
elapsed since local midnight, labelled with the local clock: a spring-forward day
is 23 hours wide with no 02:00, a fall-back day 25 hours with 02:00 twice (each
with its zone), so no reading is drawn on top of another.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from bokeh.models import (
    BasicTicker,
    ColorBar,
    ColumnDataSource,
    FixedTicker,
    HoverTool,
    LinearColorMapper,
    Range1d,
)
from bokeh.palettes import RdYlGn11
from bokeh.plotting import figure
from bokeh.transform import dodge

from envoylog.db.power import PowerFlow, Series
from envoylog.energy.counters import DEFAULT_THRESHOLDS
from envoylog.energy.periods import Resolution, local_midnight, periods
from envoylog.report.health import Health

Figure = Any  # bokeh's figure type is not typed for mypy
WIDTH = 1000
DAY_MS = 86_400_000
GAP = DEFAULT_THRESHOLDS.max_gap  # readings further apart than this are not joined
COLOURS = {
    "production": "#e8a202",
    "consumption": "#2f6db5",
    "import": "#c0392b",
    "export": "#2e9e44",
    "battery_charge": "#8e44ad",
    "battery_discharge": "#c39bd3",
    "battery": "#8e44ad",
    "self_consumption": "#e8a202",
    "self_sufficiency": "#2f6db5",
}
ENERGY_SERIES = {
    "production_kwh": ("production", "Production"),
    "consumption_kwh": ("consumption", "Consumption"),
    "import_kwh": ("import", "Grid import"),
    "export_kwh": ("export", "Grid export"),
    "battery_charge_kwh": ("battery_charge", "Battery charge"),
    "battery_discharge_kwh": ("battery_discharge", "Battery discharge"),
}


def _figure(name: str, title: str, height: int = 320, **options: Any) -> Figure:
    plot = figure(
        name=name,
        title=title,
        width=WIDTH,
        height=height,
        tools="pan,xwheel_zoom,box_zoom,reset,save",
        toolbar_location="right",
        **options,
    )
    plot.toolbar.logo = None
    return plot


def power_curve(
    name: str,
    day: date,
    zone: str,
    power: Mapping[PowerFlow, Series],
) -> Figure | None:
    """Production, consumption, grid import and export, battery (W) over one local day."""
    lo = local_midnight(day, zone)
    hours = [
        p for p in periods(lo, local_midnight(day + timedelta(days=1), zone), zone, Resolution.HOUR)
    ]
    lines: dict[str, tuple[str, Series]] = {}
    if PowerFlow.PRODUCTION in power:
        production = power[PowerFlow.PRODUCTION]
        lines["production"] = ("Production", _mapped(production, lambda w: max(w, 0.0)))
    if PowerFlow.CONSUMPTION in power:
        lines["consumption"] = ("Consumption", power[PowerFlow.CONSUMPTION])
    if PowerFlow.NET in power:
        net = power[PowerFlow.NET]
        lines["import"] = ("Grid import", _mapped(net, lambda w: max(w, 0.0)))
        lines["export"] = ("Grid export", _mapped(net, lambda w: max(-w, 0.0)))
    if PowerFlow.STORAGE in power:  # a storage CT, else the batteries' own power
        lines["battery"] = ("Battery (+ discharging)", power[PowerFlow.STORAGE])
    if not any(series.points for _, series in lines.values()):
        return None
    tz = ZoneInfo(zone)
    plot = _figure(name, f"Power on {day:%A %d %B %Y} (W, local time)", y_axis_label="W")
    plot.x_range = Range1d(0, len(hours))
    seen: set[str] = set()
    ticks, labels = [], {}
    for period in hours:
        x = _hours(period.start_utc, lo)
        label = period.start.strftime("%H:%M")
        if label in seen:
            label += f" {period.start.tzname()}"
        seen.add(label)
        ticks.append(x)
        labels[x] = label
    # Every other local hour (both 02:00 of a fall-back day): a readable axis on any day.
    shown = [x for x, p in zip(ticks, hours, strict=True) if p.start.hour % 2 == 0]
    shown = [x for x in shown if " " not in labels[x]] or shown  # a repeated 02:00 crowds
    plot.xaxis.ticker = FixedTicker(ticks=shown)
    plot.xaxis.major_label_overrides = {float(k): v for k, v in labels.items()}
    for key, (legend, series) in lines.items():
        points = series.points
        if not points:
            continue
        xs, ws, local = [], [], []
        # A compacted day: each mean's span, shaded between its lowest and highest reading.
        band: dict[str, list[float]] = {"left": [], "right": [], "bottom": [], "top": []}
        for k, (t, w) in enumerate(points):
            # A gap stays a gap, not a straight line; a compacted point covers up to the next.
            if k and _gap(points[k - 1][0], t, series.covering):
                xs.append(np.nan)
                ws.append(np.nan)
                local.append("")
            label, start = t.astimezone(tz).strftime("%H:%M:%S %Z"), _hours(t, lo)
            xs.append(start)
            ws.append(w)
            local.append(label)
            if t not in series.covering or k + 1 == len(points):
                continue
            # A compacted point's mean, held over the span it stands for: a step, not a
            # slope towards the next reading.
            end = _hours(points[k + 1][0], lo)
            xs.append(end)
            ws.append(w)
            local.append(f"{label} (mean)")
            if t in series.extremes:
                low, high = series.extremes[t]
                band["left"].append(start)
                band["right"].append(end)
                band["bottom"].append(low)
                band["top"].append(high)
        source = ColumnDataSource({"x": xs, "w": ws, "local": local})
        plot.line("x", "w", source=source, color=COLOURS[key], line_width=2, legend_label=legend)
        if band["left"]:
            plot.quad(source=ColumnDataSource(band), color=COLOURS[key], fill_alpha=0.15,
                      line_alpha=0, legend_label=legend)  # fmt: skip
    plot.add_tools(HoverTool(tooltips=[("time", "@local"), ("power", "@w{0,0} W")]))
    plot.legend.click_policy = "hide"
    plot.legend.location = "top_left"
    return plot


def _mapped(series: Series, watts: Callable[[float], float]) -> Series:
    """``series`` with every value through ``watts`` (monotonic, so extremes stay extremes)."""
    extremes = {}
    for t, (low, high) in series.extremes.items():
        a, b = watts(low), watts(high)
        extremes[t] = (min(a, b), max(a, b))
    return replace(series, points=[(t, watts(w)) for t, w in series.points], extremes=extremes)


def _hours(at: datetime, lo: datetime) -> float:
    return (at - lo).total_seconds() / 3600


def _gap(before: datetime, at: datetime, covering: frozenset[datetime]) -> bool:
    return at - before > GAP and before not in covering


def soc_curve(
    name: str, day: date, zone: str, soc: Sequence[tuple[datetime, float]]
) -> Figure | None:
    """Battery state of charge (%) over the local day, where there are batteries."""
    if not soc:
        return None
    lo = local_midnight(day, zone)
    tz = ZoneInfo(zone)
    plot = _figure(
        name, f"Battery state of charge on {day:%d %B %Y} (%)", height=220, y_range=(0, 100)
    )
    source = ColumnDataSource(
        {
            "x": [_hours(t, lo) for t, _ in soc],
            "soc": [v for _, v in soc],
            "local": [t.astimezone(tz).strftime("%H:%M %Z") for t, _ in soc],
        }
    )
    plot.line("x", "soc", source=source, color=COLOURS["battery"], line_width=2)
    plot.xaxis.axis_label = "hours since local midnight"
    plot.add_tools(HoverTool(tooltips=[("time", "@local"), ("charge", "@soc{0.0} %")]))
    return plot


def _x(dates: pd.Series, hours: int = 0) -> list[datetime]:
    """Local dates as the instants Bokeh's date axis labels with those dates (no zone)."""
    return [datetime(d.year, d.month, d.day, hours) for d in dates]


def _dates(dates: pd.Series, half_days: float) -> Range1d:
    """An x range holding every period whole (Bokeh would fit a single bar edge to edge)."""
    xs = _x(dates)
    pad = timedelta(days=half_days)
    return Range1d(min(xs) - pad, max(xs) + pad)


def energy_bars(
    name: str, title: str, rows: pd.DataFrame, period: str, span_days: float
) -> Figure | None:
    """Production, consumption, import, export, battery charge and discharge (kWh) per period."""
    present = [c for c in ENERGY_SERIES if c in rows and rows[c].notna().any()]
    if rows.empty or not present:
        return None
    data: dict[str, Any] = {"x": _x(rows[period]), "label": [str(d) for d in rows[period]]}
    for column in present:
        data[column] = rows[column].astype(float).fillna(np.nan).to_numpy()
    source = ColumnDataSource(data)
    plot = _figure(
        name,
        title,
        x_axis_type="datetime",
        y_axis_label="kWh",
        x_range=_dates(rows[period], span_days),
    )
    slot = span_days * DAY_MS * 0.8 / len(present)
    for k, column in enumerate(present):
        key, legend = ENERGY_SERIES[column]
        offset = (k - (len(present) - 1) / 2) * slot
        plot.vbar(
            x=dodge("x", offset, range=plot.x_range),
            top=column,
            width=slot,
            source=source,
            color=COLOURS[key],
            legend_label=legend,
        )
    tips = [("period", "@label"), *((ENERGY_SERIES[c][1], f"@{c}{{0.000}} kWh") for c in present)]
    plot.add_tools(HoverTool(tooltips=tips))
    plot.legend.click_policy = "hide"
    plot.legend.location = "top_left"
    return plot


def shares(name: str, rows: pd.DataFrame, period: str) -> Figure | None:
    """Self-consumption (share of production used on site) and self-sufficiency (%)."""
    production = rows["production_kwh"].astype(float)
    used = rows["self_consumption_kwh"].astype(float)
    consumption_share = (100 * used / production.where(production > 0)).round(1)
    sufficiency = rows["self_sufficiency_pct"].astype(float)
    if consumption_share.notna().sum() == 0 and sufficiency.notna().sum() == 0:
        return None
    source = ColumnDataSource(
        {
            "x": _x(rows[period]),
            "label": [str(d) for d in rows[period]],
            "consumed": consumption_share.to_numpy(),
            "sufficiency": sufficiency.to_numpy(),
        }
    )
    plot = _figure(
        name,
        "Self-consumption and self-sufficiency (%)",
        height=260,
        x_axis_type="datetime",
        x_range=_dates(rows[period], 1),
    )
    for column, key, legend in (
        ("consumed", "self_consumption", "Self-consumption: production used on site"),
        ("sufficiency", "self_sufficiency", "Self-sufficiency: consumption not imported"),
    ):
        plot.scatter("x", column, color=COLOURS[key], legend_label=legend, size=5, source=source)
        plot.line("x", column, color=COLOURS[key], legend_label=legend, line_width=2, source=source)
    plot.add_tools(
        HoverTool(
            tooltips=[
                ("day", "@label"),
                ("self-consumption", "@consumed %"),
                ("self-sufficiency", "@sufficiency %"),
            ]
        )
    )
    plot.legend.click_policy = "hide"
    plot.legend.location = "bottom_left"
    return plot


def heatmap(name: str, health: Health) -> Figure | None:
    """Inverter x day: each inverter's energy over the median inverter's that day."""
    cells = health.cells
    if cells.empty:
        return None
    removed = {i.serial for i in health.removed}
    label = {s: f"{s} (removed)" if s in removed else s for s in cells["serial"].unique()}
    order = [label[i.serial] for i in reversed(health.inverters)]
    source = ColumnDataSource(
        {
            # A cell spans its day, midnight to midnight; numpy arrays travel as binary.
            "x": np.array(_x(cells["date"], hours=12), dtype="datetime64[ms]"),
            "y": cells["serial"].map(label).tolist(),
            "kwh": cells["energy_kwh"].astype(float).to_numpy(),
            "ratio": cells["ratio"].astype(float).to_numpy(),
        }
    )
    height = max(220, 60 + 16 * len(order))
    plot = _figure(
        name,
        "Each inverter's daily energy / the median inverter's (grey: no data)",
        height=height,
        x_axis_type="datetime",
        y_range=order,
    )
    mapper = LinearColorMapper(
        palette=list(reversed(RdYlGn11)), low=0.5, high=1.1, nan_color="#d9d9d9"
    )
    plot.rect(
        x="x",
        y="y",
        width=DAY_MS,
        height=1,
        source=source,
        fill_color={"field": "ratio", "transform": mapper},
        line_color=None,
    )
    plot.add_layout(
        ColorBar(color_mapper=mapper, ticker=BasicTicker(desired_num_ticks=7), width=12), "right"
    )
    plot.add_tools(
        HoverTool(
            tooltips=[
                ("inverter", "@y"),
                ("day", "@x{%F}"),
                ("energy", "@kwh{0.000} kWh"),
                ("of median", "@ratio{0.00}"),
            ],
            formatters={"@x": "datetime"},
        )
    )
    plot.grid.grid_line_color = None
    return plot


def coverage(name: str, daily: pd.DataFrame) -> Figure:
    """Share of each day backed by readings (%): below 100, the day's figures may be low."""
    values = daily["coverage_pct"].astype(float)
    colour = np.where(values >= 99.5, "#2e9e44", np.where(values >= 50, "#e8a202", "#c0392b"))
    source = ColumnDataSource(
        {
            "x": _x(daily["date"]),
            "day": [str(d) for d in daily["date"]],
            "pct": values.to_numpy(),
            "colour": colour,
        }
    )
    plot = _figure(
        name,
        "Coverage per day (% of the day backed by readings)",
        height=220,
        x_axis_type="datetime",
        y_range=(0, 105),
        x_range=_dates(daily["date"], 1),
    )
    plot.vbar(x="x", top="pct", width=DAY_MS * 0.8, color="colour", source=source)
    plot.add_tools(HoverTool(tooltips=[("day", "@day"), ("coverage", "@pct{0.0} %")]))
    return plot
