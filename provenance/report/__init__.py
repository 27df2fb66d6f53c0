"""Report formats: one :class:`~provenance.auditor.AuditReport`, rendered many ways.

Every format is a :class:`Renderer` registered in :data:`RENDERERS` under its ``--format`` name. A
renderer turns the report into text and never decides anything.
"""

from __future__ import annotations

from provenance.report.base import Renderer
from provenance.report.html import HtmlRenderer
from provenance.report.json import JsonRenderer
from provenance.report.junit import JunitRenderer
from provenance.report.markdown import MarkdownRenderer
from provenance.report.sarif import SarifRenderer
from provenance.report.text import TextRenderer

RENDERERS: dict[str, Renderer] = {
    renderer.name: renderer
    for renderer in (
        TextRenderer(),
        JsonRenderer(),
        MarkdownRenderer(),
        SarifRenderer(),
        JunitRenderer(),
        HtmlRenderer(),
    )
}
"""Every report format, by name."""

__all__ = ["RENDERERS", "Renderer"]
