"""The policy gate: judge a planned training run against the provider terms that reach its data.

Inputs are data (``docs/policy-format.md``): terms documents and the model catalog
(:class:`PolicyLibrary`), the :class:`Intent`, a :class:`LineageDeclaration`, organisation policies
and :class:`Waiver` objects, read from YAML only by :mod:`provenance.policy.loader`. Records enter as
:class:`RecordClass` groups (:func:`group_records`, :class:`ClassTally`). :func:`evaluate` returns a
:class:`PolicyReport` of :class:`Decision` objects, each backed by findings with the clause, its
citation and the lineage path.
"""

from __future__ import annotations

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
