"""The policy gate: judge a planned training run against the provider terms that reach its data.

Inputs are data (``docs/policy-format.md``): terms documents and the model catalog
(:class:`PolicyLibrary`), the :class:`Intent`, a :class:`LineageDeclaration`, organisation policies
and :class:`Waiver` objects, read from YAML only by :mod:`provenance.policy.loader`. Records enter as
:class:`RecordClass` groups (:func:`group_records`, :class:`ClassTally`). :func:`evaluate` returns a
:class:`PolicyReport` of :class:`Decision` objects, each backed by findings with the clause, its
citation and the lineage path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from provenance import _lazy

if TYPE_CHECKING:
    from provenance.policy.catalog import Catalog, CatalogDataset, CatalogModel
    from provenance.policy.classes import ClassTally, RecordClass, group_records
    from provenance.policy.conditions import Condition, Evaluation, Truth, parse_condition
    from provenance.policy.declaration import LineageDataset, LineageDeclaration, LineageModel
    from provenance.policy.engine import Assessment, ClauseResult, assess, evaluate, facts_for
    from provenance.policy.generation import Generation
    from provenance.policy.intent import Intent, Target, Thresholds
    from provenance.policy.library import PolicyLibrary, Resolution
    from provenance.policy.lineage import LineageGraph
    from provenance.policy.lineage_reach import Reach
    from provenance.policy.lineage_walk import Source
    from provenance.policy.report import (
        MISSING_PROVENANCE,
        UNKNOWN_SOURCE,
        ClauseCitation,
        Decision,
        Finding,
        MissingProvenance,
        ObligationDue,
        PolicyReport,
        WaiverStatus,
    )
    from provenance.policy.terms import Clause, Obligation, TermsDocument
    from provenance.policy.testing import CaseResult, PolicyTestCase, PolicyTestFile, run_tests
    from provenance.policy.vocabulary import Outcome
    from provenance.policy.waivers import Waiver

__getattr__, __dir__ = _lazy.exports(
    __name__,
    {
        "Catalog": "provenance.policy.catalog",
        "CatalogDataset": "provenance.policy.catalog",
        "CatalogModel": "provenance.policy.catalog",
        "ClassTally": "provenance.policy.classes",
        "RecordClass": "provenance.policy.classes",
        "group_records": "provenance.policy.classes",
        "Condition": "provenance.policy.conditions",
        "Evaluation": "provenance.policy.conditions",
        "Truth": "provenance.policy.conditions",
        "parse_condition": "provenance.policy.conditions",
        "LineageDataset": "provenance.policy.declaration",
        "LineageDeclaration": "provenance.policy.declaration",
        "LineageModel": "provenance.policy.declaration",
        "Assessment": "provenance.policy.engine",
        "ClauseResult": "provenance.policy.engine",
        "assess": "provenance.policy.engine",
        "evaluate": "provenance.policy.engine",
        "facts_for": "provenance.policy.engine",
        "Generation": "provenance.policy.generation",
        "Intent": "provenance.policy.intent",
        "Target": "provenance.policy.intent",
        "Thresholds": "provenance.policy.intent",
        "PolicyLibrary": "provenance.policy.library",
        "Resolution": "provenance.policy.library",
        "LineageGraph": "provenance.policy.lineage",
        "Reach": "provenance.policy.lineage_reach",
        "Source": "provenance.policy.lineage_walk",
        "MISSING_PROVENANCE": "provenance.policy.report",
        "UNKNOWN_SOURCE": "provenance.policy.report",
        "ClauseCitation": "provenance.policy.report",
        "Decision": "provenance.policy.report",
        "Finding": "provenance.policy.report",
        "MissingProvenance": "provenance.policy.report",
        "ObligationDue": "provenance.policy.report",
        "PolicyReport": "provenance.policy.report",
        "WaiverStatus": "provenance.policy.report",
        "Clause": "provenance.policy.terms",
        "Obligation": "provenance.policy.terms",
        "TermsDocument": "provenance.policy.terms",
        "CaseResult": "provenance.policy.testing",
        "PolicyTestCase": "provenance.policy.testing",
        "PolicyTestFile": "provenance.policy.testing",
        "run_tests": "provenance.policy.testing",
        "Outcome": "provenance.policy.vocabulary",
        "Waiver": "provenance.policy.waivers",
    },
)

__all__ = [
    "MISSING_PROVENANCE",
    "UNKNOWN_SOURCE",
    "Assessment",
    "CaseResult",
    "Catalog",
    "CatalogDataset",
    "CatalogModel",
    "ClassTally",
    "Clause",
    "ClauseCitation",
    "ClauseResult",
    "Condition",
    "Decision",
    "Evaluation",
    "Finding",
    "Generation",
    "Intent",
    "LineageDataset",
    "LineageDeclaration",
    "LineageGraph",
    "LineageModel",
    "MissingProvenance",
    "Obligation",
    "ObligationDue",
    "Outcome",
    "PolicyLibrary",
    "PolicyReport",
    "PolicyTestCase",
    "PolicyTestFile",
    "Reach",
    "RecordClass",
    "Resolution",
    "Source",
    "Target",
    "TermsDocument",
    "Thresholds",
    "Truth",
    "Waiver",
    "WaiverStatus",
    "assess",
    "evaluate",
    "facts_for",
    "group_records",
    "parse_condition",
    "run_tests",
]
