"""The terminal report: verdict first, then decisions, obligations and statistics."""

from __future__ import annotations

from typing import TYPE_CHECKING

from provenance.report.base import Renderer
from provenance.report.common import first_waived, waiver_note
from provenance.text import count

if TYPE_CHECKING:
    from provenance.auditor import AuditReport

MARK = {"allow": "ALLOW ", "review": "REVIEW", "deny": "DENY  "}
WAIVED = "WAIVED"
"""The mark of a decision that allows only because a waiver accepted what it would deny or review."""


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


class TextRenderer(Renderer):
    name = "text"
    suffix = ".txt"

    def render(self, report: AuditReport) -> str:
        s = report.summary
        intent = report.intent
        lines = [
            f"provenance audit: {report.verdict.upper()} (outcome {report.outcome}, "
            f"fails on {report.fail_on})",
            f"target: {intent.target.name} ({intent.target.kind or 'model'}), {intent.activity}, "
            f"{'commercial' if intent.commercial else 'non-commercial'}, {intent.distribution}, "
            f"{intent.date.isoformat()}",
            f"records: {s.records:,} in {count(len(report.files), 'file')}; "
            f"{s.synthetic_records:,} signed and verified, {s.untagged_records:,} without "
            f"manifest, {s.failed_records:,} failed verification",
            "",
            "decisions:",
        ]
        if not report.policy.decisions:
            lines.append("  (no terms document reaches this data)")
        for d in report.policy.decisions:
            waived = first_waived(d.findings)
            mark = WAIVED if waived is not None and d.outcome == "allow" else MARK[d.outcome]
            head = f"  {mark} {d.terms}  ({count(d.record_count, 'record')})"
            if mark == WAIVED and waived is not None:
                head += f" — {waiver_note(waived)}"
            lines.append(head)
            deciding = sorted(d.deciding, key=lambda f: f.waived_by is None)
            shown = deciding[: 1 if d.outcome == "allow" else 3]
            shown += [f for f in d.findings if f.waived_by is not None and f not in shown]
            for f in shown:
                section = f" {f.clause.section}" if f.clause else ""
                head = f"{f.rule}{section}: " if f.rule else ""
                lines.append(f"         {head}{f.reason}")
                lines.append(f"         path: {f.path}")
                if f.clause:
                    lines.append(f"         cite: {f.clause.citation}")
                if f.settles:
                    lines.append(f"         to settle: {'; '.join(f.settles)}")
                if f.sample_record_ids:
                    lines.append(f"         e.g. {', '.join(f.sample_record_ids)}")
                if f.waived_by is not None:
                    lines.append(f"         {waiver_note(f)}: {f.waived_by.reason}")
        for f in report.extra_findings:
            note = waiver_note(f)
            mark = MARK[f.outcome] if note is None else WAIVED
            lines.append(
                f"  {mark} {f.terms} {f.rule}: {f.reason}" + ("" if note is None else f" ({note})")
            )
        if report.policy.obligations:
            lines += ["", "obligations:"]
            for o in report.policy.obligations:
                text = f' "{o.text}"' if o.text else ""
                lines.append(f"  [{o.status}] {o.kind}{text} — {o.terms} {o.section}")
        waivers = [w for w in report.policy.waivers if w.state != "unused"]
        if waivers:
            lines += ["", "waivers:"]
            for w in waivers:
                lines.append(
                    f"  {w.state}: {w.waiver.terms} ({w.waiver.owner}, expires "
                    f"{w.waiver.expires.isoformat()}): {w.waiver.reason}"
                )
        lines += [
            "",
            "statistics:",
            f"  synthetic share {_pct(s.synthetic_share)}, self-generated "
            f"{_pct(s.self_generated_share)}, duplicates {_pct(s.duplicate_rate)}"
            f"{'' if s.duplicate_rate_exact else ' (estimate)'}",
            "  generation depth: "
            + ", ".join(f"{depth}: {n:,}" for depth, n in s.generation_depth.items()),
            "  by provider: "
            + (", ".join(f"{k} {v:,}" for k, v in s.by_provider.items()) or "none"),
            "  by model: " + (", ".join(f"{k} {v:,}" for k, v in s.by_model.items()) or "none"),
            "  contributions: "
            + (
                ", ".join(
                    f"{p} {role} {n:,}"
                    for p, roles in s.contributions.items()
                    for role, n in roles.items()
                )
                or "none"
            ),
            f"  record classes judged: {s.classes:,}",
            f"  dataset digest: {report.dataset_digest}",
        ]
        for note in s.incomplete_batches:
            lines.append(f"  note: incomplete batch {note}")
        return "\n".join(lines) + "\n"
