"""Open a report in headless Chromium and say what it showed: errors, requests, charts drawn."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# As root in a container: no sandbox; and nothing that would reach for the network.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Per Bokeh root: its name, the length of each glyph's data, and the pixels of its plot
# area painted in a saturated colour (glyphs; the background and grid lines are grey).
CHARTS_JS = """() => {
  const found = [];
  for (const root of Bokeh.documents[0].roots()) {
    const view = Bokeh.index.get_by_id(root.id);
    const layer = view.canvas_view.compose();
    const canvas = layer.canvas || layer;
    const ratio = canvas.width / view.canvas_view.bbox.width;
    const f = view.frame.bbox;
    const x = Math.round(f.x * ratio), y = Math.round(f.y * ratio);
    const w = Math.round(f.width * ratio), h = Math.round(f.height * ratio);
    const pixels = canvas.getContext("2d").getImageData(x, y, w, h).data;
    let painted = 0;
    for (let i = 0; i < pixels.length; i += 4) {
      const r = pixels[i], g = pixels[i + 1], b = pixels[i + 2];
      if (Math.max(r, g, b) - Math.min(r, g, b) > 40) painted++;
    }
    const lengths = root.renderers.filter(r => r.data_source).map(r => r.data_source.get_length());
    found.push({name: root.name, lengths: lengths, painted: painted, x_end: root.x_range.end});
  }
  return found;
}"""


@dataclass
class Rendered:
    """What Chromium made of a report."""

    errors: list[str] = field(default_factory=list)  # console errors and uncaught exceptions
    requests: list[str] = field(default_factory=list)  # every URL the page asked for
    charts: list[dict[str, Any]] = field(default_factory=list)
    text: str = ""  # the page's visible text

    @property
    def empty_charts(self) -> list[str]:
        return [
            c["name"]
            for c in self.charts
            if not c["lengths"] or min(c["lengths"]) == 0 or c["painted"] < 20
        ]


def render(browser: Any, path: Path, screenshot: Path | None = None) -> Rendered:
    """Load the report from its file and wait until Bokeh has drawn every chart."""
    seen = Rendered()
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    try:
        page.on(
            "console",
            lambda m: (
                seen.errors.append(f"console {m.type}: {m.text}")
                if m.type in ("error", "assert")
                else None
            ),
        )
        page.on("pageerror", lambda e: seen.errors.append(f"uncaught: {e}"))
        page.on("request", lambda r: seen.requests.append(r.url))
        page.goto(path.resolve().as_uri())
        page.wait_for_function(
            "() => window.Bokeh && Bokeh.documents.length > 0 && Bokeh.documents[0].is_idle",
            timeout=30_000,
        )
        seen.charts = page.evaluate(CHARTS_JS)
        seen.text = page.inner_text("body")
        if screenshot is not None:
            page.screenshot(path=str(screenshot), full_page=True)
    finally:
        page.close()
    return seen
