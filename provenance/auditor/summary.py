"""The dataset as a whole: statistics over its record classes (:func:`summarise`), the findings of
the intent's thresholds against them (:func:`threshold_findings`), and the records without
verified provenance (:func:`missing_provenance`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from provenance.auditor.collect import AuditState, sample_text
from provenance.auditor.report import Summary
from provenance.policy.classes import MAX_SAMPLES
from provenance.policy.declaration import LineageDeclaration
from provenance.policy.intent import Intent
from provenance.policy.lineage import LineageGraph
from provenance.policy.report import Finding, MissingProvenance, PolicyReport
from provenance.scan import ScanPartial
from provenance.verify import Status

COLLAPSE_RISK = "provenance/model-collapse-risk"
"""Pseudo document of findings from the intent's thresholds (synthetic share, depth, duplicates)."""


def summarise(
    state: AuditState,
    partial: ScanPartial[Any],
    graph: LineageGraph,
    policy: PolicyReport,
    intent: Intent,
    lineage: LineageDeclaration,
    incomplete: tuple[str, ...],
) -> Summary:
    """The dataset statistics of a finished scan, from its record classes and counts."""
    classes = state.tally.classes()
    total = partial.total
    verification = {k: v for k, v in partial.counts.items() if v}
    synthetic = verification.get(Status.OK.value, 0)
    untagged = verification.get(Status.MISSING_MANIFEST.value, 0)
    failed = total - synthetic - untagged
    by_provider: Counter[str] = Counter()
    by_model: Counter[str] = Counter()
    by_service: Counter[str] = Counter()
    contributions: dict[str, Counter[str]] = {}
    depth: Counter[int] = Counter({0: untagged} if untagged else {})
    ancestors = _ancestors(intent, lineage)
    self_generated = 0
    for record_class in classes:
        n = record_class.record_count
        for provider in {g.provider for g in record_class.contributions}:
            by_provider[provider] += n
        for model in {g.model_returned or g.model for g in record_class.contributions}:
            by_model[model] += n
        for service in {g.service or "unknown" for g in record_class.contributions}:
            by_service[service] += n
        for provider, role in {
            (g.provider, g.role or "response") for g in record_class.contributions
        }:
            contributions.setdefault(provider, Counter())[role] += n
        hops = [s.hops for s in graph.sources(record_class) if s.kind == "generation"]
        depth[max(hops, default=1)] += n
        if any(
            _norm(g.model) in ancestors or _norm(g.model_returned) in ancestors
            for g in record_class.contributions
        ):
            self_generated += n
    by_terms = {
        d.terms: d.record_count for d in policy.decisions if not d.terms.startswith("provenance/")
    }
    return Summary(
        records=total,
        verification=verification,
        synthetic_records=synthetic,
        untagged_records=untagged,
        failed_records=failed,
        synthetic_share=synthetic / total if total else 0.0,
        by_provider=_ranked(by_provider),
        by_model=_ranked(by_model),
        by_service=_ranked(by_service),
        by_terms=_ranked(by_terms),
        contributions={p: _ranked(r) for p, r in sorted(contributions.items())},
        generation_depth=dict(sorted(depth.items())),
        max_generation_depth=max(depth, default=0),
        self_generated_records=self_generated,
        self_generated_share=self_generated / total if total else 0.0,
        duplicate_rate=state.duplicates.rate(),
        duplicate_rate_exact=state.duplicates.is_exact,
        classes=len(classes),
        incomplete_batches=incomplete,
    )


def _ranked(counts: Mapping[str, int]) -> dict[str, int]:
    """Most records first, ties by name: the same data gives the same report whatever order its
    records were read in (native or pure-Python reader, one process or many)."""
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _norm(name: str | None) -> str:
    return (name or "").casefold()


def _ancestors(intent: Intent, lineage: LineageDeclaration) -> set[str]:
    """The target model and every model it descends from (base models, declared lineage)."""
    models = {m.name.casefold(): m for m in lineage.models}
    out: set[str] = set()
    todo = [intent.target.name, intent.target.base_model]
    while todo:
        name = todo.pop()
        if not name or name.casefold() in out:
            continue
        out.add(name.casefold())
        declared = models.get(name.casefold())
        if declared is not None:
            todo.append(declared.base_model)
    return out


def threshold_findings(intent: Intent, summary: Summary) -> list[Finding]:
    """Reviews for each of the intent's thresholds the dataset exceeds (risk of model collapse)."""
    limits = intent.thresholds
    if limits is None:
        return []
    checks: list[tuple[str, float | int | None, float | int, str]] = [
        (
            "max-synthetic-share",
            limits.max_synthetic_share,
            summary.synthetic_share,
            "share of records written by a model",
        ),
        (
            "max-generation-depth",
            limits.max_generation_depth,
            summary.max_generation_depth,
            "model-wrote-data-that-trained-a-model hops behind a record",
        ),
        (
            "max-duplicate-rate",
            limits.max_duplicate_rate,
            summary.duplicate_rate,
            "share of records whose exact content appears earlier",
        ),
    ]
    out = []
    for rule, limit, value, what in checks:
        if limit is None or value <= limit:
            continue
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        out.append(
            Finding(
                terms=COLLAPSE_RISK,
                rule=rule,
                outcome="review",
                reason=f"{what} is {shown}, above the intent's limit of {limit} "
                "(risk of model collapse)",
                path="dataset",
                hops=0,
                settles=(
                    f"lower the {what}, or raise thresholds.{rule.replace('-', '_')} with a reason",
                ),
                record_count=summary.records,
            )
        )
    return out


def missing_provenance(state: AuditState) -> list[MissingProvenance]:
    """Records without a verified manifest, by status (``missing`` for those with none)."""
    grouped: dict[str, list[Any]] = {}
    for (status, _source), (count, samples) in sorted(state.failed.items()):
        label = "missing" if status == Status.MISSING_MANIFEST.value else status
        entry = grouped.setdefault(label, [0, []])
        entry[0] += count
        entry[1] = (entry[1] + samples)[:MAX_SAMPLES]
    return [
        MissingProvenance(status, count, tuple(sample_text(s) for s in samples))
        for status, (count, samples) in grouped.items()
    ]
