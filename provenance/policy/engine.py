"""The terms engine: judge a planned training run against every terms document that reaches its data.

:func:`evaluate` takes record classes (never single records), the library, the intent, the lineage,
organisation policies and waivers, and returns a :class:`~provenance.policy.report.PolicyReport`.
:func:`assess` judges one document for one set of facts; the policy test runner uses it directly.

The rules are those of ``docs/policy-format.md`` ("Outcome per terms document"):

* every clause whose condition holds applies its effect; a restrictive clause whose condition is
  *unknown* gives review naming the missing facts, so missing facts never produce allow;
* the decision is the most severe effect (deny > review > allow);
* an obligation the intent visibly violates (a distributed model whose name lacks the required prefix)
  is a denial;
* a contract binds only the organisation that generated the data;
* a clause known only from a secondary source cannot decide deny or allow on its own (review), and a
  document with low confidence never yields allow;
* past the first hop only clauses that pass to derivatives apply.

Records without verified provenance are denied (pseudo document ``provenance/missing-provenance``):
stripping manifests must never let a run pass. Lineage the engine cannot see (a model in neither the
catalog nor the lineage, a dataset of unknown origin) is a review (``provenance/unknown-source``).
Both can be accepted knowingly with a waiver.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

from provenance.limits import DEFAULT_LIMITS, Limits
from provenance.policy.classes import MAX_SAMPLES, RecordClass
from provenance.policy.conditions import Facts, FactValue, Truth
from provenance.policy.declaration import LineageDeclaration
from provenance.policy.generation import Generation
from provenance.policy.intent import Intent
from provenance.policy.library import PolicyLibrary
from provenance.policy.lineage import LineageGraph
from provenance.policy.lineage_reach import Reach
from provenance.policy.report import (
    MISSING_PROVENANCE,
    PSEUDO_TITLES,
    UNKNOWN_SOURCE,
    ClauseCitation,
    Decision,
    Finding,
    MissingProvenance,
    ObligationDue,
    ObligationStatus,
    PolicyReport,
    WaiverStatus,
)
from provenance.policy.terms import Clause, Obligation, TermsDocument
from provenance.policy.vocabulary import SEVERITY, Outcome, most_severe, split_ref
from provenance.policy.waivers import Waiver


@dataclass(frozen=True)
class ClauseResult:
    """How one clause (or the document as a whole, when ``clause`` is None) judges a set of facts."""

    clause: Clause | None
    outcome: Outcome
    reason: str
    settles: tuple[str, ...] = ()
    obligations: tuple[ObligationDue, ...] = ()


@dataclass(frozen=True)
class Assessment:
    """One document's judgement of one set of facts: the outcome and the results behind it."""

    document: TermsDocument
    outcome: Outcome
    results: tuple[ClauseResult, ...]

    @property
    def deciding(self) -> tuple[ClauseResult, ...]:
        return tuple(r for r in self.results if r.outcome == self.outcome)


def facts_for(intent: Intent, origin: Generation | None, hops: int = 1) -> dict[str, FactValue]:
    """The facts a clause sees: the intent, the generation the terms govern, and the path."""
    facts = intent.facts()
    if origin is not None:
        facts.update(origin.facts())
    facts["path.hops"] = hops
    facts["path.inherited"] = hops > 1
    return facts


def assess(document: TermsDocument, facts: Facts, hops: int = 1) -> Assessment | None:
    """Judge ``document`` for ``facts``; ``None`` when nothing of it reaches this far (hops > 1 and
    no clause passes to derivatives)."""
    clauses = document.clauses
    if hops > 1:
        clauses = tuple(c for c in clauses if c.passes_to_derivatives)
        if not clauses:
            return None
    capped_by: str | None = None
    if document.binds == "contract":
        # A contract binds only the account holder that generated the data (policy-format.md,
        # "Outcome per terms document", rule 1).
        org = facts.get("class.organization")
        target = facts.get("intent.target.organization")
        if isinstance(org, str) and isinstance(target, str):
            if org.casefold() != target.casefold():
                reason = f"binds only {org}, the organisation that generated the data"
                return Assessment(document, "allow", (ClauseResult(None, "allow", reason),))
        else:
            capped_by = "class.organization" if org is None else "intent.target.organization"
    results = [r for c in clauses if (r := _judge_clause(document, c, facts)) is not None]
    if capped_by is not None:
        results = [_cap_contract(r, capped_by) for r in results]
    if not results:
        results = [ClauseResult(None, "allow", "no clause applies")]
    if document.confidence == "low" and most_severe(r.outcome for r in results) == "allow":
        results.append(
            ClauseResult(
                None,
                "review",
                "the document is known only from unconfirmed sources (confidence low)",
                ("the document's current text",),
            )
        )
    return Assessment(document, most_severe(r.outcome for r in results), tuple(results))


