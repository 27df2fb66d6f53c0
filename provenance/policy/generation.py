"""A model writing (part of) data under some terms: :class:`Generation`, the thing a terms document
judges, and the channel its service maps to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from provenance.manifest import ROLES, Contribution
from provenance.policy.conditions import FactValue
from provenance.policy.fields import Fields, Where, to_day
from provenance.policy.vocabulary import check_ref, iso_or_none, put_optional


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
        put_optional(out, "model_returned", self.model_returned)
        put_optional(out, "service", self.service)
        put_optional(out, "role", self.role)
        if self.pointer:
            out["pointer"] = self.pointer
        put_optional(out, "organization", self.organization)
        put_optional(out, "generated_at", iso_or_none(self.generated_at))
        put_optional(out, "terms", self.terms)
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


def read_generators(f: Fields) -> tuple[Generation, ...]:
    """The ``generators`` list of a catalog or lineage dataset."""
    return tuple(Generation.from_dict(g, w) for g, w in f.items("generators"))
