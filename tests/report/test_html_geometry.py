"""The HTML report measured in headless Chromium: the lineage graph fits the page, no chart or graph
label is clipped or cut short, and no two edge labels lie on each other.

A copy of the page gets a small script (the report itself allows none) that writes the bounding boxes
the browser laid out into the DOM, read back with ``--dump-dom``. Skipped when no Chromium is on PATH.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from provenance.report import RENDERERS
from tests.report.helpers import Scenarios
from tests.report.html_dom import parse
from tests.report.test_html_browser import _browser, _run

LONG_MODEL = "meta-llama/Llama-3.1-405B-Instruct-Turbo-long-context-preview-2025-06"
WINDOW = (1280, 1600)
SLACK = 0.5
"""Sub-pixel rounding allowed at a box's edge."""

MEASURE = """
<script>
window.addEventListener("load", () => {
  const box = (e) => { const r = e.getBoundingClientRect();
    return {left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width}; };
  const main = document.querySelector("main");
  const style = getComputedStyle(main);
  const content = { left: main.getBoundingClientRect().left + parseFloat(style.paddingLeft),
                    right: main.getBoundingClientRect().right - parseFloat(style.paddingRight) };
  const graph = document.getElementById("lineage-graph");
  const nodes = [...graph.querySelectorAll(".node")].map((g) => ({
    id: g.dataset.id, rect: box(g.querySelector("rect")),
    texts: [...g.querySelectorAll("text")].map((t) => ({text: t.textContent, box: box(t)})) }));
  const edgeLabels = [...graph.querySelectorAll(".edge-label")].map((t) => (
    {text: t.textContent, box: box(t)}));
  const charts = [...document.querySelectorAll("svg.bar-chart")].map((svg) => ({
    id: svg.closest("figure").id, svg: box(svg), figure: box(svg.closest("figure")),
    texts: [...svg.querySelectorAll("text")].map((t) => ({text: t.textContent, box: box(t)})) }));
  const out = document.createElement("pre");
  out.id = "geometry";
  out.textContent = JSON.stringify({ content, window: window.innerWidth, graph: box(graph),
    graphBox: box(graph.parentElement), nodes, edgeLabels, charts,
    scrollWidth: document.documentElement.scrollWidth });
  document.body.appendChild(out);
});
</script>
"""


def _measure(html: str, folder: Path) -> dict[str, Any]:
    browser = _browser()
    page = folder / "measured.html"
    without_csp = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html)
    page.write_text(without_csp.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    done = _run(
        browser,
        folder / "profile",
        "--hide-scrollbars",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--virtual-time-budget=10000",
        "--dump-dom",
        page.as_uri(),
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    found = parse(done.stdout.decode("utf-8")).by_id("geometry")
    assert found is not None, "the measuring script did not run"
    measured: dict[str, Any] = json.loads(found.text())
    return measured


def _inside(inner: dict[str, float], outer: dict[str, float]) -> bool:
    return (
        inner["left"] >= outer["left"] - SLACK
        and inner["right"] <= outer["right"] + SLACK
        and inner["top"] >= outer["top"] - SLACK
        and inner["bottom"] <= outer["bottom"] + SLACK
    )


def _meet(a: dict[str, float], b: dict[str, float]) -> bool:
    return (
        a["left"] < b["right"] - SLACK
        and b["left"] < a["right"] - SLACK
        and a["top"] < b["bottom"] - SLACK
        and b["top"] < a["bottom"] - SLACK
    )


@pytest.fixture(scope="module")
def geometry(scenarios: Scenarios, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The rich audit, with one model whose name is longer than any chart label column."""
    report = scenarios.rich.report
    by_model = {**report.summary.by_model, LONG_MODEL: 1}
    long = replace(report, summary=replace(report.summary, by_model=by_model))
    return _measure(RENDERERS["html"].render(long), tmp_path_factory.mktemp("geometry"))


def test_lineage_graph_fits_the_page_content_width(geometry: dict[str, Any]) -> None:
    content, graph = geometry["content"], geometry["graph"]
    assert graph["width"] > 300, "the graph is drawn"
    assert graph["left"] >= content["left"] - SLACK
    assert graph["right"] <= content["right"] + SLACK
    assert geometry["scrollWidth"] <= geometry["window"], "the page scrolls sideways"


def test_graph_text_stays_inside_its_box_and_is_never_cut(geometry: dict[str, Any]) -> None:
    assert geometry["nodes"]
    for node in geometry["nodes"]:
        for text in node["texts"]:
            assert _inside(text["box"], node["rect"]), f"{text['text']!r} leaves {node['id']}"
            assert not text["text"].endswith("…")
    names = [" ".join(t["text"] for t in n["texts"]) for n in geometry["nodes"]]
    assert len(set(names)) == len(names), "two nodes read the same"


def test_edge_labels_do_not_lie_on_each_other_or_on_boxes(geometry: dict[str, Any]) -> None:
    labels = geometry["edgeLabels"]
    assert labels
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            assert not _meet(a["box"], b["box"]), f"{a['text']} and {b['text']} overlap"
        for node in geometry["nodes"]:
            assert not _meet(a["box"], node["rect"]), f"{a['text']} lies on {node['id']}"


def test_chart_labels_are_not_clipped(geometry: dict[str, Any]) -> None:
    charts = {c["id"]: c for c in geometry["charts"]}
    assert {"chart-providers", "chart-depth", "chart-models"} <= set(charts)
    for chart in charts.values():
        assert _inside(chart["svg"], chart["figure"])
        for text in chart["texts"]:
            assert _inside(text["box"], chart["svg"]), f"{text['text']!r} clipped in {chart['id']}"
            assert not text["text"].endswith("…")
    shown = "".join(t["text"] for t in charts["chart-models"]["texts"])
    assert LONG_MODEL.replace(" ", "") in shown.replace(" ", "")
