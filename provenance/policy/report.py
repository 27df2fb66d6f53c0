"""The decision model the terms engine returns and every report format renders.

A :class:`PolicyReport` holds one :class:`Decision` per terms document that reaches the planned run
(plus the engine's own documents for missing provenance and unknown sources). Each decision is backed
by :class:`Finding` objects: one clause (or rule) of the document, reaching a group of record classes
along one lineage path, with its outcome, the reason, the facts that would settle a review, the
obligations it imposes, and how many records it concerns with up to five sample ids. Waivers that
applied, expired or matched nothing are listed too. Everything is frozen and has ``to_dict``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from provenance.policy.intent import Intent
from provenance.policy.vocabulary import SEVERITY, Outcome, most_severe
from provenance.policy.waivers import Waiver

MISSING_PROVENANCE = "provenance/missing-provenance"
"""Pseudo document of findings about records without a verified manifest (rule = status)."""
UNKNOWN_SOURCE = "provenance/unknown-source"
"""Pseudo document of findings about lineage the engine cannot see (rule = what is unknown)."""

PSEUDO_TITLES = {
    MISSING_PROVENANCE: "Records without verified provenance",
    UNKNOWN_SOURCE: "Sources the catalog and lineage do not describe",
}

ObligationStatus = Literal["due", "violated", "possible"]
WaiverState = Literal["applied", "expired", "unused"]
FailOn = Literal["deny", "review"]


@dataclass(frozen=True)
class ClauseCitation:
    """The clause behind a finding: where it is written and what it says in our words."""

    terms: str
    clause: str
    section: str
    citation: str
    paraphrase: str
    effect: str
    confidence: str
    passes_to_derivatives: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "terms": self.terms,
            "clause": self.clause,
            "section": self.section,
            "citation": self.citation,
            "paraphrase": self.paraphrase,
            "effect": self.effect,
            "confidence": self.confidence,
            "passes_to_derivatives": self.passes_to_derivatives,
        }


@dataclass(frozen=True)
class ObligationDue:
    """An obligation a clause imposes on the planned run.

    ``due``: it applies and must be met; ``violated``: the intent visibly fails it (a denial);
    ``possible``: it applies if facts the intent does not give turn out a certain way.
    """

    kind: str
    text: str | None
    terms: str
    clause: str
    section: str
    citation: str
    status: ObligationStatus
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "text": self.text,
            "terms": self.terms,
            "clause": self.clause,
            "section": self.section,
            "citation": self.citation,
            "status": self.status,
        }
        if self.note:
            out["note"] = self.note
        return out

    def describe(self) -> str:
        what = f'{self.kind} "{self.text}"' if self.text else self.kind
        return f"{what} ({self.terms} {self.section}; {self.status})"


@dataclass(frozen=True)
class Finding:
    """One clause or rule of one document judging a group of record classes along one path."""

    terms: str
    """Document id (or family when no version applies, or a ``provenance/…`` pseudo document)."""
    rule: str | None
    """Clause id, or the engine's rule name for pseudo documents; ``None`` = the whole document."""
    outcome: Outcome
    """After waivers; see ``original_outcome``."""
    reason: str
    path: str
    """From the judged part to the terms: ``/score ← model m ← openai/…@2025-05-31 §3.3(e)``."""
    hops: int
    clause: ClauseCitation | None = None
    settles: tuple[str, ...] = ()
    """Facts that would settle a review (``intent.competes_with`` …)."""
    obligations: tuple[ObligationDue, ...] = ()
    record_count: int = 0
    sample_record_ids: tuple[str, ...] = ()
    class_ids: tuple[str, ...] = ()
    waived_by: Waiver | None = None
    original_outcome: Outcome | None = None
    """The outcome before a waiver turned it into allow."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "terms": self.terms,
            "rule": self.rule,
            "outcome": self.outcome,
            "reason": self.reason,
            "path": self.path,
            "hops": self.hops,
            "clause": None if self.clause is None else self.clause.to_dict(),
            "settles": list(self.settles),
            "obligations": [o.to_dict() for o in self.obligations],
            "record_count": self.record_count,
            "sample_record_ids": list(self.sample_record_ids),
            "class_ids": list(self.class_ids),
        }
        if self.waived_by is not None:
            out["waived_by"] = self.waived_by.to_dict()
            out["original_outcome"] = self.original_outcome
        return out


@dataclass(frozen=True)
class Decision:
    """What one terms document says about the planned run, and why."""

    terms: str
    outcome: Outcome
    findings: tuple[Finding, ...]
    """Most severe first."""
    obligations: tuple[ObligationDue, ...]
    record_count: int
    """Records the document reaches (each counted once)."""
    sample_record_ids: tuple[str, ...]
    title: str | None = None
    provider: str | None = None
    version: str | None = None
    binds: str | None = None
    confidence: str | None = None
    source: str | None = None

    @property
    def deciding(self) -> tuple[Finding, ...]:
        """The findings whose outcome is the decision's."""
        return tuple(f for f in self.findings if f.outcome == self.outcome)

    def to_dict(self) -> dict[str, Any]:
        return {
            "terms": self.terms,
            "title": self.title,
            "provider": self.provider,
            "version": self.version,
            "binds": self.binds,
            "confidence": self.confidence,
            "source": self.source,
            "outcome": self.outcome,
            "record_count": self.record_count,
            "sample_record_ids": list(self.sample_record_ids),
            "obligations": [o.to_dict() for o in self.obligations],
            "findings": [f.to_dict() for f in self.findings],
        }


