"""Verification of signed records: envelope, signature, trust, content digest, Merkle inclusion.

The core takes a record's bytes and returns a :class:`RecordResult`; the checks inside raise typed
:class:`~provenance.errors.VerificationError` subclasses that carry the per-record status. Nothing here
opens files; ``provenance.scan`` feeds it whole datasets.

Statuses, in the order they are checked: ``invalid-record`` (not strict JSON: no verdict),
``missing-manifest``, ``malformed``, ``bad-signature``, ``untrusted-signer``, ``revoked-signer``,
``expired-signer``, ``bad-proof`` (batch mode: the Merkle inclusion proof fails), ``content-mismatch``,
``ok``. After a stream, batches with records missing are reported as ``incomplete-batch``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from provenance import canonical, dsse, merkle
from provenance.errors import MalformedJSONError, ProvenanceError, VerificationError
from provenance.limits import DEFAULT_LIMITS, Limits
from provenance.manifest import (
    BATCH_PREDICATE_TYPE,
    PAYLOAD_TYPE,
    Manifest,
    ManifestError,
    Statement,
    parse_time,
)
from provenance.sources.base import RawRecord
from provenance.trust import TrustedKey, TrustStore

PROVENANCE_KEY = "_provenance"


class Status(StrEnum):
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


def _fail(status: Status, message: str) -> VerificationError:
    return VerificationError(message, status=status.value)


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


@dataclass(frozen=True, slots=True)
class BatchPosition:
    """A verified record's place in its signed batch."""

    root: str
    index: int
    size: int


@dataclass(frozen=True)
class _BatchFacts:
    """What one verified batch envelope establishes: its root, size and signers."""

    root: bytes
    size: int
    batch_id: str
    signers: tuple[TrustedKey, ...]
    signed_at: datetime | None


