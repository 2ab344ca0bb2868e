"""The report page: one HTML file, Bokeh's JavaScript and every chart's data inline.

Text from the database (names, serials, event details) is escaped here; the
charts are Bokeh roots placed by name in a Jinja template that Bokeh renders
with its own resources (only the bundles the charts need).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bokeh.embed import file_html
from bokeh.resources import INLINE

from envoylog import __version__
from envoylog.report import charts
from envoylog.report.data import GatewayData
from envoylog.report.health import BELOW_PEERS, FALLING_BY, RECENT_DAYS, Health, inverter_health

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px; color: #222;
       height: auto; display: block; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 2px solid #e8a202; }
h3 { margin-top: 1.5em; } p.note { color: #555; font-size: 0.9em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f4f4f4; } td.text { text-align: left; }
.figures { display: flex; gap: 2em; flex-wrap: wrap; }
.figures div { font-size: 1.3em; } .figures span { display: block; font-size: 0.65em; color: #555; }
"""

# Blocks of Bokeh's own page template (bokeh/core/_templates/file.html.jinja).
TEMPLATE = """{% from macros import embed %}
{% block title %}{{ page_title }}{% endblock %}
{% block postamble %}<style>{{ style }}</style>{% endblock %}
{% block contents %}
{% for block in blocks %}
{% if block.root %}{{ embed(roots[block.root]) }}{% else %}{{ block.html }}{% endif %}
{% endfor %}
{% endblock %}
"""


@dataclass(frozen=True, slots=True)
class Block:
    """A piece of the page: escaped HTML, or the name of a chart to embed."""

    html: str = ""
    root: str = ""


def render(gateways: Sequence[GatewayData], generated_at: datetime) -> str:
    """The whole report as one HTML document."""
    title = "envoylog report: " + ", ".join(g.name for g in gateways)
    blocks = [
        Block(f"<h1>{_e(title)}</h1>"),
        Block(
            f'<p class="note">Generated {generated_at:%Y-%m-%d %H:%M} UTC by envoylog '
            f"{_e(__version__)}. Times are each gateway's local time; energy comes from "
            "the gateway's lifetime counters, corrected for wraps and resets.</p>"
        ),
    ]
    models: list[Any] = []
    for index, gateway in enumerate(gateways):
        blocks.extend(_gateway(index, gateway, models))
    return str(
        file_html(
            models,
            INLINE,
            title,
            template=TEMPLATE,
            template_variables={"blocks": blocks, "style": STYLE, "page_title": _e(title)},
        )
    )


def _gateway(index: int, g: GatewayData, models: list[Any]) -> list[Block]:
    blocks: list[Block] = []

    def chart(figure: Any) -> None:
        if figure is not None:
            models.append(figure)
            blocks.append(Block(root=figure.name))

    def name(what: str) -> str:
        return f"{what}-{index}"

    blocks.append(
        Block(
            f"<h2>{_e(g.name)}</h2><p>Gateway {_e(g.serial)}, {_e(g.timezone)}: "
            f"{g.first} to {g.last}.</p>{_totals(g)}"
        )
    )
    blocks.append(Block("<h3>A day's power</h3>"))
    chart(charts.power_curve(name("power"), g.day, g.timezone, g.power))
    if not g.power:
        blocks.append(Block(f'<p class="note">No power readings on {g.day}.</p>'))
    chart(charts.soc_curve(name("soc"), g.day, g.timezone, g.soc))
    span = (g.last - g.first).days + 1
    blocks.append(Block("<h3>Energy per day and per month</h3>"))
    chart(charts.energy_bars(name("daily"), "Energy per day (kWh)", g.daily, "date", 1))
    chart(charts.shares(name("shares"), g.daily, "date"))
    if span > 31:
        chart(charts.energy_bars(name("monthly"), "Energy per month (kWh)", g.monthly, "month", 30))
    blocks.append(Block(_monthly_table(g)))
    health = inverter_health(g.inverter_days, g.inverters) if not g.inverter_days.empty else None
    if health is not None:
        blocks.append(Block("<h3>Panel health</h3>"))
        chart(charts.heatmap(name("panels"), health))
        blocks.append(Block(_health_tables(health)))
    blocks.append(Block("<h3>Data quality</h3>"))
    chart(charts.coverage(name("coverage"), g.daily))
    blocks.append(Block(_quality_tables(g)))
    return blocks


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _table(headers: Iterable[str], rows: Iterable[Iterable[object]], text_columns: int = 1) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="text">{_e(v)}</td>' if k < text_columns else f"<td>{_e(v)}</td>"
            for k, v in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _kwh(value: object) -> str:
    return "" if value is None or value != value else f"{float(value):,.1f}"  # type: ignore[arg-type]