@dataclass(frozen=True)
class WaiverStatus:
    """What became of one waiver: applied, expired (no longer applies), or matched nothing."""

    waiver: Waiver
    state: WaiverState
    matched: int
    """Findings the waiver names (whether or not it applied)."""

    def to_dict(self) -> dict[str, Any]:
        return {"waiver": self.waiver.to_dict(), "state": self.state, "matched": self.matched}


@dataclass(frozen=True)
class MissingProvenance:
    """Records the audit could not attribute: no manifest, or a manifest that failed verification."""

    status: str
    """``missing`` (no manifest) or the verification status (``bad-signature``, ``malformed`` …)."""
    record_count: int
    sample_record_ids: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "record_count": self.record_count,
            "sample_record_ids": list(self.sample_record_ids),
        }


@dataclass(frozen=True)
class PolicyReport:
    """The terms decisions for one planned run."""

    intent: Intent
    decisions: tuple[Decision, ...]
    """One per document reaching the run; most severe first."""
    findings: tuple[Finding, ...]
    """Every finding of every decision; most severe first."""
    obligations: tuple[ObligationDue, ...]
    """Every obligation owed, once each."""
    waivers: tuple[WaiverStatus, ...]
    class_count: int
    record_count: int
    """Records judged, including those without verified provenance."""
    missing: tuple[MissingProvenance, ...] = ()

    @property
    def outcome(self) -> Outcome:
        """The most severe decision; ``allow`` when nothing reaches the run."""
        return most_severe(d.outcome for d in self.decisions)

    def verdict(self, fail_on: FailOn = "deny") -> Literal["pass", "fail"]:
        """``fail`` when a decision is at least as severe as ``fail_on`` (``deny`` or ``review``)."""
        if fail_on not in ("deny", "review"):
            raise ValueError(f"fail_on must be 'deny' or 'review', not {fail_on!r}")
        return "fail" if SEVERITY[self.outcome] >= SEVERITY[fail_on] else "pass"

    def decision(self, terms: str) -> Decision | None:
        return next((d for d in self.decisions if d.terms == terms), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "provenance/policy-report/v1",
            "outcome": self.outcome,
            "intent": self.intent.to_dict(),
            "class_count": self.class_count,
            "record_count": self.record_count,
            "missing": [m.to_dict() for m in self.missing],
            "decisions": [d.to_dict() for d in self.decisions],
            "obligations": [o.to_dict() for o in self.obligations],
            "waivers": [w.to_dict() for w in self.waivers],
        }