@dataclass
class Verifier:
    """Verifies records against a trust store. Keeps a cache of batch envelopes already checked,
    so a batch signature is verified once however many of its records are read."""

    trust: TrustStore
    limits: Limits = DEFAULT_LIMITS
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    _batches: dict[tuple[str, ...], _BatchFacts | VerificationError] = field(
        default_factory=dict, repr=False
    )

    # ---- public -----------------------------------------------------------------------------

    def verify(self, raw: RawRecord) -> RecordResult:
        """Verify one record; never raises for a bad record, only reports it."""
        try:
            record, digest = canonical.parse_and_digest(raw.data)
        except MalformedJSONError as exc:
            return RecordResult(raw.source, raw.line, Status.INVALID_RECORD, exc.message)
        return self.verify_parsed(raw, record, digest)

    def verify_parsed(self, raw: RawRecord, record: Mapping[str, Any], digest: str) -> RecordResult:
        envelope_data = record.get(PROVENANCE_KEY)
        record_id = _guess_id(record)
        if envelope_data is None:
            return RecordResult(
                raw.source,
                raw.line,
                Status.MISSING_MANIFEST,
                "record has no _provenance manifest",
                record_id,
                digest,
            )
        try:
            manifest, signer, position = self._check(envelope_data, record, digest)
        except VerificationError as exc:
            return RecordResult(
                raw.source,
                raw.line,
                Status(exc.status),
                exc.message,
                exc.record_id or record_id,
                digest,
            )
        except ProvenanceError as exc:
            return RecordResult(
                raw.source, raw.line, Status.MALFORMED, exc.message, record_id, digest
            )
        return RecordResult(
            raw.source,
            raw.line,
            Status.OK,
            "",
            manifest.record_id,
            digest,
            manifest,
            signer.name,
            position,
        )

    # ---- checks -----------------------------------------------------------------------------

    def _check(
        self, prov: Any, record: Mapping[str, Any], digest: str
    ) -> tuple[Manifest, TrustedKey, BatchPosition | None]:
        if not isinstance(prov, Mapping):
            raise _fail(Status.MALFORMED, "_provenance is not an object")
        if "dsse" in prov:
            envelope = dsse.Envelope.from_dict(
                prov["dsse"], max_signatures=self.limits.max_signatures
            )
            signers = self._verify_signatures(envelope)
            statement = _statement(envelope.payload, envelope.payload_type)
            manifest = _manifest(statement)
            self._check_signers(signers, manifest, manifest.predicate.signed_at)
            position = None
        elif "batch" in prov and "statement" in prov:
            statement_bytes = dsse.b64decode(prov["statement"], "batch record statement")
            facts = self._batch(prov["batch"])
            position = self._check_inclusion(prov["batch"], facts, statement_bytes)
            statement = _statement(statement_bytes, PAYLOAD_TYPE)
            manifest = _manifest(statement)
            signers = facts.signers
            self._check_signers(signers, manifest, facts.signed_at)
        else:
            raise _fail(Status.MALFORMED, "_provenance holds neither a 'dsse' envelope nor a batch")
        if statement.subject.sha256 != digest:
            raise VerificationError(
                "content digest does not match the manifest (the record was changed, or the "
                "manifest belongs to another record)",
                status=Status.CONTENT_MISMATCH.value,
                record_id=manifest.record_id,
            )
        self._check_parts(record, manifest)
        return manifest, signers[0], position

    def _verify_signatures(self, envelope: dsse.Envelope) -> tuple[TrustedKey, ...]:
        """The distinct trusted keys whose signatures verify; raises when fewer than the trust
        store's threshold do."""
        message = envelope.pae()
        valid: dict[str, TrustedKey] = {}
        hinted_trusted = False
        for signature in envelope.signatures:
            if self.trust.by_keyid(signature.keyid) is not None:
                hinted_trusted = True
            for candidate in self.trust.candidates(signature.keyid):
                if candidate.keyid in valid:
                    continue
                if candidate.key.verify(signature.sig, message):
                    valid[candidate.keyid] = candidate
                    break
        if not valid:
            if hinted_trusted:
                raise _fail(
                    Status.BAD_SIGNATURE, "signature does not verify with the trusted key it names"
                )
            hints = ", ".join(s.keyid[:16] for s in envelope.signatures if s.keyid) or "none"
            raise _fail(
                Status.UNTRUSTED_SIGNER,
                f"no trusted key verifies the signature (key id hints: {hints})",
            )
        if len(valid) < self.trust.threshold:
            raise _fail(
                Status.UNTRUSTED_SIGNER,
                f"{len(valid)} distinct trusted key(s) signed; the trust store requires "
                f"{self.trust.threshold}",
            )
        if envelope.payload_type != PAYLOAD_TYPE:
            raise _fail(
                Status.MALFORMED,
                f"payloadType is '{envelope.payload_type}', expected '{PAYLOAD_TYPE}'",
            )
        return tuple(valid.values())

    def _check_signers(
        self, signers: tuple[TrustedKey, ...], manifest: Manifest, signed_at: datetime | None
    ) -> None:
        when = signed_at or self.now
        for key in signers:
            if key.revoked_at is not None and key.revoked_at <= self.now:
                reason = f" ({key.revoked_reason})" if key.revoked_reason else ""
                raise VerificationError(
                    f"signed by key '{key.name}', revoked{reason}",
                    status=Status.REVOKED_SIGNER.value,
                    record_id=manifest.record_id,
                )
            problem = key.window_problem(when)
            if problem:
                raise VerificationError(
                    f"signed at {when.isoformat()}: {problem}",
                    status=Status.EXPIRED_SIGNER.value,
                    record_id=manifest.record_id,
                )
            for contribution in manifest.predicate.contributions:
                provider = contribution.generator.provider
                if not key.covers_provider(provider):
                    raise VerificationError(
                        f"key '{key.name}' is not trusted to sign for provider '{provider}'",
                        status=Status.UNTRUSTED_SIGNER.value,
                        record_id=manifest.record_id,
                    )
            if not key.covers_organization(manifest.predicate.organization):
                raise VerificationError(
                    f"key '{key.name}' is not trusted to sign for organisation "
                    f"'{manifest.predicate.organization}'",
                    status=Status.UNTRUSTED_SIGNER.value,
                    record_id=manifest.record_id,
                )

    def _check_parts(self, record: Mapping[str, Any], manifest: Manifest) -> None:
        for contribution in manifest.predicate.contributions:
            if contribution.part_digest is None:
                continue
            try:
                part = resolve_pointer(record, contribution.pointer)
            except LookupError as exc:
                raise VerificationError(
                    f"part {contribution.pointer!r} named in the manifest is not in the record",
                    status=Status.CONTENT_MISMATCH.value,
                    record_id=manifest.record_id,
                ) from exc
            if part_digest(part) != contribution.part_digest:
                raise VerificationError(
                    f"part {contribution.pointer!r} does not match its digest",
                    status=Status.CONTENT_MISMATCH.value,
                    record_id=manifest.record_id,
                )

    # ---- batch mode -------------------------------------------------------------------------

    def _batch(self, batch: Any) -> _BatchFacts:
        if not isinstance(batch, Mapping) or not isinstance(batch.get("dsse"), Mapping):
            raise _fail(Status.MALFORMED, "batch has no 'dsse' envelope")
        env = batch["dsse"]
        sigs = env.get("signatures")
        key = (
            (
                str(env.get("payload")),
                str(env.get("payloadType")),
                *(
                    str(s.get("sig")) + "|" + str(s.get("keyid"))
                    for s in sigs
                    if isinstance(s, Mapping)
                ),
            )
            if isinstance(sigs, list)
            else ("?",)
        )
        cached = self._batches.get(key)
        if cached is None:
            try:
                cached = self._verify_batch_envelope(env)
            except VerificationError as exc:
                cached = exc
            self._batches[key] = cached
        if isinstance(cached, VerificationError):
            raise _fail(Status(cached.status), cached.message)
        return cached

    def _verify_batch_envelope(self, env: Mapping[str, Any]) -> _BatchFacts:
        envelope = dsse.Envelope.from_dict(env, max_signatures=self.limits.max_signatures)
        signers = self._verify_signatures(envelope)
        statement = _statement(envelope.payload, envelope.payload_type)
        if statement.predicate_type != BATCH_PREDICATE_TYPE:
            raise _fail(
                Status.MALFORMED, f"batch envelope predicateType is '{statement.predicate_type}'"
            )
        try:
            root = bytes.fromhex(statement.subject.sha256)
        except ValueError as exc:
            raise _fail(Status.MALFORMED, "batch root is not hex") from exc
        size = statement.predicate.get("tree_size")
        if not isinstance(size, int) or not 0 < size <= self.limits.max_batch_size:
            raise _fail(Status.MALFORMED, "batch tree_size is missing or out of range")
        signed = statement.predicate.get("signed_at")
        signed_at = parse_time(signed, "batch signed_at") if isinstance(signed, str) else None
        return _BatchFacts(root, size, statement.subject.name, signers, signed_at)

    def _check_inclusion(
        self, batch: Mapping[str, Any], facts: _BatchFacts, statement_bytes: bytes
    ) -> BatchPosition:
        index, size, path = batch.get("index"), batch.get("size"), batch.get("path")
        if not isinstance(index, int) or not isinstance(size, int) or not isinstance(path, list):
            raise _fail(Status.MALFORMED, "batch needs integer 'index', 'size' and a 'path' list")
        if len(path) > self.limits.max_audit_path:
            raise _fail(Status.MALFORMED, "audit path longer than any tree allows")
        if size != facts.size:
            raise _fail(
                Status.BAD_PROOF,
                f"record claims a batch of {size} records; the signed batch has {facts.size}",
            )
        try:
            nodes = [bytes.fromhex(p) for p in path]
        except (ValueError, TypeError) as exc:
            raise _fail(Status.MALFORMED, "audit path entries must be hex strings") from exc
        if any(len(n) != 32 for n in nodes):
            raise _fail(Status.MALFORMED, "audit path entries must be 32-byte hashes")
        root = merkle.root_from_inclusion(index, size, merkle.leaf_hash(statement_bytes), nodes)
        if root != facts.root:
            raise _fail(
                Status.BAD_PROOF,
                f"inclusion proof for leaf {index} does not lead to the signed batch root",
            )
        return BatchPosition(facts.root.hex(), index, size)


