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
    from provenance.policy.classes import ClassTally, RecordClass, group_records
    from provenance.policy.conditions import Condition, Evaluation, Truth, parse_condition
    from provenance.policy.engine import Assessment, ClauseResult, assess, evaluate, facts_for
    from provenance.policy.library import PolicyLibrary, Resolution
    from provenance.policy.lineage import LineageGraph, Reach, Source
    from provenance.policy.model import (
        Catalog,
        CatalogDataset,
        CatalogModel,
        Clause,
        Generation,
        Intent,
        LineageDataset,
        LineageDeclaration,
        LineageModel,
        Obligation,
        Outcome,
        Target,
        TermsDocument,
        Thresholds,
        Waiver,
    )
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
    from provenance.policy.testing import CaseResult, PolicyTestCase, PolicyTestFile, run_tests

__getattr__, __dir__ = _lazy.exports(
    __name__,
    {
        "ClassTally": "provenance.policy.classes",
        "RecordClass": "provenance.policy.classes",
        "group_records": "provenance.policy.classes",
        "Condition": "provenance.policy.conditions",
        "Evaluation": "provenance.policy.conditions",
        "Truth": "provenance.policy.conditions",
        "parse_condition": "provenance.policy.conditions",
        "Assessment": "provenance.policy.engine",
        "ClauseResult": "provenance.policy.engine",
        "assess": "provenance.policy.engine",
        "evaluate": "provenance.policy.engine",
        "facts_for": "provenance.policy.engine",
        "PolicyLibrary": "provenance.policy.library",
        "Resolution": "provenance.policy.library",
        "LineageGraph": "provenance.policy.lineage",
        "Reach": "provenance.policy.lineage",
        "Source": "provenance.policy.lineage",
        "Catalog": "provenance.policy.model",
        "CatalogDataset": "provenance.policy.model",
        "CatalogModel": "provenance.policy.model",
        "Clause": "provenance.policy.model",
        "Generation": "provenance.policy.model",
        "Intent": "provenance.policy.model",
        "LineageDataset": "provenance.policy.model",
        "LineageDeclaration": "provenance.policy.model",
        "LineageModel": "provenance.policy.model",
        "Obligation": "provenance.policy.model",
        "Outcome": "provenance.policy.model",
        "Target": "provenance.policy.model",
        "TermsDocument": "provenance.policy.model",
        "Thresholds": "provenance.policy.model",
        "Waiver": "provenance.policy.model",
        "MISSING_PROVENANCE": "provenance.policy.report",
        "UNKNOWN_SOURCE": "provenance.policy.report",
        "ClauseCitation": "provenance.policy.report",
        "Decision": "provenance.policy.report",
        "Finding": "provenance.policy.report",
        "MissingProvenance": "provenance.policy.report",
        "ObligationDue": "provenance.policy.report",
        "PolicyReport": "provenance.policy.report",
        "WaiverStatus": "provenance.policy.report",
        "CaseResult": "provenance.policy.testing",
        "PolicyTestCase": "provenance.policy.testing",
        "PolicyTestFile": "provenance.policy.testing",
        "run_tests": "provenance.policy.testing",
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
