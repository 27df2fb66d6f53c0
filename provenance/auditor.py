"""``provenance audit`` as a library call: verify, group, judge and summarise a dataset in one pass.

The audit is a map over chunks plus an associative merge (``provenance.scan``): each chunk's
verified manifests are tallied into record classes with an :class:`AuditCollector`; the merged
tally is judged once per class by the policy engine (cost independent of the record count), and the
statistics are computed from the classes. :func:`audit` returns an :class:`AuditReport`, the one
model every report format renders.

>>> from provenance import audit          # doctest: +SKIP
>>> report = audit(["data/"], "intent.yaml", lineage="lineage.yaml")   # doctest: +SKIP
>>> report.verdict, report.exit_code()    # doctest: +SKIP
('fail', 1)
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

from provenance import __version__, project
from provenance.errors import ConfigError, InputError
from provenance.limits import DEFAULT_LIMITS, Limits
from provenance.manifest import RecordPredicate
from provenance.policy import loader
from provenance.policy.classes import MAX_SAMPLES, ClassTally, RecordClass
from provenance.policy.engine import evaluate
from provenance.policy.library import LibraryOrigin, PolicyLibrary
from provenance.policy.lineage import LineageGraph
from provenance.policy.model import (
    SEVERITY,
    Intent,
    LineageDeclaration,
    Outcome,
    TermsDocument,
    Waiver,
    most_severe,
)
from provenance.policy.report import Finding, MissingProvenance, PolicyReport
from provenance.scan import ScanPartial, scan_paths
from provenance.sources import data_files, expand_paths
from provenance.stats import CompactRange, DuplicateCounter, leaf_hashes
from provenance.trust import TrustStore
from provenance.verify import RecordResult, Status, Verified, Verifier

FailOn = Literal["deny", "review", "never"]


def verdict_of(outcome: Outcome, fail_on: FailOn) -> Literal["pass", "fail"]:
    """Whether a run judged ``outcome`` fails: when the outcome is at least as severe as
    ``fail_on`` (``never`` passes every outcome). ``audit`` and ``explain`` exit 1 on a fail."""
    if fail_on == "never":
        return "pass"
    return "fail" if SEVERITY[outcome] >= SEVERITY[fail_on] else "pass"


COLLAPSE_RISK = "provenance/model-collapse-risk"
"""Pseudo document of findings from the intent's thresholds (synthetic share, depth, duplicates)."""


# ---- the map: what each chunk gathers ----------------------------------------------------------


@dataclass
class AuditState:
    """What the audit gathers per chunk; merged in input order."""

    tally: ClassTally = field(default_factory=ClassTally)
    class_sources: dict[tuple[Any, ...], Counter[str]] = field(default_factory=dict)
    """record class key → shard → records (keys, not ids: an id costs a hash per record)."""
    failed: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    """(status, source) → [count, samples: record ids, or line numbers as ints]."""
    duplicates: DuplicateCounter = field(default_factory=DuplicateCounter)
    digest: CompactRange = field(default_factory=CompactRange)
    leaves: bytes = b""
    """Leaf hashes of the content digests of a sealed chunk (32 bytes each, in input order), not
    yet counted or folded into :attr:`digest`. Equal contents give equal leaves, so the duplicate
    counter counts leaves as well as it would count the digests."""
    hex_digests: list[str] = field(default_factory=list)
    """In a worker, before :meth:`AuditCollector.seal`: content digests as read."""
    open_classes: dict[int, _OpenClass] = field(default_factory=dict)
    """In a worker, before :meth:`AuditCollector.seal`: id of a predicate → its records."""

    def fold(self) -> None:
        """Count and fold the pending leaves (in the parent, in input order)."""
        if self.leaves:
            self.duplicates.add_many(self.leaves)
            self.digest.extend(self.leaves)
            self.leaves = b""


@dataclass
class _OpenClass:
    """Verified records of one chunk that share a predicate object."""

    predicate: RecordPredicate
    count: int = 0
    samples: list[str] = field(default_factory=list)
    """The smallest record ids seen, at most ``MAX_SAMPLES``, as :class:`RecordClass` keeps."""


