"""The HTML report: one self-contained page with verdict, decisions, charts and the drawn lineage."""

from __future__ import annotations

import re
from dataclasses import replace
from importlib import resources
from pathlib import Path

from provenance.report import RENDERERS
from provenance.report.graph_layout import report_graph
from tests.conftest import Runner
from tests.report.helpers import (
    Scenario,
    Scenarios,
    audit_to,
    contoso_shard,
)
from tests.report.html_dom import Element, parse


def _page(scenario: Scenario) -> tuple[str, Element]:
    html = RENDERERS["html"].render(scenario.report)
    return html, parse(html)


def test_template_ships_as_package_data() -> None:
    template = resources.files("provenance").joinpath("templates/audit-report.html")
    assert template.is_file()


def test_verdict_banner(scenario: Scenario) -> None:
    _, dom = _page(scenario)
    verdict = dom.by_id("verdict")
    assert verdict is not None
    assert verdict.attrs["data-verdict"] == scenario.report.verdict
    assert scenario.report.verdict in verdict.classes
    assert scenario.report.verdict.upper() in verdict.text()
    assert f"Outcome {scenario.report.outcome}" in " ".join(verdict.text().split())
    title = dom.iter("title")[0].text()
    assert title.startswith(f"provenance audit: {scenario.report.verdict.upper()}")


def test_page_is_self_contained(scenario: Scenario) -> None:
    html, dom = _page(scenario)
    assert html.startswith("<!DOCTYPE html>")
    assert not dom.iter("script")
    assert not dom.iter("link")
    assert not dom.iter("img")
    assert not dom.iter("iframe")
    for element in dom.iter():
        for name in ("src", "srcset", "data", "xlink:href"):
            assert name not in element.attrs, f"<{element.tag} {name}=…> loads something"
        href = element.attrs.get("href")
        if href is not None:
            assert element.tag == "a", f"<{element.tag} href> loads something"
            assert href.startswith(("https://", "http://", "#"))
    styles = " ".join(s.text() for s in dom.iter("style"))
    assert "@import" not in styles
    assert not re.search(r"url\(\s*['\"]?(?!#)", styles)
    assert "@font-face" not in styles
    csp = next(
        m
        for m in dom.iter("meta")
        if m.attrs.get("http-equiv", "").lower() == "content-security-policy"
    )
    assert "default-src 'none'" in csp.attrs["content"]


def test_lineage_graph_is_drawn_with_every_node_and_edge(scenarios: Scenarios) -> None:
    _, dom = _page(scenarios.rich)
    svg = dom.by_id("lineage-graph")
    assert svg is not None
    assert svg.tag == "svg"
    nodes, edges = report_graph(scenarios.rich.report)
    drawn = svg.with_class("node")
    assert len(drawn) == len(nodes)
    assert {n.attrs["data-id"] for n in drawn} == {n.id for n in nodes}
    assert {n.attrs["data-kind"] for n in drawn} == {"model", "dataset", "class", "terms"}
    for node in drawn:
        assert node.iter("rect"), "every node is a box"
        assert node.iter("text")
    lines = svg.with_class("edge")
    assert len(lines) == len(edges)
    kinds = {e.attrs["data-kind"] for e in lines}
    assert {"generated", "trained-on", "derived-from", "judged-under"} <= kinds
    for line in lines:
        assert line.iter("path")[0].attrs["d"].startswith("M ")
        assert line.iter("text")[0].text() == line.attrs["data-kind"]
    terms = next(n for n in drawn if n.attrs["data-id"] == "terms:contoso/api-terms@2024-01-01")
    assert "node-deny" in terms.classes
    width = float(svg.attrs["width"])
    for rect in svg.iter("rect"):
        if "x" in rect.attrs:
            assert 0 <= float(rect.attrs["x"]) <= width


