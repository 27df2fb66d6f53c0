"""The Markdown report, for a GitHub CI step summary (``$GITHUB_STEP_SUMMARY``) or a PR comment.

Verdict line first, then one table row per terms document, the obligations, the statistics, and the
clause-by-clause details with citations folded into a ``<details>`` block. Text from the report is
escaped for GitHub-flavoured Markdown (which also renders HTML), so a clause or record id can never
inject markup; only absolute http(s) citations become links.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from provenance.policy.report import Finding
from provenance.report import graph_layout
from provenance.report.base import Renderer
from provenance.report.common import (
    display_path,
    first_waived,
    pct,
    rule_groups,
    safe_url,
    short,
    title_of,
    waiver_note,
)
from provenance.text import count

if TYPE_CHECKING:
    from provenance.auditor import AuditReport

ICON = {"allow": "🟢", "review": "🟠", "deny": "🔴"}
VERDICT_ICON = {"pass": "✅", "fail": "❌"}
MAX_DETAILED_FINDINGS = 200
"""The step summary is limited to 1 MiB: details beyond this many findings are counted, not shown."""
MAX_DIAGRAM_NODES = 150
"""Lineage diagrams beyond this many nodes are left out (GitHub stops rendering large diagrams)."""
MERMAID_SHAPE = {
    "model": ('(["', '"])'),
    "dataset": ('[("', '")]'),
    "class": ('["', '"]'),
    "terms": ('[["', '"]]'),
}
"""Mermaid node shapes by kind: stadium, cylinder, box, subroutine."""
MERMAID_ARROW = {graph_layout.JUDGED_UNDER: "-.->"}
_MERMAID_UNSAFE = re.compile(r'["#&<>\[\](){}|`;\\]')

_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md(text: object) -> str:
    """Plain text made inert for GitHub Markdown: HTML escaped, Markdown syntax backslashed."""
    value = " ".join(str(text).split())
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SPECIAL.sub(r"\\\1", value)


def code(text: object) -> str:
    """An inline code span that holds any text (backtick runs are fenced by longer ones).

    Not for table cells, where a ``|`` would still split the cell: use :func:`md` there.
    """
    value = " ".join(str(text).split())
    longest = max((len(run) for run in re.findall(r"`+", value)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def link(label: str, url: object) -> str:
    """``[label](url)`` for an http(s) URL, else the escaped label (and the text of ``url``)."""
    safe = safe_url(url)
    if safe is None:
        return md(label) if not url else f"{md(label)} ({md(url)})"
    target = safe.replace("(", "%28").replace(")", "%29")
    return f"[{md(label)}]({target})"


def mermaid_text(text: object) -> str:
    """Text made inert inside a quoted Mermaid label: every character Mermaid or the Markdown
    around it could read as syntax becomes a numeric entity (``#34;``), which Mermaid decodes."""
    value = " ".join(str(text).split())
    return _MERMAID_UNSAFE.sub(lambda m: f"#{ord(m.group())};", value)


def mermaid(report: AuditReport) -> list[str]:
    """The lineage graph as a Mermaid flowchart (top to bottom), the same nodes as the HTML
    report's; empty when there is nothing to draw or too much to draw."""
    nodes, edges = graph_layout.report_graph(report)
    if not nodes or len(nodes) > MAX_DIAGRAM_NODES:
        return []
    ordered = sorted(nodes, key=lambda n: (graph_layout.KIND_ORDER.get(n.kind, 9), n.label, n.id))
    index = {n.id: i for i, n in enumerate(ordered)}
    ids = {node: f"n{i}" for node, i in index.items()}
    out = ["flowchart TD"]
    for n in ordered:
        start, end = MERMAID_SHAPE.get(n.kind, MERMAID_SHAPE["class"])
        kind = graph_layout.KIND_LABEL.get(n.kind, n.kind)
        label = f"{kind}: {n.label}" + (f" · {n.detail}" if n.detail else "")
        out.append(f"  {ids[n.id]}{start}{mermaid_text(label)}{end}")
    for e in sorted(edges, key=lambda e: (index[e.source], index[e.target], e.kind)):
        arrow = MERMAID_ARROW.get(e.kind, "-->")
        out.append(f"  {ids[e.source]} {arrow}|{mermaid_text(e.kind)}| {ids[e.target]}")
    for outcome, colour in (("deny", "#b42318"), ("review", "#b54708"), ("allow", "#067647")):
        members = [ids[n.id] for n in ordered if n.outcome == outcome]
        if members:
            out.append(f"  classDef {outcome} stroke:{colour},stroke-width:2px")
            out.append(f"  class {','.join(members)} {outcome}")
    return out


def _clause_cell(finding: Finding | None) -> str:
    if finding is None:
        return "—"
    rule = md(finding.rule or "(whole document)")
    if finding.clause is None:
        return rule
    return (
        f"{rule} {link(finding.clause.section or finding.clause.citation, finding.clause.citation)}"
    )


class MarkdownRenderer(Renderer):
    name = "markdown"
    suffix = ".md"

    def render(self, report: AuditReport) -> str:
        out: list[str] = []
        out += self._head(report)
        out += self._decisions(report)
        out += self._obligations(report)
        out += self._waivers(report)
        out += self._statistics(report)
        out += self._lineage(report)
        out += self._details(report)
        out.append(
            f"<sub>provenance {md(report.tool_version)} · dataset digest "
            f"{code(report.dataset_digest)} · generated "
            f"{report.generated_at.isoformat().replace('+00:00', 'Z')}</sub>"
        )
        return "\n".join(out) + "\n"

    def _head(self, report: AuditReport) -> list[str]:
        s = report.summary
        intent = report.intent
        fails_on = "never fails" if report.fail_on == "never" else f"fails on {report.fail_on}"
        return [
            f"## {VERDICT_ICON[report.verdict]} provenance audit: **{report.verdict.upper()}**",
            "",
            f"Outcome **{report.outcome}** ({fails_on}) · {count(s.records, 'record')} in "
            f"{count(len(report.files), 'file')} · training {code(intent.target.name)}: "
            f"{md(intent.activity)}, {'commercial' if intent.commercial else 'non-commercial'}, "
            f"{md(intent.distribution)}, {intent.date.isoformat()}",
            "",
        ]

    def _decisions(self, report: AuditReport) -> list[str]:
        out = ["### Decisions", ""]
        rows: list[tuple[str, str, Finding | None, int, Finding | None]] = []
        for d in report.policy.decisions:
            deciding = d.deciding[0] if d.deciding else None
            rows.append((d.terms, d.outcome, deciding, d.record_count, first_waived(d.findings)))
        for group in rule_groups(report.extra_findings):
            waived = first_waived(group.findings)
            rows.append((group.terms, group.outcome, group.findings[0], group.record_count, waived))
        if not rows:
            return [*out, "No terms document reaches this data.", ""]
        out += [
            "| Terms | Decision | Clause | Records | Path |",
            "|---|---|---|---:|---|",
        ]
        for terms, outcome, finding, records, waived in rows:
            title = title_of(report, terms)
            label = md(terms) + (f"<br><sub>{md(title)}</sub>" if title else "")
            decision = f"{ICON[outcome]} **{outcome.upper()}**"
            if waived is not None:
                decision += f"<br><sub>{md(waiver_note(waived))}</sub>"
            path = md(short(finding.path, 160)) if finding is not None else "—"
            out.append(f"| {label} | {decision} | {_clause_cell(finding)} | {records} | {path} |")
        return [*out, ""]

    def _obligations(self, report: AuditReport) -> list[str]:
        obligations = report.policy.obligations
        if not obligations:
            return ["### Obligations", "", "None.", ""]
        out = [
            "### Obligations",
            "",
            "| Status | Obligation | Text | Terms | Clause |",
            "|---|---|---|---|---|",
        ]
        for o in obligations:
            out.append(
                f"| {md(o.status)} | {md(o.kind)} | {md(o.text or '')} | {md(o.terms)} | "
                f"{md(o.clause)} {link(o.section, o.citation)} |"
            )
        return [*out, ""]

    def _waivers(self, report: AuditReport) -> list[str]:
        waivers = [w for w in report.policy.waivers if w.state != "unused"]
        if not waivers:
            return []
        out = [
            "### Waivers",
            "",
            "| State | Terms | Clause | Owner | Expires | Reason |",
            "|---|---|---|---|---|---|",
        ]
        for status in waivers:
            w = status.waiver
            out.append(
                f"| {md(status.state)} | {md(w.terms)} | {md(w.clause or '(whole document)')} | "
                f"{md(w.owner)} | {w.expires.isoformat()} | {md(w.reason)} |"
            )
        return [*out, ""]

    def _statistics(self, report: AuditReport) -> list[str]:
        s = report.summary
        providers = ", ".join(f"{md(k)} {v}" for k, v in s.by_provider.items()) or "none"
        models = ", ".join(f"{md(k)} {v}" for k, v in s.by_model.items()) or "none"
        depth = ", ".join(f"{k}: {v}" for k, v in s.generation_depth.items()) or "none"
        estimate = "" if s.duplicate_rate_exact else " (estimate)"
        rows = [
            (
                "Records",
                f"{s.records} ({s.synthetic_records} signed and verified, "
                f"{s.untagged_records} without manifest, {s.failed_records} failed verification)",
            ),
            ("Synthetic share", pct(s.synthetic_share)),
            ("Self-generated share", pct(s.self_generated_share)),
            ("Duplicate rate", pct(s.duplicate_rate) + estimate),
            ("Generation depth", f"max {s.max_generation_depth}; records by depth {depth}"),
            ("By provider", providers),
            ("By model", models),
            ("Record classes judged", str(s.classes)),
        ]
        out = ["### Statistics", "", "| | |", "|---|---|"]
        out += [f"| {name} | {value} |" for name, value in rows]
        for note in s.incomplete_batches:
            out.append(f"| Incomplete batch | {md(note)} |")
        return [*out, ""]

    def _lineage(self, report: AuditReport) -> list[str]:
        diagram = mermaid(report)
        if not diagram:
            return []
        return [
            "### Lineage",
            "",
            "Models and datasets behind the data, the record classes judged and the terms that "
            "judged them; an arrow reads “was used to make”.",
            "",
            "```mermaid",
            *diagram,
            "```",
            "",
        ]

    def _details(self, report: AuditReport) -> list[str]:
        findings = report.findings
        if not findings:
            return []
        out = [
            "<details>",
            f"<summary>Details and citations ({count(len(findings), 'finding')})</summary>",
            "",
        ]
        shown = 0
        for group in rule_groups(findings):
            title = title_of(report, group.terms)
            out.append(
                f"#### {ICON[group.outcome]} {md(group.id)}" + (f" — {md(title)}" if title else "")
            )
            out.append("")
            for f in group.findings:
                if shown >= MAX_DETAILED_FINDINGS:
                    break
                shown += 1
                out += self._finding(report, f)
            out.append("")
        if shown < len(findings):
            out += [f"…and {len(findings) - shown} more findings (see the JSON report).", ""]
        out += ["</details>", ""]
        return out

    def _finding(self, report: AuditReport, f: Finding) -> list[str]:
        head = f"- **{f.outcome.upper()}**"
        if f.waived_by is not None:
            head += f", {md(waiver_note(f))}"
        head += f": {md(f.reason)}"
        lines = [head]
        if f.clause is not None:
            if f.clause.paraphrase != f.reason:
                lines.append(f"  - Clause: {md(f.clause.paraphrase)}")
            lines.append(
                f"  - Citation: {link(f.clause.section or f.clause.citation, f.clause.citation)}"
                + (f" (confidence {md(f.clause.confidence)})" if f.clause.confidence else "")
            )
        lines.append(f"  - Path: {code(f.path)}")
        shards = report.finding_sources(f)
        where = ", ".join(f"{code(display_path(k))}: {v}" for k, v in shards.items())
        records = f"  - Records: {f.record_count}"
        if where:
            records += f" ({where})"
        elif f.path == "dataset":
            records += " (the whole dataset)"
        if f.sample_record_ids:
            records += "; e.g. " + ", ".join(code(r) for r in f.sample_record_ids)
        lines.append(records)
        if f.settles:
            lines.append("  - To settle: " + "; ".join(md(s) for s in f.settles))
        for o in f.obligations:
            text = f" {md(o.text)}" if o.text else ""
            lines.append(f"  - Obligation ({md(o.status)}): {md(o.kind)}{text}")
        if f.waived_by is not None:
            w = f.waived_by
            lines.append(
                f"  - Waiver: {md(w.reason)} ({md(w.owner)}, expires {w.expires.isoformat()})"
            )
        return lines
