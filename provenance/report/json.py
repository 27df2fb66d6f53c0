"""The JSON report: the machine contract, described by ``docs/audit-report.schema.json``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from provenance.report.base import Renderer

if TYPE_CHECKING:
    from provenance.auditor import AuditReport


class JsonRenderer(Renderer):
    name = "json"
    suffix = ".json"

    def render(self, report: AuditReport) -> str:
        return orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode("utf-8") + "\n"
