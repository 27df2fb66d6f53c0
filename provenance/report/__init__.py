"""Report formats: one :class:`~provenance.auditor.AuditReport`, rendered many ways.

Every format is a :class:`Renderer` registered in :data:`RENDERERS` under its ``--format`` name. A
renderer turns the report into text and never decides anything.
"""

from __future__ import annotations

from provenance.report.base import Renderer
from provenance.report.json import JsonRenderer
from provenance.report.text import TextRenderer

RENDERERS: dict[str, Renderer] = {
    renderer.name: renderer for renderer in (TextRenderer(), JsonRenderer())
}
"""Every report format, by name."""

__all__ = ["RENDERERS", "Renderer"]
