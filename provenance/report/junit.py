"""The JUnit XML report, for CI systems that show test results (GitLab, Jenkins, Azure, CircleCI).

One ``testsuite`` per terms document (and per engine pseudo document), one ``testcase`` per clause or
rule that produced a finding. A clause that denies or asks for review is a ``failure`` whose message
is the reason and whose text gives the citation, lineage path, records and what would settle it; a
clause that allows passes; a clause whose findings were all waived is ``skipped`` with the waiver's
reason. A document that reached the data without any applicable clause is one passing test case.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from provenance.policy.report import Finding
from provenance.report.base import Renderer
from provenance.report.common import RuleGroup, display_path, rule_groups, title_of, waiver_note

if TYPE_CHECKING:
    from provenance.auditor import AuditReport

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
WHOLE_DOCUMENT = "(whole document)"
NOTHING_REACHES = "provenance audit: no terms document reaches the data"


def _text(value: object) -> str:
    """``value`` as text XML 1.0 can hold (control characters dropped)."""
    return _NOT_XML.sub("", str(value))


def _details(report: AuditReport, f: Finding) -> str:
    lines = [f"{f.outcome.upper()}: {f.reason}"]
    if f.waived_by is not None:
        lines[0] += f" ({waiver_note(f)})"
        lines.append(f"  waiver: {f.waived_by.reason}")
    if f.clause is not None:
        lines.append(f"  clause: {f.clause.section} {f.clause.paraphrase}")
        lines.append(f"  citation: {f.clause.citation}")
    lines.append(f"  path: {f.path}")
    shards = report.finding_sources(f)
    where = ", ".join(f"{display_path(k)}: {v}" for k, v in shards.items())
    lines.append(f"  records: {f.record_count}" + (f" ({where})" if where else ""))
    if f.sample_record_ids:
        lines.append(f"  e.g. {', '.join(f.sample_record_ids)}")
    if f.settles:
        lines.append(f"  to settle: {'; '.join(f.settles)}")
    for o in f.obligations:
        lines.append(f"  obligation ({o.status}): {o.kind}" + (f" {o.text}" if o.text else ""))
    return "\n".join(lines)


class JunitRenderer(Renderer):
    name = "junit"
    suffix = ".xml"

    def render(self, report: AuditReport) -> str:
        root = ET.Element("testsuites", name="provenance audit")
        stamp = report.generated_at.replace(microsecond=0, tzinfo=None).isoformat()
        suites: list[tuple[str, list[RuleGroup]]] = [
            (d.terms, rule_groups(d.findings)) for d in report.policy.decisions
        ]
        extra: dict[str, list[RuleGroup]] = {}
        for group in rule_groups(report.extra_findings):
            extra.setdefault(group.terms, []).append(group)
        suites += list(extra.items())
        if not suites:
            suites = [(NOTHING_REACHES, [])]
        totals: dict[str, int] = {"tests": 0, "failures": 0, "skipped": 0}
        for terms, groups in suites:
            suite = ET.SubElement(root, "testsuite", name=_text(terms), timestamp=stamp)
            counts: dict[str, int] = {"tests": 0, "failures": 0, "skipped": 0}
            props = ET.SubElement(suite, "properties")
            decision = report.policy.decision(terms)
            values: dict[str, str | None] = {
                "terms": None if terms == NOTHING_REACHES else terms,
                "title": title_of(report, terms),
                "decision": decision.outcome if decision is not None else None,
                "records": str(decision.record_count) if decision is not None else None,
                "verdict": report.verdict,
                "dataset_digest": report.dataset_digest,
            }
            for key, value in values.items():
                if value is not None:
                    ET.SubElement(props, "property", name=key, value=_text(value))
            if not groups:
                ET.SubElement(
                    suite, "testcase", classname=_text(terms), name=WHOLE_DOCUMENT, time="0"
                )
                counts["tests"] += 1
            for group in groups:
                self._case(report, suite, group, counts)
            for key, count in counts.items():
                suite.set(key, str(count))
                totals[key] += count
            suite.set("errors", "0")
            suite.set("time", "0")
        for key, total in totals.items():
            root.set(key, str(total))
        root.set("errors", "0")
        root.set("time", "0")
        ET.indent(root)
        body = ET.tostring(root, encoding="unicode")
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"

    def _case(
        self, report: AuditReport, suite: ET.Element, group: RuleGroup, counts: dict[str, int]
    ) -> None:
        first = group.findings[0]
        name = group.rule or WHOLE_DOCUMENT
        if first.clause is not None and first.clause.section:
            name = f"{name} {first.clause.section}"
        case = ET.SubElement(
            suite, "testcase", classname=_text(group.terms), name=_text(name), time="0"
        )
        counts["tests"] += 1
        details = "\n\n".join(_details(report, f) for f in group.findings)
        outcome = group.outcome
        if outcome in ("deny", "review"):
            worst = [f for f in group.findings if f.outcome == outcome]
            message = f"{outcome}: {worst[0].reason}"
            if len(worst) > 1:
                message += f" (and {len(worst) - 1} more paths)"
            failure = ET.SubElement(case, "failure", message=_text(message), type=outcome)
            failure.text = _text(details)
            counts["failures"] += 1
        elif group.waived and len(group.waived) == len(group.findings):
            first = group.waived[0]
            note, w = waiver_note(first), first.waived_by
            reason = "waived" if note is None or w is None else f"{note}: {w.reason}"
            skipped = ET.SubElement(case, "skipped", message=_text(reason))
            skipped.text = _text(details)
            counts["skipped"] += 1
        else:
            out = ET.SubElement(case, "system-out")
            out.text = _text(details)
