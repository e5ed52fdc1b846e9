"""The report page: self-contained, and every chart drawn when a real headless Chromium opens it.

The browser tests need Debian's ``chromium`` (CI installs it); without it they skip, saying so.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path

import pytest

from local.report import CHARTS, write_report
from local.report.browser import dump_dom, find_chromium, screenshot
from tests.report.timelines import realistic_timeline

needs_chromium = pytest.mark.skipif(
    find_chromium() is None, reason="Debian's chromium is not installed (apt-get install chromium)"
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ChartContents(HTMLParser):
    """For each chart container (by id): the SVG root classes and the trace paths drawn inside it."""

    def __init__(self, chart_ids: set[str]) -> None:
        super().__init__()
        self.chart_ids = chart_ids
        self.svg_classes: dict[str, list[str]] = defaultdict(list)
        self.drawn_paths: dict[str, int] = defaultdict(int)
        # For each open element: the chart it belongs to, and whether it is inside a trace's group.
        self._stack: list[tuple[str | None, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        inside, in_trace = self._stack[-1] if self._stack else (None, False)
        if attributes.get("id") in self.chart_ids:
            inside = attributes["id"]
        in_trace = in_trace or "trace" in (attributes.get("class") or "").split()
        if inside is not None:
            if tag == "svg":
                self.svg_classes[inside].append(attributes.get("class") or "")
            # Inside <g class="trace ...">: a bar is a <path> per point, a line one "js-line" path; axes and grid
            # lines are drawn outside the traces' groups.
            if in_trace and tag == "path" and re.match(r"M\s*-?\d", attributes.get("d") or ""):
                self.drawn_paths[inside] += 1
        self._stack.append((inside, in_trace))

    def handle_endtag(self, tag: str) -> None:
        if self._stack:
            self._stack.pop()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self.handle_endtag(tag)


def rendered_charts(dom: str) -> ChartContents:
    parser = ChartContents({chart.element_id for chart in CHARTS})
    parser.feed(dom)
    return parser


def test_write_report_page_is_self_contained_with_every_chart_and_the_timeline(tmp_path: Path) -> None:
    timeline = realistic_timeline()

    page = write_report(timeline, tmp_path / "nested" / "report.html")

    text = page.read_text()
    # plotly's JavaScript is inside the page: nothing is fetched from elsewhere.
    assert "<script src=" not in text
    assert "Plotly.newPlot" in text
    for chart in CHARTS:
        assert f'id="{chart.element_id}"' in text
    embedded = re.search(r'<script type="application/json" id="timeline">(.*?)</script>', text, re.S)
    assert embedded is not None
    assert json.loads(embedded.group(1)) == timeline.to_dict()


@needs_chromium
def test_report_in_headless_chromium_every_chart_rendered_with_traces(tmp_path: Path) -> None:
    # GIVEN a report of a realistic run
    page = write_report(realistic_timeline(), tmp_path / "report.html")

    # WHEN a real browser opens it and runs its scripts
    charts = rendered_charts(dump_dom(page))

    # THEN every chart's container holds plotly's SVG with plotted traces
    for chart in CHARTS:
        assert "main-svg" in charts.svg_classes[chart.element_id], f"{chart.title}: no plot drawn"
        assert charts.drawn_paths[chart.element_id] > 0, f"{chart.title}: no trace drawn"


@needs_chromium
def test_report_without_plotly_script_check_finds_no_chart(tmp_path: Path) -> None:
    # GIVEN a page whose plotly.js is missing (the check must be able to fail)
    page = write_report(realistic_timeline(), tmp_path / "report.html")
    text = page.read_text()
    start = text.index('<script type="text/javascript">')
    end = text.index("</script>", start) + len("</script>")
    page.write_text(text[:start] + text[end:])

    charts = rendered_charts(dump_dom(page))

    assert not any("main-svg" in charts.svg_classes[chart.element_id] for chart in CHARTS)


@needs_chromium
def test_screenshot_writes_png_of_the_report(tmp_path: Path) -> None:
    page = write_report(realistic_timeline(seconds=10), tmp_path / "report.html")

    png = screenshot(page, tmp_path / "report.png", window=(800, 600))

    assert png.read_bytes().startswith(PNG_SIGNATURE)