def _judge_clause(document: TermsDocument, clause: Clause, facts: Facts) -> ClauseResult | None:
    evaluation = clause.when.evaluate(facts)
    if evaluation.truth is Truth.FALSE:
        return None
    confidence = clause.confidence or document.confidence
    if evaluation.truth is Truth.UNKNOWN:
        if clause.effect == "allow":
            # A permission that may not apply grants nothing.
            return None
        missing = tuple(sorted(evaluation.missing))
        settles = missing + ((clause.settles,) if clause.settles else ())
        obligations = tuple(_due(document, clause, o, "possible") for o in clause.obligations)
        reason = f"depends on {', '.join(missing)}, which is not known: {clause.paraphrase}"
        return ClauseResult(clause, "review", reason, settles, obligations)
    outcome: Outcome
    reason = clause.paraphrase
    settles = ()
    obligations = ()
    if clause.effect == "deny":
        outcome = "deny"
    elif clause.effect == "review":
        outcome = "review"
        settles = (clause.settles,) if clause.settles else ()
    elif clause.effect == "allow":
        outcome = "allow"
    else:
        notes = [(o, _violation(o, facts)) for o in clause.obligations]
        obligations = tuple(
            _due(document, clause, o, "violated" if note else "due", note) for o, note in notes
        )
        violations = [note for _o, note in notes if note]
        outcome = "deny" if violations else "allow"
        if violations:
            reason = "; ".join(violations)
    if confidence != "high" and outcome in ("deny", "allow"):
        reason = f"{reason} (known only from a secondary source: confidence {confidence})"
        settles = (*settles, "the clause's text in the primary source")
        outcome = "review"
    return ClauseResult(clause, outcome, reason, settles, obligations)


def _cap_contract(result: ClauseResult, fact: str) -> ClauseResult:
    if result.outcome != "deny":
        return result
    return replace(
        result,
        outcome="review",
        reason=f"{result.reason} (a contract binds only the organisation that generated the data; "
        f"{fact} is not known)",
        settles=(*result.settles, fact),
    )


def _violation(obligation: Obligation, facts: Facts) -> str | None:
    """Why the intent visibly fails an obligation, or None when it does not (or cannot be seen)."""
    if obligation.kind != "model-name-prefix" or not obligation.text:
        return None
    distribution = facts.get("intent.distribution")
    name = facts.get("intent.target.name")
    if not isinstance(distribution, str) or not isinstance(name, str) or distribution == "internal":
        return None
    # The prefix rule is about the model's own name, so an "org/" namespace is ignored.
    base = name.rsplit("/", 1)[-1]
    if base.casefold().startswith(obligation.text.casefold()):
        return None
    return (
        f"the model is distributed ({distribution}) as '{name}', whose name does not begin "
        f"with '{obligation.text}'"
    )


def _due(
    document: TermsDocument,
    clause: Clause,
    obligation: Obligation,
    status: ObligationStatus,
    note: str | None = None,
) -> ObligationDue:
    return ObligationDue(
        kind=obligation.kind,
        text=obligation.text,
        terms=document.id,
        clause=clause.id,
        section=clause.section,
        citation=clause.citation,
        status=status,
        note=note,
    )


def _citation(document: TermsDocument, clause: Clause) -> ClauseCitation:
    return ClauseCitation(
        terms=document.id,
        clause=clause.id,
        section=clause.section,
        citation=clause.citation,
        paraphrase=clause.paraphrase,
        effect=clause.effect,
        confidence=clause.confidence or document.confidence,
        passes_to_derivatives=clause.passes_to_derivatives,
    )


class _Tally:
    """Findings keyed by everything but their counts, with the classes and records they concern."""

    def __init__(self) -> None:
        self.groups: dict[Finding, tuple[dict[str, int], set[str]]] = {}

    def add(self, finding: Finding, record_class: RecordClass) -> None:
        classes, samples = self.groups.setdefault(finding, ({}, set()))
        if record_class.id not in classes:
            classes[record_class.id] = record_class.record_count
            samples.update(record_class.sample_record_ids)

    def findings(self) -> list[Finding]:
        out = []
        for template, (classes, samples) in self.groups.items():
            out.append(
                replace(
                    template,
                    record_count=sum(classes.values()),
                    sample_record_ids=tuple(sorted(samples)[:MAX_SAMPLES]),
                    class_ids=tuple(sorted(classes)),
                )
            )
        return out


