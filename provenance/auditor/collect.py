"""What the audit gathers per record as the scan reads the data: :class:`AuditCollector`, the
scan's :class:`~provenance.scan.Collector` for the audit, and its mergeable :class:`AuditState`.

Per verified record a worker only counts it under its predicate object and keeps its digest; the
record classes, the duplicate count and the dataset digest are made from those a chunk at a time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from provenance.manifest import RecordPredicate
from provenance.policy.classes import MAX_SAMPLES, ClassTally, RecordClass
from provenance.stats import CompactRange, DuplicateCounter, leaf_hashes
from provenance.verify import RecordResult, Verified


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


def sample_text(sample: str | int) -> str:
    """A sample of failing records: a record id, or a line number as ``line n``."""
    return sample if isinstance(sample, str) else f"line {sample}"
