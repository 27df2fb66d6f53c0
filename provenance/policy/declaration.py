"""What a team declares about the models and datasets behind its data (``lineage.yaml``) as data:
:class:`LineageDeclaration` of :class:`LineageModel` s and :class:`LineageDataset` s. The graph
built from it is :mod:`provenance.policy.lineage`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provenance.policy.conditions import ACTIVITIES
from provenance.policy.fields import Fields, Where
from provenance.policy.generation import Generation, read_generators
from provenance.policy.vocabulary import LINEAGE_SCHEMA, check_ref, check_schema, put_optional


@dataclass(frozen=True)
class LineageModel:
    """A model named in manifests whose own making is declared: base weights and training data."""

    name: str
    base_model: str | None = None
    trained_on: tuple[str, ...] = ()
    """Dataset names. A model with neither base model nor training data declared is a review: what
    it was made from is not known."""
    activity: str | None = None
    where: Where = field(default=Where(), compare=False, repr=False)

    @classmethod
    def from_dict(cls, data: object, where: Where = Where()) -> LineageModel:
        f = Fields(data, where, ("name", "base_model", "trained_on", "activity"))
        return cls(
            name=f.text("name"),
            base_model=f.opt_text("base_model"),
            trained_on=f.texts("trained_on"),
            activity=f.opt_choice("activity", ACTIVITIES),
            where=where,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        put_optional(out, "base_model", self.base_model)
        put_optional(out, "trained_on", self.trained_on)
        put_optional(out, "activity", self.activity)
        return out


@dataclass(frozen=True)
class LineageDataset:
    """A dataset whose origin is declared: audited files, source datasets, or declared generators."""

    name: str
    files: tuple[str, ...] = ()
    derived_from: tuple[str, ...] = ()
    generators: tuple[Generation, ...] = ()
    human_written: bool = False
    """Written by people. Without generators, derived_from, files or this flag the origin of the
    dataset is unknown (a review)."""
    licence: tuple[str, ...] = ()
    where: Where = field(default=Where(), compare=False, repr=False)

    @classmethod
    def from_dict(cls, data: object, where: Where = Where()) -> LineageDataset:
        f = Fields(
            data,
            where,
            ("name", "files", "derived_from", "generators", "human_written", "licence"),
        )
        return cls(
            name=f.text("name"),
            files=f.texts("files"),
            derived_from=f.texts("derived_from"),
            generators=read_generators(f),
            human_written=f.flag("human_written", False),
            licence=tuple(check_ref(r, f.at("licence")) for r in f.texts("licence")),
            where=where,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        put_optional(out, "files", self.files)
        put_optional(out, "derived_from", self.derived_from)
        put_optional(out, "generators", [g.to_dict() for g in self.generators])
        if self.human_written:
            out["human_written"] = True
        put_optional(out, "licence", self.licence)
        return out


@dataclass(frozen=True)
class LineageDeclaration:
    """What a team declares about the models and datasets behind its data (``lineage.yaml``)."""

    models: tuple[LineageModel, ...] = ()
    datasets: tuple[LineageDataset, ...] = ()

    @classmethod
    def from_dict(cls, data: object, where: Where = Where()) -> LineageDeclaration:
        f = Fields(data, where, ("schema", "models", "datasets"))
        check_schema(f, LINEAGE_SCHEMA)
        models = tuple(LineageModel.from_dict(m, w) for m, w in f.items("models"))
        datasets = tuple(LineageDataset.from_dict(d, w) for d, w in f.items("datasets"))
        seen: set[str] = set()
        named: list[tuple[str, str, Where]] = [("model", m.name, m.where) for m in models]
        named += [("dataset", d.name, d.where) for d in datasets]
        for kind, name, at in named:
            key = f"{kind}:{name.casefold()}"
            if key in seen:
                raise at.error(f"{kind} '{name}' is declared twice")
            seen.add(key)
        return cls(models=models, datasets=datasets)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": LINEAGE_SCHEMA,
            "models": [m.to_dict() for m in self.models],
            "datasets": [d.to_dict() for d in self.datasets],
        }
