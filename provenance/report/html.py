"""The HTML report: one self-contained page for reviewers and lawyers.

Everything is inline — styles, charts and the lineage graph are drawn as SVG computed here, so the
page needs no script, font or stylesheet from anywhere and can be archived or mailed as one file. A
Content-Security-Policy in the page forbids loading anything else. Text from the report is escaped by
Jinja's autoescaping; only absolute http(s) citations become links.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import jinja2

from provenance.policy.model import most_severe
from provenance.report import graph_layout
from provenance.report.base import Renderer
from provenance.report.common import (
    display_path,
    first_waived,
    pct,
    rule_groups,
    safe_url,
    text_width,
    title_of,
    waiver_note,
    wrap,
)
from provenance.text import count

if TYPE_CHECKING:
    from provenance.auditor import AuditReport

TEMPLATE = "audit-report.html"


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    share: float
    y: float
    width: float
    lines: tuple[str, ...]
    """The label over as many lines as it needs (never cut)."""
    height: float


@dataclass(frozen=True)
class BarChart:
    """A horizontal bar chart, laid out in pixels; the label column is as wide as its longest
    label, up to :data:`MAX_LABEL_WIDTH`, beyond which labels wrap."""

    id: str
    title: str
    bars: tuple[Bar, ...]
    width: float
    height: float
    label_width: float
    bar_height: float
    plot_width: float


LABEL_SIZE = 12.0
"""Font size of chart labels (px); the template's CSS matches."""
LABEL_LINE = 15.0
MAX_LABEL_WIDTH = 320.0
MIN_PLOT_WIDTH = 250.0
VALUE_WIDTH = 70.0


@dataclass(frozen=True)
class Segment:
    label: str
    value: int
    share: float
    x: float
    width: float
    css: str


@dataclass(frozen=True)
class ShareChart:
    """One stacked bar of shares that add up to the whole, with a legend."""

    id: str
    title: str
    segments: tuple[Segment, ...]
    width: float
    height: float


def bar_chart(
    chart_id: str, title: str, values: dict[str, int], *, limit: int = 12, width: float = 520
) -> BarChart:
    """Bars for the largest ``limit`` values; the rest are summed into one "others" bar."""
    items = list(values.items())
    if len(items) > limit:
        rest = sum(v for _, v in items[limit - 1 :])
        items = [*items[: limit - 1], (f"{len(items) - limit + 1} others", rest)]
    gap = 8.0
    bar_height = 20.0
    longest = max((text_width(label, LABEL_SIZE) for label, _ in items), default=0.0)
    label_width = min(max(longest, 60.0), MAX_LABEL_WIDTH) + 14
    width = max(width, label_width + MIN_PLOT_WIDTH + VALUE_WIDTH)
    plot = width - label_width - VALUE_WIDTH
    top = max((v for _, v in items), default=0)
    total = sum(v for _, v in items)
    bars = []
    y = 0.0
    for label, value in items:
        lines = tuple(wrap(label, lambda t: text_width(t, LABEL_SIZE) <= label_width - 14))
        row = max(bar_height, len(lines) * LABEL_LINE + 5)
        bars.append(
            Bar(
                label,
                value,
                value / total if total else 0.0,
                y,
                plot * value / top if top else 0.0,
                lines,
                row,
            )
        )
        y += row + gap
    height = max(y - gap, bar_height)
    return BarChart(chart_id, title, tuple(bars), width, height, label_width, bar_height, plot)


def share_chart(
    chart_id: str, title: str, parts: list[tuple[str, int, str]], *, width: float = 520
) -> ShareChart:
    total = sum(v for _, v, _ in parts)
    x = 0.0
    segments = []
    for label, value, css in parts:
        share = value / total if total else 0.0
        segments.append(Segment(label, value, share, x, width * share, css))
        x += width * share
    return ShareChart(chart_id, title, tuple(segments), width, 28.0)


def _depth_label(depth: int) -> str:
    if depth == 0:
        return "0 · untagged or human"
    if depth == 1:
        return "1 · written by a model"
    return f"{depth} · {depth - 1} model generation{'s' if depth > 2 else ''} behind"


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("provenance", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["safe_url"] = safe_url
    env.filters["pct"] = pct
    env.filters["display_path"] = display_path
    env.globals["plural"] = count
    env.globals["first_waived"] = first_waived
    env.globals["waiver_note"] = waiver_note
    env.globals["KIND_LABEL"] = graph_layout.KIND_LABEL
    return env


class HtmlRenderer(Renderer):
    name = "html"
    suffix = ".html"

    def context(self, report: AuditReport) -> dict[str, Any]:
        """Everything the template shows, computed here so the template only lays it out."""
        s = report.summary
        nodes, edges = graph_layout.report_graph(report)
        graph = graph_layout.fit(nodes, edges)
        charts = [
            bar_chart("chart-providers", "Records by provider", s.by_provider),
            bar_chart(
                "chart-depth",
                "Generation depth (hops of model-written data behind a record)",
                {_depth_label(d): n for d, n in sorted(s.generation_depth.items())},
            ),
        ]
        if s.by_model:
            charts.append(bar_chart("chart-models", "Records by model", s.by_model))
        share = share_chart(
            "chart-share",
            "Synthetic and untagged records",
            [
                ("signed and verified (synthetic)", s.synthetic_records, "seg-synthetic"),
                ("no manifest (untagged)", s.untagged_records, "seg-untagged"),
                ("failed verification", s.failed_records, "seg-failed"),
            ],
        )
        decisions = [
            {"decision": d, "groups": rule_groups(d.findings)} for d in report.policy.decisions
        ]
        extra = rule_groups(report.extra_findings)
        return {
            "report": report,
            "summary": s,
            "intent": report.intent,
            "decisions": decisions,
            "extra_groups": extra,
            "extra_outcome": most_severe(g.outcome for g in extra),
            "extra_title": title_of(report, "provenance/model-collapse-risk"),
            "finding_sources": report.finding_sources,
            "obligations": report.policy.obligations,
            "waivers": report.policy.waivers,
            "charts": charts,
            "share": share,
            "graph": graph,
            "edge_kinds": sorted({e.kind for e in edges}),
            "generated_at": report.generated_at.isoformat().replace("+00:00", "Z"),
        }

    def render(self, report: AuditReport) -> str:
        return _environment().get_template(TEMPLATE).render(self.context(report))