def _totals(g: GatewayData) -> str:
    d = g.daily
    parts = []
    for column, label in (
        ("production_kwh", "produced"),
        ("consumption_kwh", "consumed"),
        ("import_kwh", "imported"),
        ("export_kwh", "exported"),
    ):
        if d[column].notna().any():
            parts.append(f"<div>{_kwh(d[column].sum())} kWh<span>{label}</span></div>")
    return f'<div class="figures">{"".join(parts)}</div>'


def _monthly_table(g: GatewayData) -> str:
    rows = [
        (
            f"{m['month']:%Y-%m}",
            _kwh(m["production_kwh"]),
            _kwh(m["consumption_kwh"]),
            _kwh(m["import_kwh"]),
            _kwh(m["export_kwh"]),
            _kwh(m["battery_charge_kwh"]),
            _kwh(m["battery_discharge_kwh"]),
            _kwh(m["self_consumption_kwh"]),
            ""
            if m["self_sufficiency_pct"] != m["self_sufficiency_pct"]
            else m["self_sufficiency_pct"],
            m["coverage_pct"],
        )
        for _, m in g.monthly.iterrows()
    ]
    headers = (
        "month", "produced kWh", "consumed kWh", "imported kWh", "exported kWh",
        "battery charged kWh", "battery discharged kWh", "self-consumption kWh",
        "self-sufficiency %", "coverage %",
    )  # fmt: skip
    return _table(headers, rows)


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.0f} %"


def _health_tables(health: Health) -> str:
    weak = health.under_performers
    intro = (
        f'<p class="note">Under-performers: active inverters below {100 * BELOW_PEERS:.0f} % of '
        f"the median inverter over the range, or whose share fell by {100 * FALLING_BY:.0f} "
        f"points or more over the last {RECENT_DAYS} days against the days before.</p>"
    )
    if weak:
        rows = [
            (
                i.serial,
                _pct(i.ratio),
                _pct(i.earlier),
                _pct(i.recent),
                ", ".join(
                    w for w, on in (("below peers", i.below_peers), ("falling", i.falling)) if on
                ),
                f"{i.kwh:,.1f}",
            )
            for i in weak
        ]
        headers = ("inverter", "of median", "earlier", "recent", "why", "kWh")
        table = '<div id="under-performers">' + _table(headers, rows) + "</div>"
    else:
        table = '<p id="under-performers">No under-performing inverter.</p>'
    removed = ""
    if health.removed:
        names = ", ".join(_e(i.serial) for i in health.removed)
        removed = (
            f'<p id="removed">Removed (the gateway lists them as inactive; marked in the '
            f"heatmap, never compared): {names}.</p>"
        )
    return intro + table + removed


def _quality_tables(g: GatewayData) -> str:
    zone = ZoneInfo(g.timezone)

    def local(at: datetime) -> str:
        return at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")

    parts = [
        '<p class="note">A gap is more than 30 minutes without a successful poll: energy across '
        "it is still counted (the counters know it) but its hours are estimated, and the "
        "day's coverage shows it. Nobody should mistake a gap for a cloudy day.</p>"
    ]
    if g.gaps:
        rows = [
            (local(gap.start), local(gap.end), f"{(gap.end - gap.start).total_seconds() / 60:.0f}")
            for gap in g.gaps
        ]
        parts.append('<div id="gaps">' + _table(("from", "to", "minutes"), rows, 2) + "</div>")
    else:
        parts.append('<p id="gaps">No gap.</p>')
    if g.corrections:
        rows = [(local(e.at), e.kind, e.detail) for e in g.corrections]
        parts.append(
            '<div id="corrections"><p>Counter corrections:</p>'
            + _table(("at", "kind", "detail"), rows, 3)
            + "</div>"
        )
    else:
        parts.append('<p id="corrections">No counter correction.</p>')
    if g.parse_failures:
        per_day: dict[tuple[str, str], int] = {}
        for at, endpoint in g.parse_failures:
            key = (f"{at.astimezone(zone):%Y-%m-%d}", endpoint)
            per_day[key] = per_day.get(key, 0) + 1
        counts = [(day, endpoint, n) for (day, endpoint), n in sorted(per_day.items())]
        parts.append(
            '<div id="parse-failures"><p>Answers no parser understood (kept for '
            "<code>envoylog reparse</code>):</p>"
            + _table(("day", "endpoint", "answers"), counts, 2)
            + "</div>"
        )
    else:
        parts.append('<p id="parse-failures">No parse failure.</p>')
    return "".join(parts)