class AuditCollector:
    """The :class:`~provenance.scan.Collector` of the audit.

    Per verified record a worker only counts it under its predicate object (which the verifier
    shares between records with the same predicate) and keeps its digest; at the end of the chunk
    the predicates become record classes (one :meth:`RecordClass.of_predicate` per predicate, not
    per record) and the digests become one string of their leaf hashes. The parent folds those
    into the duplicate count and the dataset digest a chunk at a time.
    """

    def __init__(self) -> None:
        self._templates: dict[int, tuple[RecordPredicate, RecordClass]] = {}

    def new(self) -> AuditState:
        return AuditState()

    def add_verified(
        self, state: AuditState, source: str, line: int, verified: Verified, digest: str
    ) -> None:
        state.hex_digests.append(digest)
        predicate = verified.predicate
        if predicate is None:
            raise ValueError("a verified record without its predicate")
        entry = state.open_classes.get(id(predicate))
        if entry is None:
            entry = state.open_classes[id(predicate)] = _OpenClass(predicate)
        entry.count += 1
        samples = entry.samples
        record_id = verified.record_id
        if len(samples) < MAX_SAMPLES:
            if record_id not in samples:
                samples.append(record_id)
                samples.sort()
        elif record_id < samples[-1] and record_id not in samples:
            samples[-1] = record_id
            samples.sort()

    def add(
        self, state: AuditState, record: Mapping[str, Any] | None, result: RecordResult
    ) -> None:
        if result.content_digest is not None:
            state.hex_digests.append(result.content_digest)
        key = (result.status.value, result.source)
        entry = state.failed.setdefault(key, [0, []])
        entry[0] += 1
        if len(entry[1]) < MAX_SAMPLES:
            entry[1].append(result.record_id or result.line)

    def seal(self, state: AuditState, source: str) -> None:
        for entry in state.open_classes.values():
            template = self._template(entry.predicate)
            record_class = replace(
                template, record_count=entry.count, sample_record_ids=tuple(entry.samples)
            )
            state.tally.add_class(record_class)
            state.class_sources.setdefault(record_class.key, Counter())[source] += entry.count
        state.open_classes = {}
        if state.hex_digests:
            state.leaves += leaf_hashes(bytes.fromhex("".join(state.hex_digests)))
            state.hex_digests = []

    def _template(self, predicate: RecordPredicate) -> RecordClass:
        """The record class of a predicate object, remembered while the object lives."""
        known = self._templates.get(id(predicate))
        if known is not None and known[0] is predicate:
            return known[1]
        if len(self._templates) >= _TEMPLATES:
            self._templates.clear()
        template = RecordClass.of_predicate(predicate)
        self._templates[id(predicate)] = (predicate, template)
        return template

    def shift(self, state: AuditState, lines: int) -> None:
        for entry in state.failed.values():
            entry[1] = [s + lines if isinstance(s, int) else s for s in entry[1]]

    def merge(self, a: AuditState, b: AuditState) -> AuditState:
        a.tally = a.tally.merge(b.tally)
        for key, sources in b.class_sources.items():
            a.class_sources.setdefault(key, Counter()).update(sources)
        for key, (count, samples) in b.failed.items():
            entry = a.failed.setdefault(key, [0, []])
            entry[0] += count
            entry[1] = (entry[1] + samples)[:MAX_SAMPLES]
        # The dataset digest is ordered: ``a`` holds everything before ``b``.
        if b.digest.size:
            raise ValueError("audit partials must be merged in input order, left to right")
        a.fold()
        a.duplicates.merge(b.duplicates)
        a.leaves = b.leaves
        a.fold()
        return a


_TEMPLATES: Final = 4096
"""Record classes of predicate objects a worker remembers."""


def _sample_text(sample: str | int) -> str:
    return sample if isinstance(sample, str) else f"line {sample}"


# ---- the report model ------------------------------------------------------------------------


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
    """The terms library the decisions came from: its digest, and ``bundled`` or its directory."""

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


# ---- finish: classes → decisions and statistics ----------------------------------------------


def _summary(
    state: AuditState,
    partial: ScanPartial[Any],
    graph: LineageGraph,
    policy: PolicyReport,
    intent: Intent,
    lineage: LineageDeclaration,
    incomplete: tuple[str, ...],
) -> Summary:
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


def _threshold_findings(intent: Intent, summary: Summary) -> list[Finding]:
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


def _missing(state: AuditState) -> list[MissingProvenance]:
    grouped: dict[str, list[Any]] = {}
    for (status, _source), (count, samples) in sorted(state.failed.items()):
        label = "missing" if status == Status.MISSING_MANIFEST.value else status
        entry = grouped.setdefault(label, [0, []])
        entry[0] += count
        entry[1] = (entry[1] + samples)[:MAX_SAMPLES]
    return [
        MissingProvenance(status, count, tuple(_sample_text(s) for s in samples))
        for status, (count, samples) in grouped.items()
    ]


# ---- the library call ------------------------------------------------------------------------


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
        missing=_missing(state),
        dataset_classes=datasets,
        limits=limits,
        graph=graph,
    )
    incomplete = tuple(
        f"batch {root[:12]}…: {b.size - b.seen} of {b.size} records missing"
        for root, b in sorted(partial.batches.items())
        if b.seen != b.size
    )
    summary = _summary(state, partial, graph, policy, inputs.intent, inputs.lineage, incomplete)
    used = {d.terms for d in policy.decisions}
    return AuditReport(
        tool_version=__version__,
        generated_at=datetime.now(UTC),
        files=tuple(str(p) for p in paths),
        intent=inputs.intent,
        fail_on=fail_on,
        policy=policy,
        extra_findings=tuple(_threshold_findings(inputs.intent, summary)),
        summary=summary,
        dataset_digest="sha256:" + state.digest.root().hex(),
        policies=tuple(_policy_refs(inputs, used)),
        graph=_graph_view(graph, classes),
        class_sources={c.id: dict(state.class_sources.get(c.key, {})) for c in classes},
        trust_store_version=trust.version,
        intent_source=inputs.intent_source,
        policy_library=inputs.library.origin,
    )


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
            samples = [_sample_text(s) for _, ids in state.failed.values() for s in ids]
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


def _graph_view(graph: LineageGraph, classes: Iterable[RecordClass] = ()) -> GraphView:
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
        {"from": u, "to": v, "kind": str(d.get("kind"))} for u, v, d in sorted(g.edges(data=True))
    )
    return GraphView(nodes, edges)
