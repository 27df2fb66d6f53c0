"""``provenance audit`` as a library call: load the inputs, scan the data once, judge each record
class, and assemble the :class:`~provenance.auditor.report.AuditReport`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from provenance import __version__, project
from provenance.auditor.collect import AuditCollector, AuditState, sample_text
from provenance.auditor.judged import JudgementInputs
from provenance.auditor.report import AuditReport, FailOn, GraphView, PolicyRef
from provenance.auditor.summary import missing_provenance, summarise, threshold_findings
from provenance.errors import ConfigError, InputError
from provenance.limits import DEFAULT_LIMITS, Limits
from provenance.policy import loader
from provenance.policy.classes import RecordClass
from provenance.policy.declaration import LineageDeclaration
from provenance.policy.engine import evaluate
from provenance.policy.intent import Intent
from provenance.policy.library import PolicyLibrary
from provenance.policy.lineage import LineageGraph
from provenance.policy.terms import TermsDocument
from provenance.policy.waivers import Waiver
from provenance.scan import ScanPartial, scan_paths
from provenance.sources import data_files, expand_paths
from provenance.trust import TrustStore
from provenance.verify import Status, Verifier


@dataclass
class AuditInputs:
    """Everything an audit reads besides the data, already loaded."""

    intent: Intent
    library: PolicyLibrary
    lineage: LineageDeclaration = field(default_factory=LineageDeclaration)
    lineage_base: Path = field(default_factory=Path)
    org_policies: tuple[TermsDocument, ...] = ()
    waivers: tuple[Waiver, ...] = ()
    policy_dir: Path | None = None
    intent_source: str | None = None


def load_inputs(
    intent: Intent | str | Path,
    *,
    lineage: LineageDeclaration | str | Path | None = None,
    policies: str | Path | None = None,
    org_policies: str | Path | None = None,
    waivers: str | Path | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> AuditInputs:
    """Load the YAML inputs of an audit (each error names its file and line)."""
    policy_dir = Path(policies) if policies is not None else loader.default_policy_dir()
    loaded_lineage = LineageDeclaration()
    base = Path()
    if isinstance(lineage, LineageDeclaration):
        loaded_lineage = lineage
    elif lineage is not None:
        loaded_lineage = loader.load_lineage(Path(lineage), limits)
        base = Path(lineage).parent
    return AuditInputs(
        intent=intent if isinstance(intent, Intent) else loader.load_intent(Path(intent), limits),
        library=loader.load_library(policy_dir, limits, on_demand=True),
        lineage=loaded_lineage,
        lineage_base=base,
        org_policies=()
        if org_policies is None
        else loader.load_org_policies(Path(org_policies), limits),
        waivers=() if waivers is None else loader.load_waivers(Path(waivers), limits),
        policy_dir=policy_dir,
        intent_source=None if isinstance(intent, Intent) else str(intent),
    )


def audit(
    data: Sequence[str | Path],
    intent: Intent | str | Path,
    *,
    lineage: LineageDeclaration | str | Path | None = None,
    policies: str | Path | None = None,
    org_policies: str | Path | None = None,
    waivers: str | Path | None = None,
    trust: TrustStore | str | Path | None = None,
    fail_on: FailOn = "review",
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> AuditReport:
    """Audit ``data`` (files, globs, directories) for the planned run ``intent``.

    Raises :class:`~provenance.errors.ProvenanceError` (exit 2) when no verdict is possible: an
    unreadable file, a record that is not strict JSON, an invalid intent, policy or lineage file.
    """
    inputs = load_inputs(
        intent,
        lineage=lineage,
        policies=policies,
        org_policies=org_policies,
        waivers=waivers,
        limits=limits,
    )
    store = trust if isinstance(trust, TrustStore) else project.load_trust(trust)
    return run_audit(
        [str(d) for d in data],
        inputs,
        store,
        fail_on=fail_on,
        workers=workers,
        progress=progress,
        limits=limits,
    )


def run_audit(
    data: Sequence[str],
    inputs: AuditInputs,
    trust: TrustStore,
    *,
    fail_on: FailOn = "review",
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> AuditReport:
    """The audit over loaded inputs: one streaming pass, then judgement per record class."""
    return run_audit_judged(
        data, inputs, trust, fail_on=fail_on, workers=workers, progress=progress, limits=limits
    )[0]


def run_audit_judged(
    data: Sequence[str],
    inputs: AuditInputs,
    trust: TrustStore,
    *,
    fail_on: FailOn = "review",
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> tuple[AuditReport, JudgementInputs]:
    """:func:`run_audit`, and what the terms engine judged (``audit --record`` stores it, so that
    the audit can be judged again without the data)."""
    if fail_on not in ("deny", "review", "never"):
        raise InputError(f"--fail-on must be deny, review or never, not '{fail_on}'")
    paths = data_files(data)
    verifier = Verifier(trust, limits=limits)
    collector = AuditCollector()
    partial: ScanPartial[AuditState] = scan_paths(
        paths, verifier, collector=collector, workers=workers, progress=progress
    )
    _no_verdict(partial)
    state = partial.extra or AuditState()
    state.fold()
    datasets = dataset_classes(inputs, verifier, workers)
    classes = state.tally.classes()
    graph = LineageGraph.build(classes, inputs.library.catalog, inputs.lineage, datasets, limits)
    policy = evaluate(
        classes,
        inputs.library,
        inputs.intent,
        inputs.lineage,
        inputs.waivers,
        inputs.org_policies,
        missing=missing_provenance(state),
        dataset_classes=datasets,
        limits=limits,
        graph=graph,
    )
    incomplete = tuple(
        f"batch {root[:12]}…: {b.size - b.seen} of {b.size} records missing"
        for root, b in sorted(partial.batches.items())
        if b.seen != b.size
    )
    summary = summarise(state, partial, graph, policy, inputs.intent, inputs.lineage, incomplete)
    used = {d.terms for d in policy.decisions}
    judged = JudgementInputs(
        classes=classes,
        dataset_classes={name: tuple(members) for name, members in datasets.items()},
        missing=policy.missing,
        lineage=inputs.lineage,
    )
    report = AuditReport(
        tool_version=__version__,
        generated_at=datetime.now(UTC),
        files=tuple(str(p) for p in paths),
        intent=inputs.intent,
        fail_on=fail_on,
        policy=policy,
        extra_findings=tuple(threshold_findings(inputs.intent, summary)),
        summary=summary,
        dataset_digest="sha256:" + state.digest.root().hex(),
        policies=tuple(_policy_refs(inputs, used)),
        graph=GraphView.of(graph, classes),
        class_sources={c.id: dict(state.class_sources.get(c.key, {})) for c in classes},
        trust_store_version=trust.version,
        intent_source=inputs.intent_source,
        policy_library=inputs.library.origin,
    )
    return report, judged


def _no_verdict(partial: ScanPartial[Any]) -> None:
    invalid = [f for f in partial.failures if f.status is Status.INVALID_RECORD]
    if invalid:
        first = min(invalid, key=lambda r: (r.source, r.line))
        more = partial.counts.get(Status.INVALID_RECORD.value, 0) - 1
        extra = f" ({more} more such records)" if more > 0 else ""
        raise InputError(f"{first.reason}{extra}", source=first.source, line=first.line)
    if partial.total == 0:
        raise InputError("the data holds no records")


def dataset_classes(
    inputs: AuditInputs, verifier: Verifier, workers: int | None = None
) -> dict[str, list[RecordClass]]:
    """Record classes of the declared datasets whose files the lineage file names.

    Records in those files without a manifest, or whose manifest fails verification, form an
    unattributed class: their origin is unknown, which the engine reports (never drops).
    """
    out: dict[str, list[RecordClass]] = {}
    for dataset in inputs.lineage.datasets:
        if not dataset.files:
            continue
        files: list[str] = []
        for name in dataset.files:
            path = Path(name) if Path(name).is_absolute() else inputs.lineage_base / name
            if not path.exists():
                where = dataset.where
                raise ConfigError(
                    f"dataset '{dataset.name}' names a file that does not exist: {name}",
                    source=where.source,
                    line=where.line,
                )
            files.append(str(path))
        collector = AuditCollector()
        partial: ScanPartial[AuditState] = scan_paths(
            expand_paths(files), verifier, collector=collector, workers=workers
        )
        _no_verdict(partial)
        state = partial.extra or AuditState()
        classes = list(state.tally.classes())
        unattributed = sum(count for count, _ in state.failed.values())
        if unattributed:
            samples = [sample_text(s) for _, ids in state.failed.values() for s in ids]
            classes.append(RecordClass.unattributed(unattributed, samples))
        out[dataset.name] = classes
    return out


def _policy_refs(inputs: AuditInputs, used: Iterable[str]) -> list[PolicyRef]:
    out = []
    org = {d.id: d for d in inputs.org_policies}
    for doc_id in sorted(used):
        doc = inputs.library.get(doc_id) or org.get(doc_id)
        if doc is None:
            continue
        out.append(PolicyRef(doc_id, _file_digest(doc), doc.title))
    return out


def _file_digest(doc: TermsDocument) -> str | None:
    source = doc.where.source if doc.where is not None else None
    if not source:
        return None
    try:
        return "sha256:" + hashlib.sha256(Path(source).read_bytes()).hexdigest()
    except OSError:
        return None
