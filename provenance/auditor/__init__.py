"""``provenance audit`` as a library call: verify, group, judge and summarise a dataset in one pass.

The audit is a map over chunks plus an associative merge (``provenance.scan``): each chunk's
verified manifests are tallied into record classes with an :class:`AuditCollector`; the merged
tally is judged once per class by the policy engine (cost independent of the record count), and the
statistics are computed from the classes. :func:`audit` returns an :class:`AuditReport`, the one
model every report format renders.

The parts: :mod:`provenance.auditor.run` is the call itself (inputs, the pass, the report);
:mod:`provenance.auditor.collect` gathers per record during the pass;
:mod:`provenance.auditor.summary` makes the dataset statistics and threshold findings;
:mod:`provenance.auditor.report` is the report model. This package names what callers use.

>>> from provenance import audit          # doctest: +SKIP
>>> report = audit(["data/"], "intent.yaml", lineage="lineage.yaml")   # doctest: +SKIP
>>> report.verdict, report.exit_code()    # doctest: +SKIP
('fail', 1)
"""

from __future__ import annotations

from provenance.auditor.collect import AuditCollector, AuditState
from provenance.auditor.report import AuditReport, FailOn, GraphView, PolicyRef, Summary, verdict_of
from provenance.auditor.run import AuditInputs, audit, dataset_classes, load_inputs, run_audit
from provenance.auditor.summary import COLLAPSE_RISK

__all__ = [
    "COLLAPSE_RISK",
    "AuditCollector",
    "AuditInputs",
    "AuditReport",
    "AuditState",
    "FailOn",
    "GraphView",
    "PolicyRef",
    "Summary",
    "audit",
    "dataset_classes",
    "load_inputs",
    "run_audit",
    "verdict_of",
]
