"""Record classes: records that the terms engine judges alike, so it judges them once.

Two records are in one class when their contributions name the same generators (provider, model as
requested and as returned, service), the same terms, roles and pointers, on the same day (the day picks
the terms version in force), and when the same organisation generated them from the same parent
datasets. Policy cost then depends on the number of classes, never on the number of records.

:class:`ClassTally` accumulates classes over batches; its merge is associative and commutative (counts
add, the sample ids kept are the smallest), so batches can be tallied in any order on any engine.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from provenance.manifest import UNATTRIBUTED_PARTS, Manifest, RecordPredicate
from provenance.policy.fields import Fields, Where
from provenance.policy.generation import Generation

MAX_SAMPLES = 5
"""Sample record ids kept per class and per finding."""


def _merge_samples(a: Iterable[str], b: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(a) | set(b))[:MAX_SAMPLES])


@dataclass(frozen=True)
class RecordClass:
    """Records judged alike: the parts each model wrote, who generated them, from which datasets."""

    contributions: tuple[Generation, ...]
    """One generation per part, sorted by pointer; each carries the class's organisation."""
    organization: str | None = None
    parents: tuple[str, ...] = ()
    """Names of the datasets the records were made from (``parents`` of kind ``dataset``)."""
    record_count: int = 0
    sample_record_ids: tuple[str, ...] = ()
    unattributed_parts: tuple[str, ...] = ()
    """Parts of the records (JSON Pointers) that no contribution names: the manifest says no model
    is known to have written them (``unattributed_parts``), so the lineage treats each as a
    source of unknown origin."""

    @property
    def key(self) -> tuple[Any, ...]:
        """What makes two records one class."""
        return (self.contributions, self.organization, self.parents, self.unattributed_parts)

    @cached_property
    def id(self) -> str:
        """A short stable id of the class key (``c-`` + 12 hex digits of its SHA-256)."""
        body = {
            "contributions": [g.to_dict() for g in self.contributions],
            "organization": self.organization,
            "parents": list(self.parents),
        }
        if self.unattributed_parts:  # absent otherwise: the ids of other classes stay as they were
            body["unattributed_parts"] = list(self.unattributed_parts)
        text = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return "c-" + hashlib.sha256(text.encode()).hexdigest()[:12]

    @classmethod
    def of(cls, manifest: Manifest, count: int = 1) -> RecordClass:
        """The class of one manifest, counting ``count`` records."""
        return cls.of_predicate(manifest.predicate, count, (manifest.record_id,))

    @classmethod
    def of_predicate(
        cls, predicate: RecordPredicate, count: int = 1, sample_record_ids: tuple[str, ...] = ()
    ) -> RecordClass:
        """The class of records with this predicate (the class never depends on the subject)."""
        organization = predicate.organization
        contributions = tuple(
            sorted(
                (Generation.from_contribution(c, organization) for c in predicate.contributions),
                key=lambda g: (g.pointer, g.role or "", g.provider, g.model),
            )
        )
        parents = tuple(
            sorted({p.name for p in predicate.parents if p.kind == "dataset" and p.name})
        )
        listed = predicate.extra.get(UNATTRIBUTED_PARTS)
        unattributed = (
            tuple(sorted({p for p in listed if isinstance(p, str)}))
            if isinstance(listed, list)
            else ()
        )
        return cls(contributions, organization, parents, count, sample_record_ids, unattributed)

    @classmethod
    def unattributed(cls, count: int, sample_record_ids: Iterable[str] = ()) -> RecordClass:
        """Records without a (readable) manifest, e.g. in a lineage dataset's files: a class with no
        contributions, which the lineage treats as a source of unknown origin."""
        return cls((), None, (), count, _merge_samples(sample_record_ids, ()))

    def merge(self, other: RecordClass) -> RecordClass:
        if other.key != self.key:
            raise ValueError("only records of one class can be merged")
        return RecordClass(
            self.contributions,
            self.organization,
            self.parents,
            self.record_count + other.record_count,
            _merge_samples(self.sample_record_ids, other.sample_record_ids),
            self.unattributed_parts,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "contributions": [g.to_dict() for g in self.contributions],
            "organization": self.organization,
            "parents": list(self.parents),
            "record_count": self.record_count,
            "sample_record_ids": list(self.sample_record_ids),
            **(
                {"unattributed_parts": list(self.unattributed_parts)}
                if self.unattributed_parts
                else {}
            ),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: Where = Where()) -> RecordClass:
        f = Fields(
            data,
            where,
            (
                "id",
                "contributions",
                "organization",
                "parents",
                "record_count",
                "sample_record_ids",
                "unattributed_parts",
            ),
        )
        return cls(
            contributions=tuple(Generation.from_dict(g, w) for g, w in f.items("contributions")),
            organization=f.opt_text("organization"),
            parents=f.texts("parents"),
            record_count=f.opt_int("record_count") or 0,
            sample_record_ids=f.texts("sample_record_ids"),
            unattributed_parts=f.texts("unattributed_parts"),
        )


class ClassTally:
    """Counts records per class over any number of batches."""

    def __init__(self) -> None:
        self._classes: dict[tuple[Any, ...], RecordClass] = {}

    def add(self, manifest: Manifest, count: int = 1) -> None:
        self.add_class(RecordClass.of(manifest, count))

    def add_class(self, record_class: RecordClass) -> None:
        known = self._classes.get(record_class.key)
        self._classes[record_class.key] = (
            record_class if known is None else known.merge(record_class)
        )

    def merge(self, other: ClassTally) -> ClassTally:
        out = ClassTally()
        for tally in (self, other):
            for record_class in tally._classes.values():
                out.add_class(record_class)
        return out

    def classes(self) -> tuple[RecordClass, ...]:
        """The classes, sorted by id so that output does not depend on input order."""
        return tuple(sorted(self._classes.values(), key=lambda c: c.id))

    def __len__(self) -> int:
        return len(self._classes)


def group_records(manifests: Iterable[Manifest]) -> tuple[RecordClass, ...]:
    """The record classes of verified manifests, one record each."""
    tally = ClassTally()
    for manifest in manifests:
        tally.add(manifest)
    return tally.classes()
