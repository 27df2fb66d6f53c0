"""The model catalog as data: which models belong to which provider and terms per channel
(:class:`CatalogModel`), and the known datasets (:class:`CatalogDataset`)
(``docs/policy-format.md``, "Model catalog").
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from provenance.policy.conditions import CHANNELS
from provenance.policy.fields import Fields, Where
from provenance.policy.generation import Generation, read_generators
from provenance.policy.vocabulary import CATALOG_SCHEMA, check_ref, check_schema, put_optional


@dataclass(frozen=True)
class CatalogModel:
    """A catalog entry: which models (globs) belong to which provider, and their terms per channel."""

    match: tuple[str, ...]
    provider: str
    family: str
    terms: Mapping[str, tuple[str, ...]]
    """Channel (``api``, ``app``, ``self-hosted``, ``hosted``) → terms families or exact ids."""
    where: Where = field(default=Where(), compare=False, repr=False)

    def matches(self, model: str) -> bool:
        name = model.casefold()
        return any(fnmatch.fnmatchcase(name, pattern.casefold()) for pattern in self.match)

    def terms_for(self, channel: str | None) -> list[tuple[str, tuple[str, ...]]]:
        """(channel, refs) pairs for a channel; every channel when it is not known.

        A third-party host serves the weights, so the weights licence applies when the entry names no
        ``hosted`` terms of its own (docs/policy-format.md, "Channels").
        """
        if channel is None:
            return sorted(self.terms.items())
        if channel == "hosted" and "hosted" not in self.terms and "self-hosted" in self.terms:
            return [("hosted", self.terms["self-hosted"])]
        return [(channel, self.terms[channel])] if channel in self.terms else []

    @classmethod
    def from_dict(cls, data: object, where: Where = Where()) -> CatalogModel:
        f = Fields(data, where, ("match", "provider", "family", "terms"))
        match = f.texts("match")
        if not match:
            raise f.where.error("a catalog model needs at least one 'match' pattern")
        terms_map = f.mapping("terms")
        tf = Fields(terms_map, f.at("terms"), CHANNELS)
        terms: dict[str, tuple[str, ...]] = {}
        for channel in terms_map:
            refs = tf.texts(channel)
            terms[channel] = tuple(check_ref(r, tf.at(channel)) for r in refs)
        return cls(
            match=match,
            provider=f.text("provider"),
            family=f.text("family"),
            terms=terms,
            where=where,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "match": list(self.match),
            "provider": self.provider,
            "family": self.family,
            "terms": {k: list(v) for k, v in sorted(self.terms.items())},
        }


@dataclass(frozen=True)
class CatalogDataset:
    """A known dataset: its licence and the models that generated it."""

    name: str
    aliases: tuple[str, ...] = ()
    licence: tuple[str, ...] = ()
    generators: tuple[Generation, ...] = ()
    human_written: bool = False
    """Written by people: no model terms reach it. Without generators or this flag the origin of
    the dataset is unknown (a review)."""
    source: str | None = None
    note: str | None = None
    where: Where = field(default=Where(), compare=False, repr=False)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    @classmethod
    def from_dict(cls, data: object, where: Where = Where()) -> CatalogDataset:
        f = Fields(
            data,
            where,
            ("name", "aliases", "licence", "generators", "human_written", "source", "note"),
        )
        return cls(
            name=f.text("name"),
            aliases=f.texts("aliases"),
            licence=tuple(check_ref(r, f.at("licence")) for r in f.texts("licence")),
            generators=read_generators(f),
            human_written=f.flag("human_written", False),
            source=f.opt_text("source"),
            note=f.opt_text("note"),
            where=where,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        put_optional(out, "aliases", self.aliases)
        put_optional(out, "licence", self.licence)
        put_optional(out, "generators", [g.to_dict() for g in self.generators])
        if self.human_written:
            out["human_written"] = True
        put_optional(out, "source", self.source)
        put_optional(out, "note", self.note)
        return out


@dataclass(frozen=True)
class Catalog:
    """The model catalog: model patterns → provider and terms; known datasets."""

    models: tuple[CatalogModel, ...] = ()
    datasets: tuple[CatalogDataset, ...] = ()

    @classmethod
    def from_dict(cls, data: object, where: Where = Where()) -> Catalog:
        f = Fields(data, where, ("schema", "models", "datasets"))
        check_schema(f, CATALOG_SCHEMA)
        return cls(
            models=tuple(CatalogModel.from_dict(m, w) for m, w in f.items("models")),
            datasets=tuple(CatalogDataset.from_dict(d, w) for d, w in f.items("datasets")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": CATALOG_SCHEMA,
            "models": [m.to_dict() for m in self.models],
            "datasets": [d.to_dict() for d in self.datasets],
        }

    def merge(self, other: Catalog) -> Catalog:
        """Both catalogs, this one first; a dataset name (or alias) known to both is an error."""
        mine = {n.casefold() for d in self.datasets for n in d.names}
        for dataset in other.datasets:
            clash = next((n for n in dataset.names if n.casefold() in mine), None)
            if clash is not None:
                raise dataset.where.error(f"dataset '{clash}' is already in the catalog")
        return Catalog(self.models + other.models, self.datasets + other.datasets)

    def model(self, model: str, model_returned: str | None = None) -> CatalogModel | None:
        """The entry for a model: globs are tried on ``model_returned`` first, then on ``model``."""
        for name in (model_returned, model):
            if name:
                entry = next((m for m in self.models if m.matches(name)), None)
                if entry is not None:
                    return entry
        return None

    def dataset(self, name: str) -> CatalogDataset | None:
        key = name.casefold()
        return next((d for d in self.datasets if any(n.casefold() == key for n in d.names)), None)

    def refs(self) -> list[tuple[str, Where]]:
        """Every terms reference the catalog makes, with where it is made (for lint)."""
        out = [
            (r, m.where.field("terms"))
            for m in self.models
            for refs in m.terms.values()
            for r in refs
        ]
        out += [(r, d.where.field("licence")) for d in self.datasets for r in d.licence]
        return out
