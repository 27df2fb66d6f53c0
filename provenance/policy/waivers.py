"""Waivers as data: accepted findings, each with reason, owner and expiry (``waivers.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from provenance.policy.fields import Fields, Where
from provenance.policy.vocabulary import (
    WAIVERS_SCHEMA,
    check_ref,
    check_schema,
    put_optional,
    split_ref,
)


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
        put_optional(out, "clause", self.clause)
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
    check_schema(f, WAIVERS_SCHEMA)
    return tuple(Waiver.from_dict(w, at) for w, at in f.items("waivers"))
