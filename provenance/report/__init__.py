"""Report formats: one :class:`~provenance.auditor.AuditReport`, rendered many ways.

Every format is a :class:`Renderer` registered in :data:`RENDERERS` under its ``--format`` name. A
renderer turns the report into text and never decides anything. A renderer's module is imported
only when its format is asked for (the HTML one loads jinja2).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Final

from provenance.report.base import Renderer

FORMATS: Final = {
    "text": "provenance.report.text:TextRenderer",
    "json": "provenance.report.json:JsonRenderer",
    "markdown": "provenance.report.markdown:MarkdownRenderer",
    "sarif": "provenance.report.sarif:SarifRenderer",
    "junit": "provenance.report.junit:JunitRenderer",
    "html": "provenance.report.html:HtmlRenderer",
}
"""Every ``--format`` name and the renderer class that writes it (``module:Class``)."""


class _Renderers(Mapping[str, Renderer]):
    """The renderers by format name, each made on first use."""

    def __init__(self) -> None:
        self._made: dict[str, Renderer] = {}

    def __getitem__(self, name: str) -> Renderer:
        renderer = self._made.get(name)
        if renderer is None:
            module, _, cls = FORMATS[name].partition(":")
            renderer = self._made[name] = getattr(importlib.import_module(module), cls)()
        return renderer

    def __contains__(self, name: object) -> bool:
        return name in FORMATS  # without importing the renderer

    def __iter__(self) -> Iterator[str]:
        return iter(FORMATS)

    def __len__(self) -> int:
        return len(FORMATS)


RENDERERS: Final[Mapping[str, Renderer]] = _Renderers()
"""Every report format, by name."""

__all__ = ["FORMATS", "RENDERERS", "Renderer"]
