"""Stored manifests without their records: reading them and checking them offline.

The registry keeps each record's ``_provenance`` object as it was signed (a per-record DSSE envelope,
or a batch statement with its inclusion proof and the batch envelope), never the record itself. What
can be checked without the record: the signatures, the signers' trust scope and validity, the batch
inclusion proof, and that the signed statement names the content digest the registry holds. What
cannot: per-part digests (the parts are not kept) — the record's own verification covers those.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from provenance import canonical, dsse, merkle
from provenance.errors import MalformedJSONError, ProvenanceError
from provenance.manifest import (
    BATCH_PREDICATE_TYPE,
    PAYLOAD_TYPE,
    Manifest,
    ManifestError,
    Statement,
    format_time,
    parse_time,
)
from provenance.trust import TrustedKey, TrustStore


def provenance_text(prov: Mapping[str, Any]) -> str:
    """The canonical JSON text under which a ``_provenance`` object is stored."""
    return canonical.canonicalize(prov).decode("utf-8")


def envelope_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def mode_of(prov: Mapping[str, Any]) -> str:
    return "dsse" if "dsse" in prov else "batch"


def statement_bytes(prov: Mapping[str, Any]) -> bytes:
    """The signed statement bytes of a stored manifest."""
    if "dsse" in prov:
        return dsse.Envelope.from_dict(prov["dsse"]).payload
    return dsse.b64decode(prov.get("statement"), "batch record statement")


def manifest_of(prov: Mapping[str, Any]) -> Manifest:
    """The manifest a stored ``_provenance`` object signs (no signature check)."""
    try:
        return Manifest.from_statement(
            Statement.from_dict(canonical.parse_json(statement_bytes(prov)))
        )
    except MalformedJSONError as exc:
        raise ManifestError(f"statement: {exc.message}") from exc


def contribution_rows(manifest: Manifest, digest: str) -> list[dict[str, Any]]:
    """The ``contributions`` rows of a manifest stored under envelope digest ``digest``."""
    out = []
    for position, c in enumerate(manifest.predicate.contributions):
        generated = c.generated_at
        out.append(
            {
                "envelope_digest": digest,
                "position": position,
                "record_id": manifest.record_id,
                "content_digest": manifest.content_digest,
                "pointer": c.pointer,
                "role": c.role,
                "provider": c.generator.provider,
                "model": c.generator.model,
                "model_returned": c.generator.model_returned,
                "service": c.generator.service,
                "terms_id": None if c.terms is None else c.terms.id,
                "terms_digest": None if c.terms is None else c.terms.digest,
                "generated_at": None if generated is None else format_time(generated),
                "generated_day": None
                if generated is None
                else generated.astimezone(UTC).date().isoformat(),
                "organization": manifest.predicate.organization,
            }
        )
    return out


# ---- offline check -------------------------------------------------------------------------


@dataclass(frozen=True)
class ManifestCheck:
    status: str
    reason: str = ""
    signer: str | None = None
    manifest: Manifest | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def check_manifest(
    prov: Any, content_digest: str, trust: TrustStore, now: datetime | None = None
) -> ManifestCheck:
    """Check a stored manifest against a trust store and the content digest it should name."""
    when_now = now or datetime.now(UTC)
    if not isinstance(prov, Mapping):
        return ManifestCheck("malformed", "_provenance is not an object")
    try:
        if "dsse" in prov:
            envelope = dsse.Envelope.from_dict(prov["dsse"])
            signers = _signers(envelope, trust)
            if envelope.payload_type != PAYLOAD_TYPE:
                return ManifestCheck("malformed", f"payloadType is '{envelope.payload_type}'")
            manifest = manifest_of(prov)
            signed_at = manifest.predicate.signed_at
        elif "batch" in prov and "statement" in prov:
            batch = prov["batch"]
            if not isinstance(batch, Mapping) or not isinstance(batch.get("dsse"), Mapping):
                return ManifestCheck("malformed", "batch has no embedded 'dsse' envelope")
            envelope = dsse.Envelope.from_dict(batch["dsse"])
            signers = _signers(envelope, trust)
            batch_statement = Statement.from_dict(canonical.parse_json(envelope.payload))
            if batch_statement.predicate_type != BATCH_PREDICATE_TYPE:
                return ManifestCheck("malformed", "batch envelope is not a batch statement")
            payload = statement_bytes(prov)
            problem = _inclusion(batch, batch_statement, payload)
            if problem:
                return ManifestCheck("bad-proof", problem)
            manifest = manifest_of(prov)
            signed = batch_statement.predicate.get("signed_at")
            signed_at = parse_time(signed) if isinstance(signed, str) else None
        else:
            return ManifestCheck("malformed", "_provenance holds neither 'dsse' nor a batch")
    except _Refused as exc:
        return ManifestCheck(exc.status, exc.message)
    except (ProvenanceError, ValueError) as exc:
        message = exc.message if isinstance(exc, ProvenanceError) else str(exc)
        return ManifestCheck("malformed", message)
    refused = _scope(signers, manifest, signed_at or when_now, when_now)
    if refused is not None:
        return ManifestCheck(refused[0], refused[1], signers[0].name, manifest)
    if manifest.content_digest != content_digest:
        return ManifestCheck(
            "content-mismatch",
            "the signed statement names another content digest",
            signers[0].name,
            manifest,
        )
    return ManifestCheck("ok", "", signers[0].name, manifest)


class _Refused(Exception):
    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _signers(envelope: dsse.Envelope, trust: TrustStore) -> tuple[TrustedKey, ...]:
    message = envelope.pae()
    valid: dict[str, TrustedKey] = {}
    for signature in envelope.signatures:
        for candidate in trust.candidates(signature.keyid):
            if candidate.keyid not in valid and candidate.key.verify(signature.sig, message):
                valid[candidate.keyid] = candidate
                break
    if not valid:
        named = any(trust.by_keyid(s.keyid) is not None for s in envelope.signatures)
        if named:
            raise _Refused("bad-signature", "signature does not verify with the key it names")
        raise _Refused("untrusted-signer", "no trusted key verifies the signature")
    if len(valid) < trust.threshold:
        raise _Refused(
            "untrusted-signer",
            f"{len(valid)} distinct trusted key(s) signed; {trust.threshold} required",
        )
    return tuple(valid.values())


def _inclusion(batch: Mapping[str, Any], statement: Statement, payload: bytes) -> str | None:
    index, size, path = batch.get("index"), batch.get("size"), batch.get("path")
    if type(index) is not int or type(size) is not int or not isinstance(path, list):
        return "batch needs integer 'index', 'size' and a 'path' list"
    if statement.predicate.get("tree_size") != size:
        return "the record's batch size differs from the signed one"
    try:
        root = bytes.fromhex(statement.subject.sha256)
        nodes = [bytes.fromhex(p) for p in path]
    except (ValueError, TypeError, ManifestError):
        return "batch root or audit path is not hex"
    if merkle.root_from_inclusion(index, size, merkle.leaf_hash(payload), nodes) != root:
        return f"inclusion proof for leaf {index} does not lead to the signed batch root"
    return None


def _scope(
    signers: tuple[TrustedKey, ...], manifest: Manifest, signed_at: datetime, now: datetime
) -> tuple[str, str] | None:
    """The first signer's refusal of this manifest, judged as the verifier judges it."""
    providers = tuple(c.generator.provider for c in manifest.predicate.contributions)
    for key in signers:
        problem = key.record_problem(providers, manifest.predicate.organization, signed_at, now)
        if problem:
            return problem
    return None
