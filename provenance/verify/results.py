"""What verification says about a record: its status, and the result types that carry it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

from provenance.errors import ProvenanceError, VerificationError
from provenance.manifest import Manifest, RecordPredicate


class Status(StrEnum):
    """A record's verdict. Checked in the order of :mod:`provenance.verify.reference`; the first
    check that fails gives the status."""

    OK = "ok"
    CONTENT_MISMATCH = "content-mismatch"
    BAD_SIGNATURE = "bad-signature"
    UNTRUSTED_SIGNER = "untrusted-signer"
    REVOKED_SIGNER = "revoked-signer"
    EXPIRED_SIGNER = "expired-signer"
    BAD_PROOF = "bad-proof"
    MISSING_MANIFEST = "missing-manifest"
    MALFORMED = "malformed"
    INCOMPLETE_BATCH = "incomplete-batch"
    INVALID_RECORD = "invalid-record"


@dataclass(frozen=True, slots=True)
class BatchPosition:
    """A verified record's place in its signed batch."""

    root: str
    index: int
    size: int


@dataclass(frozen=True, slots=True)
class RecordResult:
    """The verdict on one record."""

    source: str
    line: int
    status: Status
    reason: str = ""
    record_id: str | None = None
    content_digest: str | None = None
    manifest: Manifest | None = None
    signer: str | None = None
    """Name of the trusted key that signed, when the signature verified."""
    batch: BatchPosition | None = None
    """Where a batch-signed record sits in its batch, when it verified."""

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": self.source,
            "line": self.line,
            "status": self.status.value,
        }
        if self.record_id is not None:
            out["record_id"] = self.record_id
        if self.reason:
            out["reason"] = self.reason
        if self.signer:
            out["signer"] = self.signer
        return out


class Verified(NamedTuple):
    """A record that verified, in the short form :meth:`Verifier.verify_many` gives when no
    details are asked for: its id and, in batch mode, its leaf (root hex, index, tree size)."""

    record_id: str
    root: str | None
    leaf: int
    size: int
    signer: str | None = None
    """Name of the trusted key that signed."""
    predicate: RecordPredicate | None = None
    """The record's validated predicate. With the ``known-statements`` strategy, records whose
    statements share a predicate (up to the signing time) share this object, so a caller can key
    work on its identity."""


Outcome = RecordResult | Verified


def fail(status: Status, message: str) -> VerificationError:
    """The error a failed check raises: its message, and the status it gives the record."""
    return VerificationError(message, status=status.value)


def failure(
    exc: ProvenanceError, source: str, line: int, record: Mapping[str, Any], digest: str
) -> RecordResult:
    """The result for a record whose check raised: its status, or ``malformed``."""
    if isinstance(exc, VerificationError):
        return RecordResult(
            source,
            line,
            Status(exc.status),
            exc.message,
            exc.record_id or guess_id(record),
            digest,
        )
    return RecordResult(source, line, Status.MALFORMED, exc.message, guess_id(record), digest)


def guess_id(record: Mapping[str, Any]) -> str | None:
    """The record's own ``id``, for naming a record whose manifest gives none."""
    value = record.get("id")
    return str(value) if isinstance(value, str | int) else None