def _statement(payload: bytes, payload_type: str) -> Statement:
    if payload_type != PAYLOAD_TYPE:
        raise _fail(Status.MALFORMED, f"payloadType is '{payload_type}', expected '{PAYLOAD_TYPE}'")
    try:
        return Statement.from_dict(canonical.parse_json(payload))
    except (MalformedJSONError, ManifestError) as exc:
        raise _fail(Status.MALFORMED, f"statement: {exc.message}") from exc


def _manifest(statement: Statement) -> Manifest:
    try:
        manifest = Manifest.from_statement(statement)
        _ = statement.subject.sha256
    except ManifestError as exc:
        raise _fail(Status.MALFORMED, exc.message) from exc
    return manifest


def _guess_id(record: Mapping[str, Any]) -> str | None:
    value = record.get("id")
    return str(value) if isinstance(value, str | int) else None


def resolve_pointer(document: Any, pointer: str) -> Any:
    """The value at an RFC 6901 JSON Pointer; raises LookupError when it is absent."""
    if pointer == "":
        return (
            {k: v for k, v in document.items() if k != PROVENANCE_KEY}
            if isinstance(document, Mapping)
            else document
        )
    if not pointer.startswith("/"):
        raise LookupError(pointer)
    current = document
    for token in pointer[1:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(current, Mapping):
            if token not in current:
                raise LookupError(pointer)
            current = current[token]
        elif isinstance(current, list):
            if not token.isdigit() or (token != "0" and token.startswith("0")):
                raise LookupError(pointer)
            position = int(token)
            if position >= len(current):
                raise LookupError(pointer)
            current = current[position]
        else:
            raise LookupError(pointer)
    return current


def part_digest(value: Any) -> str:
    """Hex SHA-256 of the canonical form of one part of a record."""
    import hashlib

    return hashlib.sha256(canonical.canonicalize(value)).hexdigest()
