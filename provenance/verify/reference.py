"""The reference path of verification: what makes a record verify, one step per method.

The steps run in this order, and the first that fails gives the record its status:

1. **strict record** (:meth:`Reference.verify`): the line is strict JSON (RFC 8259, no duplicate
   keys, no unsafe integers); else ``invalid-record``, and no verdict;
2. **manifest present** (:meth:`Reference.judge`): the record has a ``_provenance`` member; else
   ``missing-manifest``;
3. **envelope** (:meth:`Reference.envelope`): a DSSE envelope, or in batch mode a statement and
   its place in a batch; else ``malformed``;
4. **signature** (:meth:`Reference.signatures`): enough distinct trusted keys verify the
   signature over the envelope's PAE bytes; else ``bad-signature`` (the key the signature names
   does not verify it) or ``untrusted-signer``; then the payload type must be in-toto's;
5. **manifest shape** (:meth:`Reference.statement`): the statement is canonical JSON and a valid
   in-toto Statement with a valid record predicate; else ``malformed``;
6. **trust** (:meth:`Reference.signers`): each signing key may sign records for the providers and
   organisation the predicate names at the signing time; else ``untrusted-signer``,
   ``revoked-signer`` or ``expired-signer``;
7. **proof** (:meth:`Reference.inclusion`, batch mode; checked before the statement is read): the
   statement's leaf and audit path lead to the root the batch envelope signs (RFC 9162
   §2.1.3.2); else ``bad-proof``;
8. **content** (:meth:`Reference.content`): the subject digest is the SHA-256 of the record's
   canonical bytes without ``_provenance`` (RFC 8785), and each part a contribution signs on its
   own matches its digest; else ``content-mismatch``.

Nothing here caches, reads bytes by position or calls the native module. :class:`Verifier`
(:mod:`provenance.verify.verifier`) is this class with the fast strategies of
:mod:`provenance.verify.strategies` beside each step; with none enabled it is this class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, overload

from provenance import canonical, dsse, merkle
from provenance.errors import MalformedJSONError, ProvenanceError, VerificationError
from provenance.limits import DEFAULT_LIMITS, Limits
from provenance.manifest import (
    BATCH_PREDICATE_TYPE,
    PAYLOAD_TYPE,
    Contribution,
    Manifest,
    ManifestError,
    Statement,
    parse_time,
)
from provenance.record import PROVENANCE_KEY, SIDECAR_SUFFIX, part_digest, resolve_pointer
from provenance.sources.base import RawRecord
from provenance.trust import TrustedKey, TrustStore
from provenance.verify.facts import Attested, BatchFacts, PredicateFacts, StatementFacts
from provenance.verify.results import (
    BatchPosition,
    Outcome,
    RecordResult,
    Status,
    Verified,
    fail,
    failure,
    guess_id,
)


@dataclass
class Reference:
    """Verifies records against a trust store by the rules alone (see the module doc).

    The class is over 300 lines because it is the specification, read top to bottom: one method
    per step, in the order the steps run. Splitting it would split that order."""

    trust: TrustStore
    limits: Limits = DEFAULT_LIMITS
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    # ---- records ----------------------------------------------------------------------------

    def verify(self, raw: RawRecord) -> RecordResult:
        """Step 1, then the rest: verify one line; never raises for a bad record."""
        try:
            record, digest = self.read(raw.data)
        except MalformedJSONError as exc:
            return RecordResult(raw.source, raw.line, Status.INVALID_RECORD, exc.message)
        return self.verify_parsed(raw, record, digest)

    def read(self, line: bytes) -> tuple[Mapping[str, Any], str]:
        """A strictly parsed record and its content digest."""
        return canonical.read_record(line)

    def verify_parsed(self, raw: RawRecord, record: Mapping[str, Any], digest: str) -> RecordResult:
        """Steps 2 to 8 on a record already read, with its content digest."""
        outcome = self.judge(raw.source, raw.line, record, digest, True)
        assert isinstance(outcome, RecordResult)
        return outcome

    @overload
    def verify_many(
        self,
        source: str,
        items: Sequence[tuple[int, Mapping[str, Any], str]],
        *,
        details: Literal[True] = True,
    ) -> list[RecordResult]: ...

    @overload
    def verify_many(
        self,
        source: str,
        items: Sequence[tuple[int, Mapping[str, Any], str]],
        *,
        details: bool,
    ) -> list[Outcome]: ...

    def verify_many(
        self,
        source: str,
        items: Sequence[tuple[int, Mapping[str, Any], str]],
        *,
        details: bool = True,
    ) -> list[RecordResult] | list[Outcome]:
        """Records of one file, ``(line, record, content digest)`` each, one at a time. With
        ``details`` every outcome is a :class:`RecordResult`; without, a record that verifies is
        a short :class:`Verified` and only failures are full results."""
        return self.judge_many(source, items, details)

    def judge_many(
        self, source: str, items: Sequence[tuple[int, Mapping[str, Any], str]], details: bool
    ) -> list[Any]:
        """:meth:`verify_many`'s work: here, each record through every step alone."""
        return [self.judge(source, line, record, digest, details) for line, record, digest in items]

    def judge(
        self, source: str, line: int, record: Mapping[str, Any], digest: str, details: bool
    ) -> Outcome:
        """Steps 2 to 8: the verdict on one parsed record."""
        prov = record.get(PROVENANCE_KEY)
        if prov is None:
            return RecordResult(
                source,
                line,
                Status.MISSING_MANIFEST,
                "record has no _provenance manifest",
                guess_id(record),
                digest,
            )
        try:
            attested = self.attest(prov, digest, source)
            self.content(record, digest, attested.facts)
        except ProvenanceError as exc:
            return failure(exc, source, line, record, digest)
        return self.outcome(source, line, digest, attested, details)

    def outcome(
        self, source: str, line: int, digest: str, attested: Attested, details: bool
    ) -> Outcome:
        """The result for a record that passed every step."""
        facts, batch, index = attested.facts, attested.batch, attested.index
        signer = attested.signer.name
        if not details:
            predicate = facts.predicate.predicate
            if batch is None:
                return Verified(facts.record_id, None, 0, 0, signer, predicate)
            return Verified(facts.record_id, batch.root_hex, index, batch.size, signer, predicate)
        return RecordResult(
            source,
            line,
            Status.OK,
            "",
            facts.record_id,
            digest,
            facts.manifest(),
            signer,
            None if batch is None else BatchPosition(batch.root_hex, index, batch.size),
        )

    def verify_part(self, prov: Any, pointer: str, value: Any, source: str = "") -> Contribution:
        """Prove who wrote one part of a record without the rest of it.

        ``prov`` is the record's ``_provenance``; the signature, the signer's trust and the
        statement are checked as for a whole record, then ``value`` must match the signed
        ``part_digest`` of the contribution at ``pointer``. Returns that contribution (its
        generator, role, terms and time); raises :class:`VerificationError` otherwise. The content
        digest of the whole record is not checked: the other parts are not at hand.
        """
        facts = self.attest(prov, "", source).facts
        for contribution in facts.manifest().predicate.contributions:
            if contribution.pointer != pointer:
                continue
            if contribution.part_digest is None:
                raise fail(
                    Status.MALFORMED, f"the manifest signs no digest of part {pointer!r} on its own"
                )
            if part_digest(value) != contribution.part_digest:
                raise VerificationError(
                    f"part {pointer!r} does not match its signed digest",
                    status=Status.CONTENT_MISMATCH.value,
                    record_id=facts.record_id,
                )
            return contribution
        raise fail(Status.MALFORMED, f"the manifest names no part {pointer!r}")

    # ---- steps 3 to 7: the manifest ---------------------------------------------------------

    def attest(self, prov: Any, digest: str, source: str) -> Attested:
        """Steps 3 to 7 on a record's ``_provenance``: not the record's content. ``digest`` is
        the record's content digest (strategies that read statements by their bytes use it)."""
        if type(prov) is not dict and not isinstance(prov, Mapping):
            raise fail(Status.MALFORMED, "_provenance is not an object")
        if "dsse" in prov:
            envelope = self.envelope(prov["dsse"])
            signers = self.signatures(envelope)
            facts = self.statement(envelope.payload, digest)
            self.signers(signers, facts, facts.signed_at)
            return Attested(facts, signers[0], None, 0)
        if "batch" in prov and "statement" in prov:
            statement = self.batch_statement(prov["statement"])
            batch = self.batch(prov["batch"], source)
            index = self.inclusion(prov["batch"], batch, statement)
            facts = self.statement(statement, digest)
            self.signers(batch.signers, facts, batch.signed_at)
            return Attested(facts, batch.signers[0], batch, index)
        raise fail(Status.MALFORMED, "_provenance holds neither a 'dsse' envelope nor a batch")

    def envelope(self, data: Any) -> dsse.Envelope:
        """Step 3: a DSSE envelope with base64 payload and signatures."""
        return dsse.Envelope.from_dict(data, max_signatures=self.limits.max_signatures)

    def batch_statement(self, text: Any) -> bytes:
        """Step 3 in batch mode: the record's statement, base64 in its manifest."""
        return dsse.b64decode(text, "batch record statement")

    def candidates(self, keyid: str | None) -> tuple[bool, tuple[TrustedKey, ...]]:
        """Whether ``keyid`` names a trusted key, and the keys to try for a signature with that
        hint: the key it names first, then every other key in trust store order."""
        return self.trust.by_keyid(keyid) is not None, tuple(self.trust.candidates(keyid))

    def signatures(self, envelope: dsse.Envelope) -> tuple[TrustedKey, ...]:
        """Step 4: the distinct trusted keys whose signatures verify; raises when fewer than the
        trust store's threshold do, or when the payload is not an in-toto statement."""
        message = envelope.pae()
        valid: dict[str, TrustedKey] = {}
        hinted_trusted = False
        for signature in envelope.signatures:
            named, candidates = self.candidates(signature.keyid)
            if named:
                hinted_trusted = True
            for candidate in candidates:
                if candidate.keyid in valid:
                    continue
                if candidate.key.verify(signature.sig, message):
                    valid[candidate.keyid] = candidate
                    break
        if not valid:
            if hinted_trusted:
                raise fail(
                    Status.BAD_SIGNATURE, "signature does not verify with the trusted key it names"
                )
            hints = ", ".join(s.keyid[:16] for s in envelope.signatures if s.keyid) or "none"
            raise fail(
                Status.UNTRUSTED_SIGNER,
                f"no trusted key verifies the signature (key id hints: {hints})",
            )
        if len(valid) < self.trust.threshold:
            raise fail(
                Status.UNTRUSTED_SIGNER,
                f"{len(valid)} distinct trusted key(s) signed; the trust store requires "
                f"{self.trust.threshold}",
            )
        if envelope.payload_type != PAYLOAD_TYPE:
            raise fail(
                Status.MALFORMED,
                f"payloadType is '{envelope.payload_type}', expected '{PAYLOAD_TYPE}'",
            )
        return tuple(valid.values())

    def statement(
        self, payload: bytes, digest: str, known: tuple[str, bytes] | None = None
    ) -> StatementFacts:
        """Step 5: what a record statement says; raises ``malformed``. ``digest`` and ``known``
        serve strategies that read statements by their bytes; the rules read neither."""
        try:
            data = self.statement_json(payload)
            statement = Statement.from_dict(data)
        except (MalformedJSONError, ManifestError) as exc:
            raise fail(Status.MALFORMED, f"statement: {exc.message}") from exc
        try:
            manifest = Manifest.from_statement(statement)
            sha256 = statement.subject.sha256
        except ManifestError as exc:
            raise fail(Status.MALFORMED, exc.message) from exc
        predicate = self.predicate(payload, data, manifest)
        signed = statement.predicate.get("signed_at")
        return StatementFacts(
            manifest.record_id,
            sha256,
            predicate,
            manifest.predicate.signed_at,
            signed if isinstance(signed, str) else None,
            manifest,
        )

    def statement_json(self, payload: bytes) -> Any:
        """A statement's bytes parsed strictly (RFC 8785 input is strict JSON)."""
        return canonical.parse_json(payload)

    def predicate(self, payload: bytes, data: Any, manifest: Manifest) -> PredicateFacts:
        """What verification reads of a validated statement's predicate."""
        return PredicateFacts.of(manifest.predicate, manifest.statement.predicate)

    def signers(
        self, signers: tuple[TrustedKey, ...], facts: StatementFacts, signed_at: datetime | None
    ) -> None:
        """Step 6: every signing key may sign this record at ``signed_at`` (the batch's signing
        time in batch mode), as the trust store says."""
        predicate = facts.predicate
        for key in signers:
            problem = key.record_problem(
                predicate.providers, predicate.organization, signed_at, self.now
            )
            if problem:
                raise VerificationError(problem[1], status=problem[0], record_id=facts.record_id)

    # ---- step 7: batches --------------------------------------------------------------------

    def batch(self, batch: Any, source: str) -> BatchFacts:
        """The verified envelope of a record's batch, embedded or in a sidecar file."""
        if isinstance(batch, Mapping) and "dsse" not in batch and "sidecar" in batch:
            return self.sidecar_batch(batch.get("sidecar"), batch.get("root"), source)
        if not isinstance(batch, Mapping) or not isinstance(batch.get("dsse"), Mapping):
            raise fail(Status.MALFORMED, "batch has no 'dsse' envelope")
        return self.batch_envelope(batch["dsse"])

    def batch_envelope(self, env: Any) -> BatchFacts:
        """Steps 3 to 5 on a batch envelope: its signers, root, size and signing time."""
        envelope = self.envelope(env)
        signers = self.signatures(envelope)  # also requires the in-toto payloadType
        try:
            statement = Statement.from_dict(canonical.parse_json(envelope.payload))
        except (MalformedJSONError, ManifestError) as exc:
            raise fail(Status.MALFORMED, f"statement: {exc.message}") from exc
        if statement.predicate_type != BATCH_PREDICATE_TYPE:
            raise fail(
                Status.MALFORMED, f"batch envelope predicateType is '{statement.predicate_type}'"
            )
        try:
            root = bytes.fromhex(statement.subject.sha256)
        except ValueError as exc:
            raise fail(Status.MALFORMED, "batch root is not hex") from exc
        except ManifestError as exc:
            raise fail(Status.MALFORMED, exc.message) from exc
        size = statement.predicate.get("tree_size")
        if type(size) is not int or not 0 < size <= self.limits.max_batch_size:
            raise fail(Status.MALFORMED, "batch tree_size is missing or out of range")
        signed = statement.predicate.get("signed_at")
        try:
            signed_at = parse_time(signed, "batch signed_at") if isinstance(signed, str) else None
        except ManifestError as exc:
            raise fail(Status.MALFORMED, exc.message) from exc
        return BatchFacts(root, size, statement.subject.name, signers, signed_at, root.hex())

    def sidecar_batch(self, name: Any, root: Any, source: str) -> BatchFacts:
        """The envelope a record names (``name``, ``root``) in the sidecar file next to its
        own file (``source``)."""
        if (
            type(name) is not str
            or not name.endswith(SIDECAR_SUFFIX)
            or Path(name).name != name
            or name.startswith(".")
            or "\x00" in name
        ):
            raise fail(
                Status.MALFORMED, f"batch sidecar must be a file name ending in '{SIDECAR_SUFFIX}'"
            )
        if type(root) is not str:
            raise fail(Status.MALFORMED, "batch 'root' must be the hex root of the signed batch")
        index = self.sidecar(Path(source).parent / name)
        if isinstance(index, str):
            raise fail(Status.MALFORMED, index)
        env = index.get(root)
        if env is None:
            raise fail(
                Status.BAD_PROOF, f"sidecar {name} holds no signed batch with root {root[:16]}…"
            )
        facts = self.batch_envelope(env)
        if facts.root_hex != root:
            raise fail(
                Status.BAD_PROOF,
                f"the sidecar envelope listed for root {root[:16]}… signs another root",
            )
        return facts

    def sidecar(self, path: Path) -> dict[str, Any] | str:
        """A batch sidecar's envelopes by root, or why it cannot be read."""
        return read_sidecar(path)

    def inclusion(self, batch: Mapping[str, Any], facts: BatchFacts, statement: bytes) -> int:
        """Step 7: the record's statement is leaf ``index`` of the signed batch; its index."""
        index, size, path = batch.get("index"), batch.get("size"), batch.get("path")
        if type(index) is not int or type(size) is not int or not isinstance(path, list):
            raise fail(Status.MALFORMED, "batch needs integer 'index', 'size' and a 'path' list")
        if len(path) > self.limits.max_audit_path:
            raise fail(Status.MALFORMED, "audit path longer than any tree allows")
        if size != facts.size:
            raise fail(
                Status.BAD_PROOF,
                f"record claims a batch of {size} records; the signed batch has {facts.size}",
            )
        nodes = path_nodes(path)
        root = merkle.root_from_inclusion(index, size, merkle.leaf_hash(statement), nodes)
        if root != facts.root:
            raise fail(
                Status.BAD_PROOF,
                f"inclusion proof for leaf {index} does not lead to the signed batch root",
            )
        return index

    # ---- step 8: content --------------------------------------------------------------------

    def content(self, record: Mapping[str, Any], digest: str, facts: StatementFacts) -> None:
        """Step 8: the signed digests match the record's content and its signed parts."""
        if facts.sha256 != digest:
            raise VerificationError(
                "content digest does not match the manifest (the record was changed, or the "
                "manifest belongs to another record)",
                status=Status.CONTENT_MISMATCH.value,
                record_id=facts.record_id,
            )
        for pointer, expected in facts.predicate.parts:
            try:
                part = resolve_pointer(record, pointer)
            except LookupError as exc:
                raise VerificationError(
                    f"part {pointer!r} named in the manifest is not in the record",
                    status=Status.CONTENT_MISMATCH.value,
                    record_id=facts.record_id,
                ) from exc
            if part_digest(part) != expected:
                raise VerificationError(
                    f"part {pointer!r} does not match its digest",
                    status=Status.CONTENT_MISMATCH.value,
                    record_id=facts.record_id,
                )


def path_nodes(path: Sequence[Any]) -> list[bytes]:
    """An audit path's hex entries as 32-byte nodes; raises ``malformed`` otherwise."""
    try:
        nodes = [bytes.fromhex(p) for p in path]
    except (ValueError, TypeError) as exc:
        raise fail(Status.MALFORMED, "audit path entries must be hex strings") from exc
    if any(len(n) != 32 for n in nodes):
        raise fail(Status.MALFORMED, "audit path entries must be 32-byte hashes")
    return nodes


def read_sidecar(path: Path) -> dict[str, Any] | str:
    """Root hex → envelope for every line of a batch sidecar, or why it cannot be read."""
    try:
        data = path.read_bytes()
    except OSError:
        return f"batch sidecar {path.name} is not next to the data file"
    index: dict[str, Any] = {}
    for number, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            entry = canonical.parse_json(line)
        except MalformedJSONError as exc:
            return f"batch sidecar {path.name} line {number}: {exc.message}"
        if not isinstance(entry, dict) or type(entry.get("root")) is not str:
            return f"batch sidecar {path.name} line {number}: needs a 'root' and a 'dsse' envelope"
        index.setdefault(entry["root"], entry.get("dsse"))
    return index
