"""What the terms engine judged in one audit besides the intent and the library:
:class:`JudgementInputs`, which ``provenance audit --record`` stores so that the audit can be judged
again (:mod:`provenance.auditor.reaudit`) without reading the data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from provenance.errors import InputError
from provenance.policy.classes import RecordClass
from provenance.policy.declaration import LineageDeclaration
from provenance.policy.report import MissingProvenance

INPUTS_SCHEMA = "provenance/judgement-inputs/v1"


@dataclass(frozen=True)
class JudgementInputs:
    """What the terms engine judged in one audit, besides the intent and the library."""

    classes: tuple[RecordClass, ...]
    dataset_classes: Mapping[str, tuple[RecordClass, ...]]
    """Record classes read from the ``files`` of declared datasets, by dataset name."""
    missing: tuple[MissingProvenance, ...]
    lineage: LineageDeclaration

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": INPUTS_SCHEMA,
            "classes": [c.to_dict() for c in self.classes],
            "dataset_classes": {
                name: [c.to_dict() for c in classes]
                for name, classes in sorted(self.dataset_classes.items())
            },
            "missing": [m.to_dict() for m in self.missing],
            "lineage": self.lineage.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Any) -> JudgementInputs:
        """The recorded inputs; :class:`InputError` when they are not what was recorded."""
        try:
            if not isinstance(data, Mapping) or data.get("schema") != INPUTS_SCHEMA:
                raise ValueError(f"not {INPUTS_SCHEMA}")
            datasets = data.get("dataset_classes") or {}
            return cls(
                classes=tuple(RecordClass.from_dict(c) for c in data.get("classes") or ()),
                dataset_classes={
                    str(name): tuple(RecordClass.from_dict(c) for c in classes)
                    for name, classes in datasets.items()
                },
                missing=tuple(
                    MissingProvenance(
                        str(m["status"]),
                        int(m["record_count"]),
                        tuple(str(s) for s in m.get("sample_record_ids") or ()),
                    )
                    for m in data.get("missing") or ()
                ),
                lineage=LineageDeclaration.from_dict(data.get("lineage") or {}),
            )
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise InputError(f"the recorded judgement inputs cannot be read: {exc}") from exc

    @property
    def record_count(self) -> int:
        return sum(c.record_count for c in self.classes) + sum(m.record_count for m in self.missing)
