"""The policy inputs as data: terms documents, the model catalog, intents, lineage and waivers.

Each class is frozen and reads itself with ``from_dict`` from a mapping shaped as in
``docs/policy-format.md`` (the loader passes mappings that remember line numbers, so errors name file,
line and field) and writes itself back with ``to_dict``. Nothing here reads a file.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from provenance.errors import shown
from provenance.manifest import ROLES, Contribution
from provenance.policy.conditions import (
    ACTIVITIES,
    ALWAYS,
    CHANNELS,
    DISTRIBUTIONS,
    TARGET_KINDS,
    Condition,
    FactValue,
    parse_condition,
)
from provenance.policy.fields import Fields, Where, to_day

Outcome = Literal["allow", "review", "deny"]
"""A decision: ``allow`` < ``review`` < ``deny`` in severity."""

SEVERITY: Mapping[str, int] = {"allow": 0, "review": 1, "deny": 2}
OUTCOMES: tuple[Outcome, ...] = ("allow", "review", "deny")

EFFECTS = frozenset({"deny", "review", "allow", "obligations"})
BINDS = frozenset({"licence", "contract"})
CONFIDENCES = frozenset({"high", "medium", "low"})
OBLIGATION_KINDS = frozenset(
    {"attribution", "model-name-prefix", "notice-file", "licence-copy", "use-restrictions", "other"}
)

TERMS_SCHEMA = "provenance/terms/v1"
CATALOG_SCHEMA = "provenance/catalog/v1"
LINEAGE_SCHEMA = "provenance/lineage/v1"
WAIVERS_SCHEMA = "provenance/waivers/v1"
INTENT_SCHEMA = "provenance/intent/v1"

ORG_PROVIDER = "org"
"""The provider of organisation policies."""

_NAME = r"[a-z0-9][a-z0-9._-]*"
_REF = re.compile(
    rf"(?P<family>(?P<provider>{_NAME})/(?P<document>{_NAME}))(?:@(?P<version>[A-Za-z0-9][A-Za-z0-9._-]*))?"
)
_CLAUSE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def most_severe(outcomes: Iterable[Outcome]) -> Outcome:
    """The most severe outcome; ``allow`` for none."""
    worst: Outcome = "allow"
    for outcome in outcomes:
        if SEVERITY[outcome] > SEVERITY[worst]:
            worst = outcome
    return worst


def split_ref(ref: str) -> tuple[str, str | None]:
    """``provider/document@version`` → (``provider/document``, ``version``); no version → None."""
    family, _, version = ref.partition("@")
    return family, version or None


def check_ref(ref: str, where: Where, *, exact: bool = False) -> str:
    """A terms reference: a document family ``provider/document`` or an exact ``…@version`` id."""
    match = _REF.fullmatch(ref)
    if match is None or (exact and match.group("version") is None):
        form = "<provider>/<document>@<version>" if exact else "<provider>/<document>[@<version>]"
        raise where.error(f"'{ref}' is not a terms reference of the form {form}")
    return ref


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if value is not None and value != () and value != []:
        out[key] = list(value) if isinstance(value, tuple) else value


@dataclass(frozen=True)
class Obligation:
    """Something a clause requires of whoever uses the outputs (attribution, a name prefix …)."""

    kind: str
    """One of ``OBLIGATION_KINDS``."""
    text: str | None = None
    """The attribution text, the required name prefix, the notice …"""

    @classmethod
    def from_dict(cls, data: object, where: Where = Where()) -> Obligation:
        f = Fields(data, where, ("kind", "text"))
        kind = f.choice("kind", OBLIGATION_KINDS)
        text = f.opt_text("text")
        if kind == "model-name-prefix" and text is None:
            raise f.where.error("a model-name-prefix obligation needs 'text' (the prefix)")
        return cls(kind=kind, text=text)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        _put(out, "text", self.text)
        return out

    def describe(self) -> str:
        return f'{self.kind} "{self.text}"' if self.text else self.kind


@dataclass(frozen=True)
class Clause:
    """One rule of a terms document, with where it is written and what it does."""

    id: str
    section: str
    paraphrase: str
    citation: str
    effect: str
    """``deny``, ``review``, ``allow`` or ``obligations``."""
    when: Condition = ALWAYS
    obligations: tuple[Obligation, ...] = ()
    passes_to_derivatives: bool = False
    """Whether the clause follows the outputs into models trained on them (and their outputs)."""
    confidence: str | None = None
    """``high``/``medium``/``low``; ``None`` means the document's confidence."""
    settles: str | None = None
    """For effect ``review``: the fact a reviewer must establish."""

    _KNOWN = (
        "id",
        "section",
        "paraphrase",
        "citation",
        "confidence",
        "when",
        "effect",
        "obligations",
        "passes_to_derivatives",
        "settles",
    )

    @classmethod
    def from_dict(cls, data: object, where: Where = Where()) -> Clause:
        f = Fields(data, where, cls._KNOWN)
        clause_id = f.text("id")
        if not _CLAUSE_ID.fullmatch(clause_id):
            raise f.at("id").error(f"clause id '{clause_id}' may hold only letters, digits, . _ -")
        effect = f.choice("effect", EFFECTS)
        obligations = tuple(Obligation.from_dict(o, w) for o, w in f.items("obligations"))
        if effect == "obligations" and not obligations:
            raise f.at("effect").error(
                f"clause '{clause_id}' has effect obligations but lists none"
            )
        if effect != "obligations" and obligations:
            raise f.at("obligations").error(
                f"clause '{clause_id}' lists obligations but its effect is {effect}",
                "use effect: obligations, or move the obligations to a clause of their own",
            )
        return cls(
            id=clause_id,
            section=f.text("section"),
            paraphrase=f.text("paraphrase"),
            citation=f.text("citation"),
            effect=effect,
            when=parse_condition(f.raw("when"), f.at("when")) if f.has("when") else ALWAYS,
            obligations=obligations,
            passes_to_derivatives=f.flag("passes_to_derivatives", False),
            confidence=f.opt_choice("confidence", CONFIDENCES),
            settles=f.opt_text("settles"),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "section": self.section,
            "paraphrase": self.paraphrase,
            "citation": self.citation,
        }
        _put(out, "confidence", self.confidence)
        if self.when != ALWAYS:
            out["when"] = self.when.to_dict()
        out["effect"] = self.effect
        if self.obligations:
            out["obligations"] = [o.to_dict() for o in self.obligations]
        out["passes_to_derivatives"] = self.passes_to_derivatives
        _put(out, "settles", self.settles)
        return out


