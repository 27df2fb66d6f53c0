"""Judging a recorded audit again, against the terms library of today, from what was recorded.

``provenance audit --record`` stores, beside the report, what the terms engine judged:
:class:`JudgementInputs` — the record classes of the data, the classes read from the lineage's
dataset files, the records without verified provenance, and the lineage declaration. From those and
the recorded intent, :func:`rejudge` builds the lineage graph and runs the engine again, with the
library, organisation policies and waivers given now; the data is never read again, so the cost
follows the number of classes, never the number of records. The comparison with the recorded
report names, per terms document whose decision changed, the clause responsible.

The audit's model-collapse thresholds are checked again too, from the recorded statistics (the
generation depth from the new lineage graph).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, cast

from provenance.auditor.judged import JudgementInputs
from provenance.auditor.report import FailOn, Summary
from provenance.auditor.run import AuditInputs, load_inputs
from provenance.auditor.summary import COLLAPSE_RISK, threshold_findings
from provenance.errors import InputError
from provenance.limits import DEFAULT_LIMITS, Limits
from provenance.policy.classes import RecordClass
from provenance.policy.engine import evaluate
from provenance.policy.intent import Intent, Target
from provenance.policy.lineage import LineageGraph
from provenance.policy.report import Decision, Finding, PolicyReport
from provenance.policy.vocabulary import SEVERITY, Outcome, most_severe


def load_judging(
    *,
    policies: str | Path | None = None,
    org_policies: str | Path | None = None,
    waivers: str | Path | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> AuditInputs:
    """The library, organisation policies and waivers to judge recorded audits with, loaded as
    ``audit`` loads them; the intent and lineage are each recorded audit's own."""
    placeholder = Intent(Target("-"), "fine-tune", False, "internal", date(1970, 1, 1))
    return load_inputs(
        placeholder,
        policies=policies,
        org_policies=org_policies,
        waivers=waivers,
        limits=limits,
    )


@dataclass(frozen=True)
class DecisionChange:
    """One terms document whose decision differs from the recorded one."""

    terms: str
    before: Outcome | None
    """The recorded decision; ``None`` when the document did not reach the data then."""
    after: Outcome | None
    clause: dict[str, Any]
    """The clause responsible: the one deciding now when the decision got more severe, else the
    one that decided before (``terms``, ``clause``, ``section``, ``citation``, ``reason``)."""
    generators: tuple[str, ...]
    """The generators (``provider model``) of the record classes the responsible findings
    concern."""

    @property
    def tightened(self) -> bool:
        return SEVERITY[self.after or "allow"] > SEVERITY[self.before or "allow"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "terms": self.terms,
            "before": self.before,
            "after": self.after,
            "clause": self.clause,
            "generators": list(self.generators),
        }


@dataclass(frozen=True)
class Rejudgement:
    """A recorded audit judged again."""

    before: Outcome
    after: Outcome
    changes: tuple[DecisionChange, ...]
    stale_waivers: tuple[str, ...]
    """Waivers given now that match no finding of this audit."""
    policy: PolicyReport

    @property
    def changed(self) -> bool:
        return self.before != self.after or bool(self.changes)

    @property
    def tightened(self) -> bool:
        """Whether the outcome got more severe (allow → review or deny, review → deny)."""
        return SEVERITY[self.after] > SEVERITY[self.before]

    def fails(self, fail_on: FailOn) -> bool:
        """Whether this re-judgement fails a run at ``fail_on``: the outcome got more severe and
        reaches ``fail_on``."""
        if fail_on == "never" or not self.tightened:
            return False
        return SEVERITY[self.after] >= SEVERITY[fail_on]


def rejudge(
    report: Mapping[str, Any],
    recorded: JudgementInputs,
    judging: AuditInputs,
    limits: Limits = DEFAULT_LIMITS,
) -> Rejudgement:
    """Judge the audit whose report (``AuditReport.to_dict()``) and inputs were recorded, with the
    library, organisation policies and waivers of ``judging`` (its intent and lineage are not
    used: the recorded ones are)."""
    try:
        intent = Intent.from_dict(report.get("intent"))
    except InputError as exc:
        raise InputError(f"the recorded intent cannot be read: {exc.message}") from exc
    datasets = {k: list(v) for k, v in recorded.dataset_classes.items()}
    graph = LineageGraph.build(
        recorded.classes, judging.library.catalog, recorded.lineage, datasets, limits
    )
    policy = evaluate(
        recorded.classes,
        judging.library,
        intent,
        recorded.lineage,
        judging.waivers,
        judging.org_policies,
        missing=recorded.missing,
        dataset_classes=datasets,
        limits=limits,
        graph=graph,
    )
    extra = _threshold_findings(report, intent, recorded, graph)
    after = most_severe([policy.outcome, *(f.outcome for f in extra)])
    recorded_outcome = str(report.get("outcome") or "allow")
    if recorded_outcome not in SEVERITY:
        raise InputError(f"the recorded outcome '{recorded_outcome}' is not allow, review or deny")
    before = cast(Outcome, recorded_outcome)
    classes = {c.id: c for c in recorded.classes}
    for members in recorded.dataset_classes.values():
        classes.update({c.id: c for c in members})
    changes = _changes(report, policy.decisions, extra, classes)
    stale = tuple(waiver_name(s.waiver.to_dict()) for s in policy.waivers if s.matched == 0)
    return Rejudgement(before, after, changes, stale, policy)


