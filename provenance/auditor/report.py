"""The audit's findings as one model, :class:`AuditReport`, which every format in
``provenance.report`` renders, with its parts (:class:`Summary`, :class:`PolicyRef`,
:class:`GraphView`) and the verdict a run's ``--fail-on`` makes of its outcome (:func:`verdict_of`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from provenance.policy.intent import Intent
from provenance.policy.library import LibraryOrigin
from provenance.policy.report import Finding, PolicyReport
from provenance.policy.vocabulary import SEVERITY, Outcome, most_severe

if TYPE_CHECKING:
    from provenance.policy.classes import RecordClass
    from provenance.policy.lineage import LineageGraph

FailOn = Literal["deny", "review", "never"]
"""The least severe outcome that fails a run (``never``: no outcome does)."""


def verdict_of(outcome: Outcome, fail_on: FailOn) -> Literal["pass", "fail"]:
    """Whether a run judged ``outcome`` fails: when the outcome is at least as severe as
    ``fail_on`` (``never`` passes every outcome). ``audit`` and ``explain`` exit 1 on a fail."""
    if fail_on == "never":
        return "pass"
    return "fail" if SEVERITY[outcome] >= SEVERITY[fail_on] else "pass"


@dataclass(frozen=True)
class Summary:
    """Dataset statistics: counts, shares, depth and duplicates."""

    records: int
    verification: dict[str, int]
    synthetic_records: int
    untagged_records: int
    failed_records: int
    synthetic_share: float
    by_provider: dict[str, int]
    by_model: dict[str, int]
    by_service: dict[str, int]
    by_terms: dict[str, int]
    contributions: dict[str, dict[str, int]]
    """provider → role → records with such a part."""
    generation_depth: dict[int, int]
    """depth → records (0 = untagged or human-written)."""
    max_generation_depth: int
    self_generated_records: int
    self_generated_share: float
    duplicate_rate: float
    duplicate_rate_exact: bool
    classes: int
    incomplete_batches: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "verification": dict(sorted(self.verification.items())),
            "synthetic_records": self.synthetic_records,
            "untagged_records": self.untagged_records,
            "failed_records": self.failed_records,
            "synthetic_share": round(self.synthetic_share, 6),
            "by_provider": self.by_provider,
            "by_model": self.by_model,
            "by_service": self.by_service,
            "by_terms": self.by_terms,
            "contributions": self.contributions,
            "generation_depth": {
                "max": self.max_generation_depth,
                "distribution": {str(k): v for k, v in sorted(self.generation_depth.items())},
            },
            "self_generated_records": self.self_generated_records,
            "self_generated_share": round(self.self_generated_share, 6),
            "duplicate_rate": round(self.duplicate_rate, 6),
            "duplicate_rate_exact": self.duplicate_rate_exact,
            "classes": self.classes,
            "incomplete_batches": list(self.incomplete_batches),
        }


@dataclass(frozen=True)
class PolicyRef:
    """A terms document the audit used, with the SHA-256 of its file."""

    id: str
    digest: str | None
    title: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "digest": self.digest, "title": self.title}


@dataclass(frozen=True)
class GraphView:
    """The lineage graph as plain nodes and edges, for drawing."""

    nodes: tuple[dict[str, Any], ...]
    edges: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        return {"nodes": list(self.nodes), "edges": list(self.edges)}

    @classmethod
    def of(cls, graph: LineageGraph, classes: Iterable[RecordClass] = ()) -> GraphView:
        """The graph as plain data; a record class node lists its parts (who wrote what, in which
        role), so a reader can name the class by what it is rather than by its id."""
        g = graph.graph
        parts = {
            c.id: [
                {"model": p.model, "provider": p.provider, "role": p.role, "pointer": p.pointer}
                for p in c.contributions
            ]
            for c in classes
        }
        nodes = tuple(
            {
                "id": n,
                "kind": str(d.get("kind")),
                "name": str(d.get("name")),
                **({"records": int(d["records"])} if "records" in d else {}),
                **(
                    {"parts": parts[str(d.get("name"))]}
                    if d.get("kind") == "class" and str(d.get("name")) in parts
                    else {}
                ),
            }
            for n, d in sorted(g.nodes(data=True))
        )
        edges = tuple(
            {"from": u, "to": v, "kind": str(d.get("kind"))}
            for u, v, d in sorted(g.edges(data=True))
        )
        return cls(nodes, edges)


@dataclass(frozen=True)
class AuditReport:
    """Everything one audit found; rendered by every format in ``provenance.report``."""

    tool_version: str
    generated_at: datetime
    files: tuple[str, ...]
    intent: Intent
    fail_on: FailOn
    policy: PolicyReport
    extra_findings: tuple[Finding, ...]
    """Findings outside the terms library: model-collapse thresholds."""
    summary: Summary
    dataset_digest: str
    policies: tuple[PolicyRef, ...]
    graph: GraphView
    class_sources: dict[str, dict[str, int]]
    """record class id → shard → records, to place findings in files."""
    trust_store_version: int | None = None
    intent_source: str | None = None
    """The intent file, when the intent was read from one."""
    policy_library: LibraryOrigin | None = None
    """The terms library the decisions came from: its digest, ``bundled`` or its directory, and
    its version."""

    @property
    def findings(self) -> tuple[Finding, ...]:
        return (*self.policy.findings, *self.extra_findings)

    @property
    def outcome(self) -> Outcome:
        return most_severe([self.policy.outcome, *(f.outcome for f in self.extra_findings)])

    @property
    def verdict(self) -> Literal["pass", "fail"]:
        return verdict_of(self.outcome, self.fail_on)

    def exit_code(self) -> int:
        return 0 if self.verdict == "pass" else 1

    def finding_sources(self, finding: Finding) -> dict[str, int]:
        """Shards holding the records a finding concerns, with counts."""
        out: Counter[str] = Counter()
        for class_id in finding.class_ids:
            out.update(self.class_sources.get(class_id, {}))
        return dict(sorted(out.items()))

    def to_dict(self) -> dict[str, Any]:
        """The JSON report: the machine contract (``docs/audit-report.schema.json``)."""
        decisions = []
        for d in self.policy.decisions:
            deciding = d.deciding[0] if d.deciding else None
            decisions.append(
                {
                    "terms": d.terms,
                    "title": d.title,
                    "provider": d.provider,
                    "decision": d.outcome,
                    "clause": None if deciding is None else deciding.rule,
                    "section": None
                    if deciding is None or deciding.clause is None
                    else deciding.clause.section,
                    "citation": None
                    if deciding is None or deciding.clause is None
                    else deciding.clause.citation,
                    "path": None if deciding is None else deciding.path,
                    "reason": None if deciding is None else deciding.reason,
                    "settles": [] if deciding is None else list(deciding.settles),
                    "records": d.record_count,
                    "sample_ids": list(d.sample_record_ids),
                    "confidence": d.confidence,
                    "findings": [f.to_dict() for f in d.findings],
                }
            )
        return {
            "schema": "provenance/audit-report/v1",
            "tool_version": self.tool_version,
            "generated_at": self.generated_at.isoformat().replace("+00:00", "Z"),
            "verdict": self.verdict,
            "outcome": self.outcome,
            "fail_on": self.fail_on,
            "files": list(self.files),
            "dataset_digest": self.dataset_digest,
            "intent": self.intent.to_dict(),
            "summary": self.summary.to_dict(),
            "decisions": decisions,
            "obligations": [
                {
                    "terms": o.terms,
                    "kind": o.kind,
                    "text": o.text,
                    "status": o.status,
                    "clause": o.clause,
                    "section": o.section,
                    "citation": o.citation,
                }
                for o in self.policy.obligations
            ],
            "findings": [{**f.to_dict(), "shards": self.finding_sources(f)} for f in self.findings],
            "waivers": [w.to_dict() for w in self.policy.waivers],
            "policies": [p.to_dict() for p in self.policies],
            "policy_library": None
            if self.policy_library is None
            else self.policy_library.to_dict(),
            "trust_store_version": self.trust_store_version,
            "lineage": self.graph.to_dict(),
        }