@dataclass(frozen=True)
class TermsDocument:
    """One version of one provider terms document or model licence."""

    id: str
    """``<provider>/<document>@<version>``."""
    title: str
    provider: str
    document: str
    version: str
    binds: str
    """``licence`` (anyone using the weights or outputs) or ``contract`` (the account holder)."""
    source: str
    effective_from: date
    effective_until: date | None
    """Exclusive end; ``None`` while in force."""
    confidence: str
    clauses: tuple[Clause, ...]
    summary: str | None = None
    where: Where = field(default=Where(), compare=False, repr=False)

    _KNOWN = (
        "schema",
        "id",
        "title",
        "provider",
        "document",
        "version",
        "binds",
        "source",
        "effective_from",
        "effective_until",
        "confidence",
        "summary",
        "clauses",
    )

    @property
    def family(self) -> str:
        """``<provider>/<document>``: the versions of one document share it."""
        return f"{self.provider}/{self.document}"

    def in_force(self, day: date) -> bool:
        return self.effective_from <= day and (
            self.effective_until is None or day < self.effective_until
        )

    def clause(self, clause_id: str) -> Clause | None:
        return next((c for c in self.clauses if c.id == clause_id), None)

    @classmethod
    def from_dict(cls, data: object, where: Where = Where()) -> TermsDocument:
        f = Fields(data, where, cls._KNOWN)
        _check_schema(f, TERMS_SCHEMA)
        doc_id = check_ref(f.text("id"), f.at("id"), exact=True)
        provider = f.text("provider")
        document = f.text("document")
        version = f.text("version")
        if doc_id != f"{provider}/{document}@{version}":
            raise f.at("id").error(
                f"id '{doc_id}' does not match provider, document and version",
                f"expected '{provider}/{document}@{version}'",
            )
        binds = f.choice("binds", BINDS)
        effective_from = f.day("effective_from")
        effective_until = f.opt_day("effective_until")
        if effective_until is not None and effective_until <= effective_from:
            raise f.at("effective_until").error(
                f"effective_until {effective_until} is not after effective_from {effective_from}"
            )
        clauses: list[Clause] = []
        for item, at in f.items("clauses"):
            clause = Clause.from_dict(item, at)
            if any(c.id == clause.id for c in clauses):
                raise at.error(f"clause id '{clause.id}' is used twice")
            if binds == "contract" and clause.passes_to_derivatives:
                raise at.field("passes_to_derivatives").error(
                    f"clause '{clause.id}' of a contract cannot pass to derivatives",
                    "a contract binds only the account holder that generated the data",
                )
            clauses.append(clause)
        return cls(
            id=doc_id,
            title=f.text("title"),
            provider=provider,
            document=document,
            version=version,
            binds=binds,
            source=f.text("source"),
            effective_from=effective_from,
            effective_until=effective_until,
            confidence=f.choice("confidence", CONFIDENCES),
            clauses=tuple(clauses),
            summary=f.opt_text("summary"),
            where=where,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema": TERMS_SCHEMA,
            "id": self.id,
            "title": self.title,
            "provider": self.provider,
            "document": self.document,
            "version": self.version,
            "binds": self.binds,
            "source": self.source,
            "effective_from": self.effective_from.isoformat(),
            "effective_until": _iso(self.effective_until),
            "confidence": self.confidence,
        }
        _put(out, "summary", self.summary)
        out["clauses"] = [c.to_dict() for c in self.clauses]
        return out


