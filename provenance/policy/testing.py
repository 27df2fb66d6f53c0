"""Policy tests: cases shipped next to each terms document, run by ``provenance policy test``.

A test file (``policies/tests/<provider>/<document>@<version>.test.yaml``) names one document and a
list of cases; each case gives an intent, the generation being judged (``class``), the hop count, and
the expected decision, with optionally clause ids that must be among the deciding clauses and
obligation kinds that must be present. A case passes when all of them match.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from provenance.policy.engine import assess, facts_for
from provenance.policy.fields import Fields, Where
from provenance.policy.generation import Generation
from provenance.policy.intent import Intent
from provenance.policy.library import PolicyLibrary
from provenance.policy.vocabulary import OBLIGATION_KINDS, OUTCOMES, Outcome, check_ref


@dataclass(frozen=True)
class Expectation:
    """What a case expects: the decision, deciding clause ids, obligation kinds."""

    decision: Outcome
    clauses: tuple[str, ...] = ()
    obligations: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: object, where: Where = Where()) -> Expectation:
        f = Fields(data, where, ("decision", "clauses", "obligations"))
        decision = f.choice("decision", OUTCOMES)
        obligations = f.texts("obligations")
        for kind in obligations:
            if kind not in OBLIGATION_KINDS:
                raise f.at("obligations").error(f"'{kind}' is not an obligation kind")
        return cls(
            decision=next(o for o in OUTCOMES if o == decision),
            clauses=f.texts("clauses"),
            obligations=obligations,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"decision": self.decision}
        if self.clauses:
            out["clauses"] = list(self.clauses)
        if self.obligations:
            out["obligations"] = list(self.obligations)
        return out


@dataclass(frozen=True)
class PolicyTestCase:
    """One case: an intent and a generation, judged by the file's document."""

    name: str
    intent: Intent
    generation: Generation
    expect: Expectation
    hops: int = 1
    where: Where = field(default=Where(), compare=False, repr=False)

    @classmethod
    def from_dict(cls, data: object, where: Where = Where()) -> PolicyTestCase:
        f = Fields(data, where, ("name", "intent", "class", "hops", "expect"))
        hops = f.opt_int("hops")
        if hops is not None and hops < 1:
            raise f.at("hops").error(
                "'hops' counts from 1 (the records were written under the terms)"
            )
        return cls(
            name=f.text("name"),
            intent=Intent.from_dict(f.mapping("intent"), f.at("intent")),
            generation=Generation.from_dict(f.mapping("class"), f.at("class")),
            expect=Expectation.from_dict(f.mapping("expect"), f.at("expect")),
            hops=hops or 1,
            where=where,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "intent": self.intent.to_dict(),
            "class": self.generation.to_dict(),
            "hops": self.hops,
            "expect": self.expect.to_dict(),
        }


@dataclass(frozen=True)
class PolicyTestFile:
    """The cases for one terms document."""

    terms: str
    cases: tuple[PolicyTestCase, ...]
    where: Where = field(default=Where(), compare=False, repr=False)

    @classmethod
    def from_dict(cls, data: object, where: Where = Where()) -> PolicyTestFile:
        f = Fields(data, where, ("terms", "cases"))
        cases = tuple(PolicyTestCase.from_dict(c, w) for c, w in f.items("cases"))
        if not cases:
            raise f.where.error("a policy test file needs at least one case")
        return cls(
            terms=check_ref(f.text("terms"), f.at("terms"), exact=True), cases=cases, where=where
        )

    def to_dict(self) -> dict[str, Any]:
        return {"terms": self.terms, "cases": [c.to_dict() for c in self.cases]}


@dataclass(frozen=True)
class CaseResult:
    """The result of one case."""

    terms: str
    name: str
    passed: bool
    outcome: Outcome
    expected: Outcome
    problems: tuple[str, ...] = ()
    """What did not match, in words."""
    where: Where = field(default=Where(), compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "terms": self.terms,
            "name": self.name,
            "passed": self.passed,
            "outcome": self.outcome,
            "expected": self.expected,
            "problems": list(self.problems),
        }


def run_case(library: PolicyLibrary, terms: str, case: PolicyTestCase) -> CaseResult:
    """Judge one case with the library's document ``terms``."""
    document = library.get(terms)
    if document is None:
        raise case.where.error(f"the test names '{terms}', which is not in the library")
    facts = facts_for(case.intent, case.generation, case.hops)
    assessment = assess(document, facts, case.hops)
    outcome: Outcome = "allow" if assessment is None else assessment.outcome
    deciding = (
        set()
        if assessment is None
        else {r.clause.id for r in assessment.deciding if r.clause is not None}
    )
    kinds = (
        set() if assessment is None else {o.kind for r in assessment.results for o in r.obligations}
    )
    problems = []
    if outcome != case.expect.decision:
        reasons = [] if assessment is None else [r.reason for r in assessment.deciding]
        why = f" ({'; '.join(reasons)})" if reasons else ""
        problems.append(f"expected {case.expect.decision}, got {outcome}{why}")
    missing_clauses = [c for c in case.expect.clauses if c not in deciding]
    if missing_clauses:
        problems.append(
            "clauses not among the deciding ones: "
            + ", ".join(missing_clauses)
            + f" (deciding: {', '.join(sorted(deciding)) or 'none'})"
        )
    missing_kinds = [k for k in case.expect.obligations if k not in kinds]
    if missing_kinds:
        problems.append("obligations not present: " + ", ".join(missing_kinds))
    return CaseResult(
        terms=terms,
        name=case.name,
        passed=not problems,
        outcome=outcome,
        expected=case.expect.decision,
        problems=tuple(problems),
        where=case.where,
    )


def run_tests(library: PolicyLibrary, files: Iterable[PolicyTestFile]) -> tuple[CaseResult, ...]:
    """Run every case of every file; a file naming a document the library lacks is an error."""
    results: list[CaseResult] = []
    for test_file in files:
        if library.get(test_file.terms) is None:
            raise test_file.where.field("terms").error(
                f"the test names '{test_file.terms}', which is not in the library"
            )
        results.extend(run_case(library, test_file.terms, case) for case in test_file.cases)
    return tuple(results)