def _assessment_findings(assessment: Assessment, reach: Reach, note: str | None) -> list[Finding]:
    doc = assessment.document
    out = []
    for result in assessment.results:
        clause = result.clause
        label = f"{doc.id} {clause.section}" if clause is not None else doc.id
        reason = result.reason
        settles = result.settles
        if note is not None:
            reason = f"{reason} ({note})"
            if result.outcome != "allow":
                settles = (*settles, "class.generated_at")
        out.append(
            Finding(
                terms=doc.id,
                rule=None if clause is None else clause.id,
                outcome=result.outcome,
                reason=reason,
                path=reach.path(label),
                hops=reach.hops,
                clause=None if clause is None else _citation(doc, clause),
                settles=settles,
                obligations=result.obligations,
            )
        )
    return out


class _Judge:
    """Judges reaches for one run, remembering documents seen and assessments already made.

    Many classes share a generation (the same model, part and day under the same terms), and facts
    depend only on the intent, the generation and the hop count, so each assessment is made once.
    """

    def __init__(self, library: PolicyLibrary, intent: Intent) -> None:
        self.library = library
        self.intent = intent
        self.documents: dict[str, TermsDocument] = {}
        self._assessed: dict[tuple[str, Generation | None, int], Assessment | None] = {}

    def assess(self, doc: TermsDocument, reach: Reach) -> Assessment | None:
        key = (doc.id, reach.origin, reach.hops)
        if key not in self._assessed:
            facts = facts_for(self.intent, reach.origin, reach.hops)
            self._assessed[key] = assess(doc, facts, reach.hops)
        assessment = self._assessed[key]
        if assessment is not None:
            self.documents[doc.id] = doc
        return assessment

    def findings(self, reach: Reach) -> list[Finding]:
        if reach.ref is None:
            return [
                Finding(
                    terms=UNKNOWN_SOURCE,
                    rule=reach.rule,
                    outcome="review",
                    reason=reach.unknown or "unknown source",
                    path=reach.path(),
                    hops=reach.hops,
                    settles=(reach.unknown or "the source of this data",),
                )
            ]
        # A generation is judged under the terms in force when it happened; a dataset licence
        # under the version in force when the data is used.
        day = reach.origin.generated_at if reach.origin is not None else self.intent.date
        resolution = self.library.resolve(reach.ref, day)
        if resolution.problem is not None:
            family, _version = split_ref(reach.ref)
            rule = "no-version-in-force" if self.library.versions(family) else "not-in-library"
            return [
                Finding(
                    terms=reach.ref,
                    rule=rule,
                    outcome="review",
                    reason=resolution.problem,
                    path=reach.path(reach.ref),
                    hops=reach.hops,
                    settles=(f"which terms governed {reach.ref} on that day",),
                )
            ]
        note = None
        if resolution.every_version:
            note = "generation date unknown: judged under every version"
        out: list[Finding] = []
        for doc in resolution.documents:
            assessment = self.assess(doc, reach)
            if assessment is not None:
                out.extend(_assessment_findings(assessment, reach, note))
        return out


def _org_in_force(org_policies: Iterable[TermsDocument], day: date) -> list[TermsDocument]:
    library = PolicyLibrary(org_policies)
    families = sorted({doc.family for doc in library.documents})
    return [doc for family in families if (doc := library.in_force(family, day)) is not None]


def _apply_waivers(
    findings: Sequence[Finding], waivers: Sequence[Waiver], day: date
) -> tuple[list[Finding], tuple[WaiverStatus, ...]]:
    matched = [0] * len(waivers)
    applied = [False] * len(waivers)
    out = []
    for finding in findings:
        if finding.outcome == "allow":
            out.append(finding)
            continue
        chosen: int | None = None
        for index, waiver in enumerate(waivers):
            if waiver.covers(finding.terms, finding.rule):
                matched[index] += 1
                if chosen is None and not waiver.expired(day):
                    chosen = index
        if chosen is not None:
            applied[chosen] = True
            finding = replace(
                finding,
                outcome="allow",
                waived_by=waivers[chosen],
                original_outcome=finding.outcome,
            )
        out.append(finding)
    statuses = tuple(
        WaiverStatus(
            waiver,
            "expired" if waiver.expired(day) else "applied" if applied[i] else "unused",
            matched[i],
        )
        for i, waiver in enumerate(waivers)
    )
    return out, statuses


def _order(finding: Finding) -> tuple[int, str, str, str]:
    return (-SEVERITY[finding.outcome], finding.terms, finding.rule or "", finding.path)