def _check_schema(f: Fields, expected: str, *, required: bool = True) -> None:
    value = f.opt_text("schema")
    if value is None:
        if required:
            raise f.where.error(
                "missing field 'schema'", f"the first line should be 'schema: {expected}'"
            )
        return
    if value != expected:
        raise f.at("schema").error(f"schema is '{shown(str(value))}', expected '{expected}'")


def channel_of(service: str | None) -> str | None:
    """The channel a manifest's ``service`` maps to; ``None`` when the service is not given."""
    if service is None:
        return None
    if service in ("api", "app", "self-hosted"):
        return service
    return "hosted"


@dataclass(frozen=True)
class Generation:
    """A model writing (part of) data under some terms: the thing a terms document judges.

    Built from a manifest contribution (with the record's organisation), from a declared generator of
    a dataset, or from the ``class`` of a policy test case.
    """

    provider: str
    model: str
    model_returned: str | None = None
    service: str | None = None
    role: str | None = None
    pointer: str = ""
    organization: str | None = None
    generated_at: date | None = None
    """Day (UTC) the part was generated; picks the terms version in force."""
    terms: str | None = None
    """Terms named by the manifest (an exact id or a family); ``None`` = resolved by the catalog."""

    _KNOWN = (
        "provider",
        "model",
        "model_returned",
        "service",
        "role",
        "pointer",
        "organization",
        "generated_at",
        "terms",
    )

    @property
    def channel(self) -> str | None:
        return channel_of(self.service)

    @property
    def effective_model(self) -> str:
        return self.model_returned or self.model

    @classmethod
    def from_contribution(cls, contribution: Contribution, organization: str | None) -> Generation:
        generated = contribution.generated_at
        return cls(
            provider=contribution.generator.provider,
            model=contribution.generator.model,
            model_returned=contribution.generator.model_returned,
            service=contribution.generator.service,
            role=contribution.role,
            pointer=contribution.pointer,
            organization=organization,
            generated_at=None if generated is None else to_day(generated),
            terms=None if contribution.terms is None else contribution.terms.id,
        )

    @classmethod
    def from_dict(cls, data: object, where: Where = Where()) -> Generation:
        f = Fields(data, where, cls._KNOWN)
        pointer = f.opt_text("pointer") or ""
        if pointer and not pointer.startswith("/"):
            raise f.at("pointer").error(f"pointer '{pointer}' must be '' or start with '/'")
        terms = f.opt_text("terms")
        return cls(
            provider=f.text("provider"),
            model=f.text("model"),
            model_returned=f.opt_text("model_returned"),
            service=f.opt_text("service"),
            role=f.opt_choice("role", ROLES),
            pointer=pointer,
            organization=f.opt_text("organization"),
            generated_at=f.opt_day("generated_at"),
            terms=None if terms is None else check_ref(terms, f.at("terms")),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"provider": self.provider, "model": self.model}
        _put(out, "model_returned", self.model_returned)
        _put(out, "service", self.service)
        _put(out, "role", self.role)
        if self.pointer:
            out["pointer"] = self.pointer
        _put(out, "organization", self.organization)
        _put(out, "generated_at", _iso(self.generated_at))
        _put(out, "terms", self.terms)
        return out

    def facts(self) -> dict[str, FactValue]:
        """The ``class.*`` facts of this generation (absent values stay absent: unknown)."""
        out: dict[str, FactValue] = {
            "class.provider": self.provider,
            "class.model": self.model,
            "class.pointer": self.pointer,
        }
        optional: dict[str, FactValue | None] = {
            "class.service": self.service,
            "class.channel": self.channel,
            "class.role": self.role,
            "class.organization": self.organization,
            "class.generated_at": self.generated_at,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        return out

    def describe(self) -> str:
        parts = [f"{self.provider} {self.effective_model}"]
        if self.service:
            parts.append(f"via {self.service}")
        if self.role:
            parts.append(f"as {self.role}")
        if self.generated_at:
            parts.append(f"on {self.generated_at.isoformat()}")
        if self.organization:
            parts.append(f"for {self.organization}")
        return ", ".join(parts)


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
            generators=_generators(f),
            human_written=f.flag("human_written", False),
            source=f.opt_text("source"),
            note=f.opt_text("note"),
            where=where,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        _put(out, "aliases", self.aliases)
        _put(out, "licence", self.licence)
        _put(out, "generators", [g.to_dict() for g in self.generators])
        if self.human_written:
            out["human_written"] = True
        _put(out, "source", self.source)
        _put(out, "note", self.note)
        return out


def _generators(f: Fields) -> tuple[Generation, ...]:
    return tuple(Generation.from_dict(g, w) for g, w in f.items("generators"))


@dataclass(frozen=True)
class Catalog:
    """The model catalog: model patterns → provider and terms; known datasets."""

    models: tuple[CatalogModel, ...] = ()
    datasets: tuple[CatalogDataset, ...] = ()

    @classmethod
    def from_dict(cls, data: object, where: Where = Where()) -> Catalog:
        f = Fields(data, where, ("schema", "models", "datasets"))
        _check_schema(f, CATALOG_SCHEMA)
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


@dataclass(frozen=True)
class Target:
    """The model the planned run trains."""

    name: str
    organization: str | None = None
    kind: str | None = None
    base_model: str | None = None

    @classmethod
    def from_dict(cls, data: object, where: Where = Where()) -> Target:
        f = Fields(data, where, ("name", "organization", "kind", "base_model"))
        return cls(
            name=f.text("name"),
            organization=f.opt_text("organization"),
            kind=f.opt_choice("kind", TARGET_KINDS),
            base_model=f.opt_text("base_model"),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        _put(out, "organization", self.organization)
        _put(out, "kind", self.kind)
        _put(out, "base_model", self.base_model)
        return out


@dataclass(frozen=True)
class Thresholds:
    """Dataset-level limits the audit checks next to the terms (not used by the terms engine)."""

    max_synthetic_share: float | None = None
    max_generation_depth: int | None = None
    max_duplicate_rate: float | None = None

    @classmethod
    def from_dict(cls, data: object, where: Where = Where()) -> Thresholds:
        f = Fields(
            data, where, ("max_synthetic_share", "max_generation_depth", "max_duplicate_rate")
        )
        for key in ("max_synthetic_share", "max_duplicate_rate"):
            value = f.opt_number(key)
            if value is not None and not 0.0 <= value <= 1.0:
                raise f.at(key).error(f"'{key}' is a share between 0 and 1, not {value}")
        depth = f.opt_int("max_generation_depth")
        if depth is not None and depth < 0:
            raise f.at("max_generation_depth").error("'max_generation_depth' cannot be negative")
        return cls(
            max_synthetic_share=f.opt_number("max_synthetic_share"),
            max_generation_depth=depth,
            max_duplicate_rate=f.opt_number("max_duplicate_rate"),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        _put(out, "max_synthetic_share", self.max_synthetic_share)
        _put(out, "max_generation_depth", self.max_generation_depth)
        _put(out, "max_duplicate_rate", self.max_duplicate_rate)
        return out


@dataclass(frozen=True)
class Intent:
    """The planned training run under audit."""

    target: Target
    activity: str
    commercial: bool
    distribution: str
    date: date
    competes_with: tuple[str, ...] | None = None
    """Providers the target competes with; ``None`` = unknown (never read as "none")."""
    monthly_active_users: int | None = None
    thresholds: Thresholds | None = None

    _KNOWN = (
        "schema",
        "target",
        "activity",
        "commercial",
        "distribution",
        "competes_with",
        "monthly_active_users",
        "date",
        "thresholds",
    )

    @classmethod
    def from_dict(cls, data: object, where: Where = Where()) -> Intent:
        f = Fields(data, where, cls._KNOWN)
        _check_schema(f, INTENT_SCHEMA, required=False)
        commercial = f.opt_flag("commercial")
        if commercial is None:
            raise f.where.error("missing field 'commercial'", "write commercial: true or false")
        mau = f.opt_int("monthly_active_users")
        if mau is not None and mau < 0:
            raise f.at("monthly_active_users").error("'monthly_active_users' cannot be negative")
        return cls(
            target=Target.from_dict(f.mapping("target"), f.at("target")),
            activity=f.choice("activity", ACTIVITIES),
            commercial=commercial,
            distribution=f.choice("distribution", DISTRIBUTIONS),
            date=f.day("date"),
            competes_with=f.opt_texts("competes_with"),
            monthly_active_users=mau,
            thresholds=(
                Thresholds.from_dict(f.raw("thresholds"), f.at("thresholds"))
                if f.has("thresholds")
                else None
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "target": self.target.to_dict(),
            "activity": self.activity,
            "commercial": self.commercial,
            "distribution": self.distribution,
        }
        if self.competes_with is not None:
            out["competes_with"] = list(self.competes_with)
        _put(out, "monthly_active_users", self.monthly_active_users)
        out["date"] = self.date.isoformat()
        if self.thresholds is not None:
            out["thresholds"] = self.thresholds.to_dict()
        return out

    def facts(self) -> dict[str, FactValue]:
        """The ``intent.*`` facts (absent values stay absent: unknown)."""
        out: dict[str, FactValue] = {
            "intent.activity": self.activity,
            "intent.commercial": self.commercial,
            "intent.distribution": self.distribution,
            "intent.date": self.date,
            "intent.target.name": self.target.name,
        }
        optional: dict[str, FactValue | None] = {
            "intent.competes_with": self.competes_with,
            "intent.monthly_active_users": self.monthly_active_users,
            "intent.target.organization": self.target.organization,
            "intent.target.kind": self.target.kind,
            "intent.target.base_model": self.target.base_model,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        return out


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
        _put(out, "base_model", self.base_model)
        _put(out, "trained_on", self.trained_on)
        _put(out, "activity", self.activity)
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
            generators=_generators(f),
            human_written=f.flag("human_written", False),
            licence=tuple(check_ref(r, f.at("licence")) for r in f.texts("licence")),
            where=where,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        _put(out, "files", self.files)
        _put(out, "derived_from", self.derived_from)
        _put(out, "generators", [g.to_dict() for g in self.generators])
        if self.human_written:
            out["human_written"] = True
        _put(out, "licence", self.licence)
        return out


@dataclass(frozen=True)
class LineageDeclaration:
    """What a team declares about the models and datasets behind its data (``lineage.yaml``)."""

    models: tuple[LineageModel, ...] = ()
    datasets: tuple[LineageDataset, ...] = ()

    @classmethod
    def from_dict(cls, data: object, where: Where = Where()) -> LineageDeclaration:
        f = Fields(data, where, ("schema", "models", "datasets"))
        _check_schema(f, LINEAGE_SCHEMA)
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


@dataclass(frozen=True)
class Waiver:
    """An accepted finding: a terms document (or one clause of it), with reason, owner and expiry."""

    terms: str
    """An exact document id, or a family to cover every version."""
    reason: str
    owner: str
    expires: date
    """Last day the waiver applies; expired when before the intent's date."""
    clause: str | None = None
    where: Where = field(default=Where(), compare=False, repr=False)

    @classmethod
    def from_dict(cls, data: object, where: Where = Where()) -> Waiver:
        f = Fields(data, where, ("terms", "clause", "reason", "owner", "expires"))
        return cls(
            terms=check_ref(f.text("terms"), f.at("terms")),
            clause=f.opt_text("clause"),
            reason=f.text("reason"),
            owner=f.text("owner"),
            expires=f.day("expires"),
            where=where,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"terms": self.terms}
        _put(out, "clause", self.clause)
        out.update(
            {"reason": self.reason, "owner": self.owner, "expires": self.expires.isoformat()}
        )
        return out

    def expired(self, on: date) -> bool:
        return self.expires < on

    def covers(self, terms: str, clause: str | None) -> bool:
        """Whether the waiver names this document (exactly, or by family) and this clause."""
        family, version = split_ref(self.terms)
        same_doc = terms == self.terms or (version is None and split_ref(terms)[0] == family)
        return same_doc and (self.clause is None or self.clause == clause)


def waivers_from_dict(data: object, where: Where = Where()) -> tuple[Waiver, ...]:
    """Read a waivers file (``schema: provenance/waivers/v1``)."""
    f = Fields(data, where, ("schema", "waivers"))
    _check_schema(f, WAIVERS_SCHEMA)
    return tuple(Waiver.from_dict(w, at) for w, at in f.items("waivers"))
