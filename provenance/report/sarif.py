"""The SARIF 2.1.0 report, for GitHub code scanning and other SARIF viewers.

One run of the tool ``provenance``. Each clause of a terms document (or rule of the engine's own
pseudo documents) that produced a finding is a reporting *rule*, its help text the clause's paraphrase
and its help URI the citation. Results are aggregated: one per rule and data file (shard), with the
record count and sample record ids — never one result per record, so a million-record shard costs
one alert. A finding that concerns the whole dataset (thresholds, records the report cannot place in
a file) is located in the intent file.

Levels: ``error`` for deny, ``warning`` for review, ``note`` for allow. A waived finding is a note with
an accepted external suppression naming the waiver's owner, reason and expiry.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance.policy.model import SEVERITY, most_severe
from provenance.policy.report import Finding
from provenance.report.base import Renderer
from provenance.report.common import (
    RuleGroup,
    display_path,
    relative_uri,
    rule_groups,
    safe_url,
    title_of,
    waiver_note,
)
from provenance.text import count

if TYPE_CHECKING:
    from provenance.auditor import AuditReport

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
INFORMATION_URI = "https://provenance.dev/"
INTENT_ENV = "PROVENANCE_AUDIT_INTENT"
"""Environment variable naming the intent file, when the renderer is not told it directly."""
DEFAULT_INTENT = "intent.yaml"
SRCROOT = "%SRCROOT%"
LEVEL = {"deny": "error", "review": "warning", "allow": "note"}
MAX_SAMPLES_IN_MESSAGE = 5


def _level(finding: Finding) -> str:
    return "note" if finding.waived_by is not None else LEVEL[finding.outcome]


def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


class SarifRenderer(Renderer):
    """SARIF 2.1.0. ``intent`` is the intent file that dataset-wide findings point at (default:
    ``$PROVENANCE_AUDIT_INTENT``, else the report's intent file, else ``intent.yaml``); ``base`` the directory relative paths are
    taken from (default: the working directory, the repository root in CI)."""

    name = "sarif"
    suffix = ".sarif"

    def __init__(self, intent: str | Path | None = None, base: Path | None = None) -> None:
        self.intent = None if intent is None else str(intent)
        self.base = base

    def render(self, report: AuditReport) -> str:
        return json.dumps(self.log(report), indent=2, ensure_ascii=False) + "\n"

    def log(self, report: AuditReport) -> dict[str, Any]:
        """The SARIF log as a JSON-ready mapping."""
        base = (self.base or Path.cwd()).resolve()
        intent = self.intent or os.environ.get(INTENT_ENV) or report.intent_source or DEFAULT_INTENT
        groups = rule_groups(report.findings)
        rules = [self._rule(report, g) for g in groups]
        results: list[dict[str, Any]] = []
        for index, group in enumerate(groups):
            for finding in group.findings:
                results += self._results(report, group, index, finding, intent, base)
        run: dict[str, Any] = {
            "tool": {
                "driver": {
                    "name": "provenance",
                    "fullName": "provenance audit",
                    "version": report.tool_version,
                    "semanticVersion": report.tool_version,
                    "informationUri": INFORMATION_URI,
                    "rules": rules,
                }
            },
            "automationDetails": {"id": "provenance-audit/"},
            "originalUriBaseIds": {SRCROOT: {"uri": base.as_uri() + "/"}},
            "invocations": [
                {
                    "executionSuccessful": True,
                    "exitCode": report.exit_code(),
                    "endTimeUtc": report.generated_at.isoformat().replace("+00:00", "Z"),
                }
            ],
            "results": results,
            "properties": {
                "verdict": report.verdict,
                "outcome": report.outcome,
                "failOn": report.fail_on,
                "datasetDigest": report.dataset_digest,
                "records": report.summary.records,
                "syntheticShare": round(report.summary.synthetic_share, 6),
                "intent": report.intent.to_dict(),
                "policies": [p.to_dict() for p in report.policies],
            },
        }
        return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}

    def _rule(self, report: AuditReport, group: RuleGroup) -> dict[str, Any]:
        first = group.findings[0]
        clause = next((f.clause for f in group.findings if f.clause is not None), None)
        title = title_of(report, group.terms)
        if clause is not None:
            short_text = f"{clause.section} {clause.paraphrase}".strip()
            help_text = f"{clause.paraphrase}\n\n{group.terms} {clause.section}: {clause.citation}"
            help_md = (
                f"{clause.paraphrase}\n\n**{group.terms}** {clause.section}: {clause.citation}"
            )
        else:
            short_text = f"{title or group.terms}: {group.rule or 'whole document'}"
            settles = "; ".join(first.settles)
            help_text = f"{title or group.terms}: {first.reason}" + (
                f"\n\nTo settle: {settles}" if settles else ""
            )
            help_md = help_text
        rule: dict[str, Any] = {
            "id": group.id,
            "name": group.id,
            "shortDescription": {"text": short_text[:1000]},
            "fullDescription": {
                "text": f"{title or group.terms} — {group.rule or 'whole document'}: "
                f"{clause.paraphrase if clause is not None else first.reason}"
            },
            "help": {"text": help_text, "markdown": help_md},
            "defaultConfiguration": {
                "level": LEVEL[most_severe(f.original_outcome or f.outcome for f in group.findings)]
            },
            "properties": {
                "terms": group.terms,
                "clause": group.rule,
                "tags": list(
                    dict.fromkeys(["provenance", "training-data", group.terms.split("/", 1)[0]])
                ),
            },
        }
        if title:
            rule["properties"]["title"] = title
        if clause is not None:
            rule["properties"].update(
                {
                    "section": clause.section,
                    "effect": clause.effect,
                    "confidence": clause.confidence,
                    "passesToDerivatives": clause.passes_to_derivatives,
                }
            )
            url = safe_url(clause.citation)
            if url is not None:
                rule["helpUri"] = url
        return rule

    def _results(
        self,
        report: AuditReport,
        group: RuleGroup,
        index: int,
        finding: Finding,
        intent: str,
        base: Path,
    ) -> list[dict[str, Any]]:
        shards = report.finding_sources(finding)
        places: list[tuple[str | None, int]] = list(shards.items()) or [(None, 0)]
        out = []
        for shard, in_shard in places:
            records = in_shard if shard is not None else finding.record_count
            where = shard if shard is not None else intent
            uri, relative = relative_uri(where, base)
            location: dict[str, Any] = {"uri": uri}
            if relative:
                location["uriBaseId"] = SRCROOT
            samples = list(finding.sample_record_ids)
            if shard is not None:
                scope = display_path(shard, base)
            else:
                scope = "the whole dataset" if finding.path == "dataset" else "the dataset"
            text = (
                f"{finding.outcome.upper()} under {group.id}: {finding.reason} — "
                f"{count(records, 'record')} in {scope}"
            )
            if samples:
                note = "" if len(shards) <= 1 else f" (of {count(len(shards), 'file')})"
                text += f"; e.g. {', '.join(samples[:MAX_SAMPLES_IN_MESSAGE])}{note}"
            text += f". Path: {finding.path}."
            if finding.settles:
                text += " To settle: " + "; ".join(finding.settles) + "."
            waived = waiver_note(finding)
            if waived is not None and finding.waived_by is not None:
                text += f" {waived[0].upper()}{waived[1:]}: {finding.waived_by.reason}"
            properties: dict[str, Any] = {
                "outcome": finding.outcome,
                "terms": finding.terms,
                "clause": finding.rule,
                "path": finding.path,
                "hops": finding.hops,
                "records": records,
                "findingRecords": finding.record_count,
                "sampleRecordIds": samples,
                "shard": shard,
                "severityRank": SEVERITY[finding.outcome],
            }
            if finding.clause is not None:
                properties["section"] = finding.clause.section
                properties["citation"] = finding.clause.citation
            if finding.settles:
                properties["settles"] = list(finding.settles)
            result: dict[str, Any] = {
                "ruleId": group.id,
                "ruleIndex": index,
                "level": _level(finding),
                "message": {"text": text},
                "locations": [{"physicalLocation": {"artifactLocation": location}}],
                "partialFingerprints": {
                    "provenanceFinding/v1": _fingerprint(group.id, finding.path, where)
                },
                "properties": properties,
            }
            if finding.waived_by is not None:
                waiver = finding.waived_by
                properties["originalOutcome"] = finding.original_outcome
                result["suppressions"] = [
                    {
                        "kind": "external",
                        "status": "accepted",
                        "justification": f"{waiver.reason} (accepted by {waiver.owner}, "
                        f"expires {waiver.expires.isoformat()})",
                        "properties": {
                            "owner": waiver.owner,
                            "expires": waiver.expires.isoformat(),
                        },
                    }
                ]
            out.append(result)
        return out
