"""The HTML report in a real browser: no error, every chart drawn, nothing from the network."""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from browser import Rendered, render
from click.testing import CliRunner
from demos import DEMOS, FAULTED, PLAIN_DAY, SUNNY_DAY, Demo

from envoylog.cli import cli
from envoylog.db import open_store
from envoylog.report import build_report
from envoylog.report.health import inverter_health

PLAIN = [d for d in DEMOS if not d.faults]
OUTAGE = next(d for d in DEMOS if d.faults)
# In a stylesheet: a font, image or sheet fetched from elsewhere.
REMOTE_CSS = re.compile(r"""url\(\s*["']?\s*(?:https?:)?//|@import""")


class References(HTMLParser):
    """Every URL the page's tags load (src, href) and the text of its stylesheets."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.css: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.css.append(data)


def copied(demo_databases: dict[str, Path], demo: Demo, folder: Path) -> Path:
    target = folder / "demo.sqlite"
    shutil.copy(demo_databases[demo.name], target)
    return target


def report_of(db: Path, folder: Path, *args: str) -> Path:
    out = folder / "report.html"
    result = CliRunner().invoke(cli, ["report", "--db", str(db), "-o", str(out), *args])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def outage(
    chromium: Any, demo_databases: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Rendered]:
    folder = tmp_path_factory.mktemp("outage")
    db = copied(demo_databases, OUTAGE, folder)
    return db, render(chromium, report_of(db, folder))


@pytest.mark.parametrize("demo", PLAIN, ids=[d.profile for d in PLAIN])
def test_a_demo_report_renders_without_error_and_draws_every_chart(
    chromium: Any, demo_databases: dict[str, Path], tmp_path: Path, demo: Demo
) -> None:
    report = report_of(copied(demo_databases, demo, tmp_path), tmp_path)
    screenshot = tmp_path / "report.png"

    rendered = render(chromium, report, screenshot)

    assert rendered.errors == []
    assert {"power-0", "daily-0", "coverage-0"} <= {c["name"] for c in rendered.charts}
    assert rendered.empty_charts == []
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_report_asks_for_nothing_but_its_own_file(
    chromium: Any, demo_databases: dict[str, Path], tmp_path: Path
) -> None:
    report = report_of(copied(demo_databases, PLAIN[0], tmp_path), tmp_path)

    rendered = render(chromium, report)

    references = References()
    references.feed(report.read_text())
    assert rendered.requests == [report.resolve().as_uri()]
    assert references.urls == []  # every script and style is inline
    assert references.css and not any(REMOTE_CSS.search(css) for css in references.css)


def test_a_fall_back_day_is_drawn_25_hours_wide(
    chromium: Any, demo_databases: dict[str, Path], tmp_path: Path
) -> None:
    berlin = Demo(FAULTED, PLAIN_DAY)
    rendered = render(chromium, report_of(copied(demo_databases, berlin, tmp_path), tmp_path))
    (power,) = [c for c in rendered.charts if c["name"] == "power-0"]
    assert power["x_end"] == 25


def test_a_gap_is_listed_with_its_local_times(outage: tuple[Path, Rendered]) -> None:
    text = outage[1].text
    assert re.search(r"2024-06-21 10:0\d CEST\s+2024-06-21 11:0\d CEST\s+6\d", text), text


def test_parse_failures_are_counted_per_day_and_endpoint(outage: tuple[Path, Rendered]) -> None:
    assert re.search(r"2024-06-21\s+meter_readings\s+\d+", outage[1].text)


def test_a_wrapped_inverter_is_a_correction_not_a_spike(outage: tuple[Path, Rendered]) -> None:
    db, rendered = outage
    with open_store(f"sqlite:///{db}") as store:
        _, (data,) = build_report(store, day=SUNNY_DAY)
    (wrap,) = [e for e in data.corrections if e.kind == "counter-wrap"]
    serial = next(s for s in data.inverters if s in wrap.detail)
    health = {i.serial: i for i in inverter_health(data.inverter_days, data.inverters).inverters}
    assert "counter-wrap" in rendered.text
    assert 0.8 < (health[serial].ratio or 0) < 1.2
    assert not health[serial].under_performing


def test_a_removed_inverter_is_marked_and_never_an_under_performer(
    outage: tuple[Path, Rendered],
) -> None:
    db, rendered = outage
    with open_store(f"sqlite:///{db}") as store:
        _, (data,) = build_report(store)
    removed = [s for s, status in data.inverters.items() if status.active is False]
    assert len(removed) == 1
    assert f"never compared): {removed[0]}." in rendered.text
    assert "No under-performing inverter." in rendered.text


def test_the_day_with_the_gap_shows_its_coverage_below_full(outage: tuple[Path, Rendered]) -> None:
    db, _ = outage
    with open_store(f"sqlite:///{db}") as store:
        _, (data,) = build_report(store)
    day = data.daily[data.daily["date"] == SUNNY_DAY].iloc[0]
    assert 90 < day["coverage_pct"] < 97  # an hour of 24 without readings


@pytest.mark.parametrize("profile", ["iq-battery-no-storage-ct", "iq-battery-storage-ct"])
def test_a_battery_sites_report_draws_its_state_of_charge(
    chromium: Any, demo_databases: dict[str, Path], tmp_path: Path, profile: str
) -> None:
    demo = next(d for d in PLAIN if d.profile == profile)
    rendered = render(chromium, report_of(copied(demo_databases, demo, tmp_path), tmp_path))
    assert "soc-0" in {c["name"] for c in rendered.charts}
    assert rendered.empty_charts == [] and rendered.errors == []