def test_decisions_show_citations_links_and_paths(scenarios: Scenarios) -> None:
    _, dom = _page(scenarios.rich)
    links = {a.attrs["href"] for a in dom.iter("a")}
    assert "https://example.com/contoso/api-terms#2c" in links
    assert "https://example.com/fabrikam/licence#3.2" in links
    assert "https://creativecommons.org/licenses/by-nc/4.0/legalcode#s2a1" in links
    sections = dom.with_class("decision")
    assert len(sections) == len(scenarios.rich.report.policy.decisions) + 1
    assert "decision-deny" in sections[0].classes
    text = " ".join(dom.text().split())
    assert "model acme/m2 ← dataset d2 ← model acme/m1 ← dataset d1 ← model fabrikam-7b" in text
    assert "max-synthetic-share" in text


def test_obligations_to_fulfil(scenarios: Scenarios) -> None:
    _, dom = _page(scenarios.rich)
    rows = dom.with_class("obligation")
    assert len(rows) == len(scenarios.rich.report.policy.obligations)
    assert any("obligation-violated" in r.classes and "Northwind" in r.text() for r in rows)


def test_statistics_charts(scenarios: Scenarios) -> None:
    _, dom = _page(scenarios.rich)
    summary = scenarios.rich.report.summary
    providers = dom.by_id("chart-providers")
    assert providers is not None
    bars = providers.with_class("bar")
    assert len(bars) == len(summary.by_provider)
    widths = [float(b.attrs["width"]) for b in bars]
    assert widths == sorted(widths, reverse=True)
    assert widths[0] > 0
    labels = [t.text() for t in providers.with_class("bar-label")]
    assert labels == list(summary.by_provider)
    depth = dom.by_id("chart-depth")
    assert depth is not None
    assert len(depth.with_class("bar")) == len(summary.generation_depth)
    share = dom.by_id("chart-share")
    assert share is not None
    legend = " ".join(share.text().split())
    assert f"signed and verified (synthetic): {summary.synthetic_records}" in legend
    assert f"no manifest (untagged): {summary.untagged_records}" in legend
    segments = [r for r in share.iter("rect") if "seg-synthetic" in r.classes]
    assert segments


def test_waivers_and_waived_findings(scenarios: Scenarios) -> None:
    _, dom = _page(scenarios.waived)
    rows = dom.with_class("waiver")
    assert len(rows) == 1
    assert "waiver-applied" in rows[0].classes
    assert "LR-112" in rows[0].text()
    assert "waived (was deny)" in dom.text()


def test_report_text_is_escaped_and_only_http_links(scenarios: Scenarios) -> None:
    report = scenarios.review.report
    finding = report.policy.decisions[0].findings[0]
    assert finding.clause is not None
    evil = replace(
        finding,
        reason='<script>alert("x")</script>',
        clause=replace(finding.clause, citation="javascript:alert(1)"),
    )
    decision = replace(report.policy.decisions[0], findings=(evil,))
    policy = replace(report.policy, decisions=(decision,), findings=(evil,))
    html = RENDERERS["html"].render(replace(report, policy=policy))
    dom = parse(html)
    assert not dom.iter("script")
    assert "&lt;script&gt;" in html
    assert all(not a.attrs["href"].startswith("javascript") for a in dom.iter("a"))


def test_no_lineage_is_said(scenarios: Scenarios) -> None:
    report = scenarios.passing.report
    empty = replace(report, graph=replace(report.graph, nodes=(), edges=()))
    dom = parse(RENDERERS["html"].render(empty))
    svg = dom.by_id("lineage-graph")
    assert svg is not None
    assert not svg.with_class("node")
    assert "no lineage to draw" in dom.text()


def test_cli_html(project_dir: Path, cli: Runner) -> None:

    contoso_shard(project_dir / "data" / "a.jsonl", prefix="a", n=2)
    out = project_dir / "audit.html"
    result = audit_to(cli, "html", out)
    assert result.code == 1
    dom = parse(out.read_text(encoding="utf-8"))
    verdict = dom.by_id("verdict")
    assert verdict is not None
    assert verdict.attrs["data-verdict"] == "fail"
    assert RENDERERS["html"].suffix == ".html"
