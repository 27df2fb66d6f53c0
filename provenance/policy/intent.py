"""The planned training run under audit as data: :class:`Intent`, its :class:`Target` model and
the dataset :class:`Thresholds` it sets (``docs/policy-format.md``, "Intent").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from provenance.policy.conditions import ACTIVITIES, DISTRIBUTIONS, TARGET_KINDS, FactValue
from provenance.policy.fields import Fields, Where
from provenance.policy.vocabulary import INTENT_SCHEMA, check_schema, put_optional


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
        put_optional(out, "organization", self.organization)
        put_optional(out, "kind", self.kind)
        put_optional(out, "base_model", self.base_model)
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
        put_optional(out, "max_synthetic_share", self.max_synthetic_share)
        put_optional(out, "max_generation_depth", self.max_generation_depth)
        put_optional(out, "max_duplicate_rate", self.max_duplicate_rate)
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
        check_schema(f, INTENT_SCHEMA, required=False)
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
        put_optional(out, "monthly_active_users", self.monthly_active_users)
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
