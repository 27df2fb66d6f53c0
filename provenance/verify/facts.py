"""What the checks establish about a record, passed from one step to the next."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from provenance.manifest import (
    PREDICATE_TYPE,
    Manifest,
    RecordPredicate,
    Statement,
    Subject,
    parse_time,
)
from provenance.trust import TrustedKey


@dataclass(frozen=True)
class BatchFacts:
    """What one verified batch envelope establishes: its root, size and signers."""

    root: bytes
    size: int
    batch_id: str
    signers: tuple[TrustedKey, ...]
    signed_at: datetime | None
    root_hex: str = ""


@dataclass(slots=True)
class PredicateFacts:
    """A record predicate that parsed strictly and validated, with what verification reads."""

    predicate: RecordPredicate
    data: dict[str, Any]
    providers: tuple[str, ...]
    organization: str | None
    parts: tuple[tuple[str, str], ...]
    """(JSON Pointer, part digest) of each contribution that has one."""
    variant: tuple[str | None, RecordPredicate, dict[str, Any]] | None = None
    """The last per-record ``signed_at`` variant built for a manifest."""

    @classmethod
    def of(cls, predicate: RecordPredicate, data: dict[str, Any]) -> PredicateFacts:
        return cls(
            predicate,
            data,
            tuple(c.generator.provider for c in predicate.contributions),
            predicate.organization,
            tuple(
                (c.pointer, c.part_digest)
                for c in predicate.contributions
                if c.part_digest is not None
            ),
        )

    def with_signed_at(self, text: str | None) -> tuple[RecordPredicate, dict[str, Any]]:
        """The predicate (object and JSON) with ``signed_at`` set to ``text``."""
        if text == self.data.get("signed_at"):
            return self.predicate, self.data
        if self.variant is None or self.variant[0] != text:
            when = None if text is None else parse_time(text, "predicate.signed_at")
            data = {**self.data, "signed_at": text}
            self.variant = (text, replace(self.predicate, signed_at=when), data)
        return self.variant[1], self.variant[2]


@dataclass(slots=True)
class StatementFacts:
    """What a verified record statement says: subject, predicate, signing time."""

    record_id: str
    sha256: str
    predicate: PredicateFacts
    signed_at: datetime | None
    signed_text: str | None
    built: Manifest | None = None

    def manifest(self) -> Manifest:
        if self.built is None:
            predicate, data = self.predicate.with_signed_at(self.signed_text)
            statement = Statement(
                subject=Subject(name=self.record_id, digest={"sha256": self.sha256}),
                predicate_type=PREDICATE_TYPE,
                predicate=data,
            )
            self.built = Manifest(statement=statement, predicate=predicate)
        return self.built


@dataclass(frozen=True, slots=True)
class Attested:
    """A manifest whose signature, signers and (in batch mode) inclusion verified."""

    facts: StatementFacts
    signer: TrustedKey
    batch: BatchFacts | None
    index: int