def _decisions(
    findings: Sequence[Finding],
    documents: Mapping[str, TermsDocument],
    class_counts: Mapping[str, int],
) -> tuple[Decision, ...]:
    by_terms: dict[str, list[Finding]] = {}
    for finding in findings:
        by_terms.setdefault(finding.terms, []).append(finding)
    decisions = []
    for terms, group in by_terms.items():
        group.sort(key=_order)
        class_ids = {c for f in group for c in f.class_ids}
        records = sum(class_counts.get(c, 0) for c in class_ids)
        records += sum(f.record_count for f in group if not f.class_ids)
        samples = sorted({s for f in group for s in f.sample_record_ids})[:MAX_SAMPLES]
        obligations = _unique_obligations(o for f in group for o in f.obligations)
        doc = documents.get(terms)
        decisions.append(
            Decision(
                terms=terms,
                outcome=most_severe(f.outcome for f in group),
                findings=tuple(group),
                obligations=obligations,
                record_count=records,
                sample_record_ids=tuple(samples),
                title=doc.title if doc is not None else PSEUDO_TITLES.get(terms),
                provider=doc.provider if doc is not None else None,
                version=doc.version if doc is not None else None,
                binds=doc.binds if doc is not None else None,
                confidence=doc.confidence if doc is not None else None,
                source=doc.source if doc is not None else None,
            )
        )
    decisions.sort(key=lambda d: (-SEVERITY[d.outcome], d.terms))
    return tuple(decisions)


def _unique_obligations(obligations: Iterable[ObligationDue]) -> tuple[ObligationDue, ...]:
    seen: dict[ObligationDue, None] = {}
    for obligation in obligations:
        seen.setdefault(obligation, None)
    return tuple(sorted(seen, key=lambda o: (o.terms, o.clause, o.kind, o.status)))


def missing_findings(missing: Iterable[MissingProvenance]) -> list[Finding]:
    """Denials for records that carry no verified manifest (one finding per status)."""
    out = []
    for item in missing:
        if item.record_count <= 0:
            continue
        what = (
            "carry no provenance manifest"
            if item.status == "missing"
            else f"carry a manifest that failed verification ({item.status})"
        )
        out.append(
            Finding(
                terms=MISSING_PROVENANCE,
                rule=item.status,
                outcome="deny",
                reason=f"{item.record_count} records {what}: who generated them, under which terms, "
                "cannot be known",
                path="record (no verified manifest)",
                hops=0,
                settles=("sign the records, or remove them from the run",),
                record_count=item.record_count,
                sample_record_ids=tuple(sorted(item.sample_record_ids)[:MAX_SAMPLES]),
            )
        )
    return out


def evaluate(
    classes: Iterable[RecordClass],
    library: PolicyLibrary,
    intent: Intent,
    lineage: LineageDeclaration | None = None,
    waivers: Sequence[Waiver] = (),
    org_policies: Iterable[TermsDocument] = (),
    *,
    missing: Iterable[MissingProvenance] = (),
    dataset_classes: Mapping[str, Sequence[RecordClass]] | None = None,
    limits: Limits = DEFAULT_LIMITS,
    graph: LineageGraph | None = None,
) -> PolicyReport:
    """Judge the planned run ``intent`` for the record ``classes``.

    ``lineage`` declares the models and datasets behind the data; ``dataset_classes`` gives the record
    classes read from a declared dataset's ``files``. ``org_policies`` apply to every generation
    reaching every class (the version in force on the intent's date). ``missing`` counts records
    without verified provenance. ``graph``, when given, is the lineage graph already built from
    the same inputs. Raises :class:`~provenance.errors.ConfigError` for a broken lineage.
    """
    classes = tuple(classes)
    missing = tuple(missing)
    if graph is None:
        graph = LineageGraph.build(classes, library.catalog, lineage, dataset_classes, limits)
    org = _org_in_force(org_policies, intent.date)
    judge = _Judge(library, intent)
    tally = _Tally()
    for record_class in classes:
        sources = graph.sources(record_class)
        for reach in graph.reaches_from(sources):
            for finding in judge.findings(reach):
                tally.add(finding, record_class)
        # Organisation policies judge every generation behind the class, whatever its terms.
        for source in sources:
            if source.kind != "generation":
                continue
            for doc in org:
                reach = Reach(doc.id, source, source.steps)
                assessment = judge.assess(doc, reach)
                if assessment is not None:
                    for finding in _assessment_findings(assessment, reach, None):
                        tally.add(finding, record_class)
    findings = tally.findings() + missing_findings(missing)
    findings, statuses = _apply_waivers(findings, tuple(waivers), intent.date)
    findings.sort(key=_order)
    class_counts = {c.id: c.record_count for c in classes}
    decisions = _decisions(findings, judge.documents, class_counts)
    return PolicyReport(
        intent=intent,
        decisions=decisions,
        findings=tuple(findings),
        obligations=_unique_obligations(o for f in findings for o in f.obligations),
        waivers=statuses,
        class_count=len(classes),
        record_count=sum(class_counts.values()) + sum(m.record_count for m in missing),
        missing=missing,
    )
