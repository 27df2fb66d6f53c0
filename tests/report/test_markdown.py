"""Markdown for GitHub step summaries: verdict, decisions table, obligations, statistics, details."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from provenance.report import RENDERERS
from provenance.report.markdown import code, link, md
from tests.conftest import Runner
from tests.report.helpers import (
    Scenario,
    Scenarios,
    audit_to,
    contoso_shard,
)


def _render(scenario: Scenario) -> str:
    return RENDERERS["markdown"].render(scenario.report)


def _table(text: str, heading: str) -> list[list[str]]:
    """The body rows of the first table after ``heading``, split on unescaped pipes."""
    lines = text.split(heading, 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return [
        [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines[start + 2 : end]
    ]


def test_verdict_line_first(scenario: Scenario) -> None:
    text = _render(scenario)
    first = text.splitlines()[0]
    assert first.startswith("## ")
    assert scenario.report.verdict.upper() in first
    assert f"Outcome **{scenario.report.outcome}**" in text


def test_decisions_table_has_terms_decision_clause_records_and_path(scenarios: Scenarios) -> None:
    text = _render(scenarios.rich)
    assert "| Terms | Decision | Clause | Records | Path |" in text
    rows = _table(text, "### Decisions")
    report = scenarios.rich.report
    assert len(rows) == len(report.policy.decisions) + 1  # plus the dataset threshold
    contoso = next(r for r in rows if r[0].startswith("contoso/api-terms@2024-01-01"))
    assert "DENY" in contoso[1]
    assert contoso[2].startswith("no-competing-models ")
    assert "[§2(c)](https://example.com/contoso/api-terms#2c)" in contoso[2]
    assert contoso[3] == "8"
    assert "contoso-large-2" in contoso[4]
    assert all(len(r) == 5 for r in rows)


def test_obligations_statistics_and_collapsed_details(scenarios: Scenarios) -> None:
    text = _render(scenarios.rich)
    obligations = _table(text, "### Obligations")
    kinds = {r[1] for r in obligations}
    assert {"model-name-prefix", "attribution", "notice-file", "use-restrictions"} == kinds
    assert any(r[0] == "violated" for r in obligations)
    stats = {r[0]: r[1] for r in _table(text, "### Statistics")}
    assert stats["Synthetic share"] == "86.7%"
    assert stats["Records"].startswith("15 (13 signed and verified, 2 without manifest")
    assert "contoso 8" in stats["By provider"]
    details = text.split("<details>", 1)[1].split("</details>", 1)[0]
    assert "<summary>Details and citations" in details
    assert "https://example.com/fabrikam/licence#3.2" in details
    assert "contoso-a.jsonl`: 4" in details
    assert "acme/m1" in details


def test_waivers_are_listed(scenarios: Scenarios) -> None:
    text = _render(scenarios.waived)
    assert "waived (was deny) by jane@acme.example, expires 2026-01-31" in text
    rows = _table(text, "### Waivers")
    assert rows[0][0] == "applied"
    assert "LR-112" in rows[0][5]


def test_text_from_the_report_cannot_inject_markup(scenarios: Scenarios) -> None:
    report = scenarios.review.report
    finding = report.policy.decisions[0].findings[0]
    evil = replace(
        finding,
        reason="<script>alert(1)</script> | col [x](javascript:alert(1)) *bold*",
        path="a | b `c`",
    )
    decision = replace(report.policy.decisions[0], findings=(evil,))
    policy = replace(report.policy, decisions=(decision,), findings=(evil,))
    text = RENDERERS["markdown"].render(replace(report, policy=policy))
    assert "<script>" not in text
    assert "&lt;script&gt;" in text
    assert not re.search(r"(?<!\\)\]\(javascript:", text)
    rows = _table(text, "### Decisions")
    assert len(rows[0]) == 5  # the pipe in the path did not split the row


def test_helpers_escape_and_link() -> None:
    assert md("a|b") == "a\\|b"
    assert md("<b>") == "&lt;b&gt;"
    assert md("line\nbreak") == "line break"
    assert code("has ` tick") == "``has ` tick``"
    assert link("x", "javascript:alert(1)") == "x (javascript:alert(1))"
    assert link("§1", "https://e.example/a(b)") == "[§1](https://e.example/a%28b%29)"


def test_cli_markdown(project_dir: Path, cli: Runner) -> None:

    contoso_shard(project_dir / "data" / "a.jsonl", prefix="a", n=2)
    out = project_dir / "summary.md"
    result = audit_to(cli, "markdown", out)
    assert result.code == 1
    text = out.read_text(encoding="utf-8")
    assert "FAIL" in text.splitlines()[0]
    assert "`data/a.jsonl`: 2" in text


_MERMAID_NODE = re.compile(r'^  (n\d+)(\(\["|\[\("|\[\["|\[")([^"]*)("\]\)|"\)\]|"\]\]|"\])$')
_MERMAID_EDGE = re.compile(r"^  (n\d+) (-->|-\.->)\|([^|\"]*)\| (n\d+)$")
_MERMAID_STYLE = re.compile(r"^  (classDef \w+ [\w:#,-]+|class (n\d+(?:,n\d+)*) \w+)$")
_ENTITY = re.compile(r"#(\d+);")


def _mermaid(text: str) -> list[str]:
    """The lines of the one Mermaid block in ``text``."""
    blocks = re.findall(r"^```mermaid\n(.*?)^```$", text, flags=re.S | re.M)
    assert len(blocks) == 1
    lines: list[str] = blocks[0].splitlines()
    return lines


def _check_mermaid(lines: list[str]) -> dict[str, str]:
    """Validate a flowchart by structure; return node id → decoded label."""
    assert lines[0] == "flowchart TD"
    labels: dict[str, str] = {}
    edges: list[tuple[str, str]] = []
    styled: list[str] = []
    for line in lines[1:]:
        node, edge, style = (p.match(line) for p in (_MERMAID_NODE, _MERMAID_EDGE, _MERMAID_STYLE))
        if node:
            name, opening, label, closing = node.groups()
            assert name not in labels, f"{name} defined twice"
            assert opening.replace("(", ")").replace("[", "]")[::-1] == closing
            bare = _ENTITY.sub("", label)
            assert not set(bare) & set('"#&<>[](){}|`;\\'), f"unescaped character in {label!r}"
            labels[name] = _ENTITY.sub(lambda m: chr(int(m.group(1))), label)
        elif edge:
            edges.append((edge.group(1), edge.group(4)))
        elif style:
            styled += (style.group(2) or "").split(",") if style.group(2) else []
        else:
            raise AssertionError(f"not a node, edge or style line: {line!r}")
    for source, target in edges:
        assert source in labels and target in labels, f"edge {source} → {target} to no node"
    assert all(n in labels for n in styled)
    return labels


def test_lineage_is_a_valid_mermaid_flowchart_with_full_names(scenarios: Scenarios) -> None:
    from provenance.report.graph_layout import report_graph

    text = _render(scenarios.rich)
    assert "### Lineage" in text
    labels = _check_mermaid(_mermaid(text))
    nodes, edges = report_graph(scenarios.rich.report)
    assert len(labels) == len(nodes)
    joined = "\n".join(labels.values())
    for node in nodes:
        assert node.label in joined
    assert "record class: contoso-large-2 response from tiny-instruct" in joined
    assert "…" not in joined
    assert sum(1 for line in _mermaid(text) if "->" in line) == len(edges)


def test_mermaid_labels_escape_quotes_brackets_and_markup(scenarios: Scenarios) -> None:
    report = scenarios.rich.report
    evil = 'evil"] --> x[("pwn") | `code` #1; <b>&amp;</b> {a} (b)'
    nodes = tuple(
        {**n, "name": evil} if n["id"] == "model:fabrikam-7b" else n for n in report.graph.nodes
    )
    text = _render(
        replace(scenarios.rich, report=replace(report, graph=replace(report.graph, nodes=nodes)))
    )
    labels = _check_mermaid(_mermaid(text))
    assert f"model: {evil}" in labels.values()


def test_no_lineage_diagram_without_signed_records(scenarios: Scenarios) -> None:
    report = scenarios.rich.report
    empty = replace(report, graph=replace(report.graph, nodes=(), edges=()))
    text = RENDERERS["markdown"].render(empty)
    assert "```mermaid" not in text
