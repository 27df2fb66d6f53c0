"""Terms documents as data: a :class:`TermsDocument` of :class:`Clause` s, each maybe requiring
:class:`Obligation` s (``docs/policy-format.md``, "Terms documents").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from provenance.policy.conditions import ALWAYS, Condition, parse_condition
from provenance.policy.fields import Fields, Where
from provenance.policy.vocabulary import (
    BINDS,
    CONFIDENCES,
    EFFECTS,
    OBLIGATION_KINDS,
    TERMS_SCHEMA,
    check_ref,
    check_schema,
    iso_or_none,
    put_optional,
)

_CLAUSE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


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
        put_optional(out, "text", self.text)
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
        put_optional(out, "confidence", self.confidence)
        if self.when != ALWAYS:
            out["when"] = self.when.to_dict()
        out["effect"] = self.effect
        if self.obligations:
            out["obligations"] = [o.to_dict() for o in self.obligations]
        out["passes_to_derivatives"] = self.passes_to_derivatives
        put_optional(out, "settles", self.settles)
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
        check_schema(f, TERMS_SCHEMA)
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
            "effective_until": iso_or_none(self.effective_until),
            "confidence": self.confidence,
        }
        put_optional(out, "summary", self.summary)
        out["clauses"] = [c.to_dict() for c in self.clauses]
        return out
