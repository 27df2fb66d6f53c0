"""The interface every report format implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provenance.auditor import AuditReport


class Renderer(ABC):
    """Turns an audit report into the text of one format."""

    name: str
    """The ``--format`` value."""
    suffix: str
    """File name suffix for ``--output`` defaults."""

    @abstractmethod
    def render(self, report: AuditReport) -> str:
        """The whole document."""