def waiver_name(waiver: Mapping[str, Any]) -> str:
    """How a waiver (``Waiver.to_dict()``) is named in a re-audit: its document and clause."""
    clause = waiver.get("clause")
    return f"{waiver.get('terms')}" + (f" clause {clause}" if clause else "")


def _threshold_findings(
    report: Mapping[str, Any], intent: Intent, recorded: JudgementInputs, graph: LineageGraph
) -> list[Finding]:
    if intent.thresholds is None:
        return []
    stats = report.get("summary") or {}
    depth = 0 if int(stats.get("untagged_records") or 0) else -1
    for record_class in recorded.classes:
        hops = [s.hops for s in graph.sources(record_class) if s.kind == "generation"]
        depth = max(depth, max(hops, default=1))
    summary = Summary(
        records=int(stats.get("records") or recorded.record_count),
        verification=dict(stats.get("verification") or {}),
        synthetic_records=int(stats.get("synthetic_records") or 0),
        untagged_records=int(stats.get("untagged_records") or 0),
        failed_records=int(stats.get("failed_records") or 0),
        synthetic_share=float(stats.get("synthetic_share") or 0.0),
        by_provider={},
        by_model={},
        by_service={},
        by_terms={},
        contributions={},
        generation_depth={},
        max_generation_depth=max(depth, 0),
        self_generated_records=int(stats.get("self_generated_records") or 0),
        self_generated_share=float(stats.get("self_generated_share") or 0.0),
        duplicate_rate=float(stats.get("duplicate_rate") or 0.0),
        duplicate_rate_exact=bool(stats.get("duplicate_rate_exact")),
        classes=len(recorded.classes),
    )
    return threshold_findings(intent, summary)


def _changes(
    report: Mapping[str, Any],
    decisions: Sequence[Decision],
    extra: Sequence[Finding],
    classes: Mapping[str, RecordClass],
) -> tuple[DecisionChange, ...]:
    recorded = {str(d.get("terms")): d for d in report.get("decisions") or ()}
    recorded_findings = [f for f in report.get("findings") or () if isinstance(f, Mapping)]
    before: dict[str, Outcome] = {t: d.get("decision") for t, d in recorded.items()}
    collapse: list[Outcome] = [
        f["outcome"]
        for f in recorded_findings
        if f.get("terms") == COLLAPSE_RISK and f.get("outcome") in SEVERITY
    ]
    if collapse:
        before[COLLAPSE_RISK] = most_severe(collapse)
    now = {d.terms: d for d in decisions}
    after: dict[str, Outcome] = {t: d.outcome for t, d in now.items()}
    if extra:
        after[COLLAPSE_RISK] = most_severe(f.outcome for f in extra)
    out = []
    for terms in sorted(set(before) | set(after)):
        old, new = before.get(terms), after.get(terms)
        if (old or "allow") == (new or "allow"):
            continue
        if SEVERITY[new or "allow"] > SEVERITY[old or "allow"]:
            findings = now[terms].findings if terms in now else tuple(extra)
            deciding = [f for f in findings if f.outcome == new]
            clause = _clause_now(terms, deciding[0]) if deciding else {"terms": terms}
            ids = {c for f in deciding for c in f.class_ids}
        else:
            clause = _clause_before(terms, recorded.get(terms))
            ids = {
                str(c)
                for f in recorded_findings
                if f.get("terms") == terms and f.get("outcome") == old
                for c in f.get("class_ids") or ()
            }
        generators = sorted(
            {
                f"{g.provider} {g.effective_model}"
                for i in ids
                if i in classes
                for g in classes[i].contributions
            }
        )
        out.append(DecisionChange(terms, old, new, clause, tuple(generators)))
    return tuple(out)


def _clause_now(terms: str, finding: Finding) -> dict[str, Any]:
    cited = finding.clause
    return {
        "terms": terms,
        "clause": finding.rule,
        "section": None if cited is None else cited.section,
        "citation": None if cited is None else cited.citation,
        "reason": finding.reason,
    }


def _clause_before(terms: str, decision: Mapping[str, Any] | None) -> dict[str, Any]:
    decision = decision or {}
    return {
        "terms": terms,
        "clause": decision.get("clause"),
        "section": decision.get("section"),
        "citation": decision.get("citation"),
        "reason": decision.get("reason"),
    }
