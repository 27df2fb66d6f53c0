"""Verification of signed records: envelope, signature, trust, content digest, Merkle inclusion.

The core takes a record's bytes and returns a :class:`RecordResult`; the checks inside raise typed
:class:`~provenance.errors.VerificationError` subclasses that carry the per-record status. Nothing here
reads data files; ``provenance.scan`` feeds it whole datasets (the one file read here is a batch
sidecar named by a record, next to the record's own file).

Statuses, in the order they are checked: ``invalid-record`` (not strict JSON: no verdict),
``missing-manifest``, ``malformed``, ``bad-signature``, ``untrusted-signer``, ``revoked-signer``,
``expired-signer``, ``bad-proof`` (batch mode: the Merkle inclusion proof fails), ``content-mismatch``,
``ok``. After a stream, batches with records missing are reported as ``incomplete-batch``.

Large inputs go through :meth:`Verifier.verify_many`, which gives every record the verdict
:meth:`Verifier.verify_parsed` gives it, with the work shared between records:

* a batch envelope is verified once, then found by its exact JSON bytes;
* the records of one batch in a chunk are proven together: the tree is rebuilt over each run of
  consecutive leaves (one hash per inner node) and compared with the signed root, and each
  record's own audit path is then compared with the rebuilt one. Any record that does not fit
  (odd fields, a path that differs, a duplicate leaf) is checked alone, by the walk of
  RFC 9162 §2.1.3.2, which gives the verdict and the message;
* a statement is read without a JSON parser when its bytes are canonical and its predicate (minus
  its ``signed_at`` time) is one already parsed strictly and validated: only the subject (record id
  and digest) and the time are read from the bytes. Anything else goes through the strict parser
  and the manifest model;
* a manifest in the exact layout the batch tagger writes is read by the native reader
  (:func:`provenance.canonical.view_and_digest`): its fields come decoded, its envelope is found
  by its bytes, and its statement is matched with the statement prefix last read here
  (:meth:`Verifier.statement_prefix`); the records of one batch that match are finished together
  (one signer check). Anything else is read by orjson and checked as above.
"""

from __future__ import annotations

import hashlib
import operator
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Literal, NamedTuple, overload

import orjson

from provenance import canonical, dsse, merkle
from provenance.errors import MalformedJSONError, ProvenanceError, VerificationError
from provenance.limits import DEFAULT_LIMITS, Limits
from provenance.manifest import (
    BATCH_PREDICATE_TYPE,
    PAYLOAD_TYPE,
    PREDICATE_TYPE,
    Contribution,
    Manifest,
    ManifestError,
    RecordPredicate,
    Statement,
    Subject,
    parse_time,
)
from provenance.native import lib as _native
from provenance.record import (
    NAME_KEY,
    PROVENANCE_KEY,
    SIDECAR_SUFFIX,
    STATEMENT_END,
    STATEMENT_HEAD,
    STATEMENT_MID,
    part_digest,
    resolve_pointer,
)
from provenance.sources.base import RawRecord
from provenance.trust import TrustedKey, TrustStore

_CACHE_ENTRIES: Final = 4096
"""Most batch envelopes, sidecars and predicates remembered per verifier (oldest dropped first)."""

_HEAD: Final = STATEMENT_HEAD
_MID: Final = STATEMENT_MID
_NAME_KEY: Final = NAME_KEY
_END: Final = STATEMENT_END
_SIGNED_AT: Final = b',"signed_at":"'
_SORTED: Final = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
_TIME_TEXT: Final = re.compile(rb"[0-9A-Za-z:.+\-]{1,64}\Z")


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
    """The record's validated predicate. Records whose statements share a predicate (up to the
    signing time) share this object, so a caller can key work on its identity."""


@dataclass(frozen=True)
class _BatchFacts:
    """What one verified batch envelope establishes: its root, size and signers."""

    root: bytes
    size: int
    batch_id: str
    signers: tuple[TrustedKey, ...]
    signed_at: datetime | None
    root_hex: str = ""


@dataclass(slots=True)
class _PredicateFacts:
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
    def of(cls, predicate: RecordPredicate, data: dict[str, Any]) -> _PredicateFacts:
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
class _Facts:
    """What a verified record statement says: subject, predicate, signing time."""

    record_id: str
    sha256: str
    predicate: _PredicateFacts
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


class _Leaf(NamedTuple):
    """A batch-mode record ready for a joint inclusion proof."""

    item: int
    statement: bytes
    leaf: bytes
    position: int
    path: bytes
    """The audit path's 32-byte nodes, concatenated."""
    facts: _BatchFacts
    known: tuple[str, bytes] | None = None
    """``(record id, prefix)`` when the native reader found the statement to be ``prefix``, the
    record's content digest and that id as a plain string: the statement of the verifier's last
    statement prefix for another record, if ``prefix`` is still that one."""


Outcome = RecordResult | Verified


def _bounded_put(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= _CACHE_ENTRIES:
        del cache[next(iter(cache))]
    cache[key] = value


def _b64(text: Any) -> bytes | None:
    """Decode canonical standard base64, or None when ``text`` is anything else (the caller then
    asks :func:`provenance.dsse.b64decode`, which gives the verdict and the message).

    Canonical: the RFC 4648 alphabet with padding and nothing else, a whole number of quads and
    zero bits after the last byte, so that the text is the only encoding of its bytes (natively,
    in one pass).
    """
    return _native.b64decode(text)


@dataclass
class Verifier:
    """Verifies records against a trust store. Remembers batch envelopes already checked, so a
    batch signature is verified once however many of its records are read, and predicates already
    validated, so records of one generation run are not parsed field by field again."""

    trust: TrustStore
    limits: Limits = DEFAULT_LIMITS
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    _batches: dict[bytes, _BatchFacts | VerificationError] = field(default_factory=dict, repr=False)
    _heads: dict[bytes, _PredicateFacts] = field(default_factory=dict, repr=False)
    _wholes: dict[bytes, _PredicateFacts] = field(default_factory=dict, repr=False)
    _sidecars: dict[Path, dict[str, Any] | str] = field(default_factory=dict, repr=False)
    _sidecar_facts: dict[tuple[str, str, str], _BatchFacts] = field(
        default_factory=dict, repr=False
    )
    _last_time: tuple[bytes, tuple[str, datetime]] | None = field(default=None, repr=False)
    _last_head: tuple[bytes, _PredicateFacts] | None = field(default=None, repr=False)
    _last_prefix: tuple[bytes, _PredicateFacts, datetime | None, str | None] | None = field(
        default=None, repr=False
    )
    _last_signers: (
        tuple[tuple[TrustedKey, ...], _PredicateFacts, datetime | None, datetime] | None
    ) = field(default=None, repr=False)
    _last_envelope: tuple[dict[str, Any], _BatchFacts] | None = field(default=None, repr=False)
    _last_raw: tuple[bytes, _BatchFacts] | None = field(default=None, repr=False)
    _hints: dict[str | None, tuple[bool, tuple[TrustedKey, ...]]] = field(
        default_factory=dict, repr=False
    )
    _hints_for: TrustStore | None = field(default=None, repr=False)

    # ---- public -----------------------------------------------------------------------------

    def verify(self, raw: RawRecord) -> RecordResult:
        """Verify one record; never raises for a bad record, only reports it."""
        try:
            record, digest = canonical.parse_and_digest(raw.data)
        except MalformedJSONError as exc:
            return RecordResult(raw.source, raw.line, Status.INVALID_RECORD, exc.message)
        return self.verify_parsed(raw, record, digest)

    def verify_parsed(self, raw: RawRecord, record: Mapping[str, Any], digest: str) -> RecordResult:
        outcome = self._one(raw.source, raw.line, record, digest, True)
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
        """Verify parsed records of one file: ``(line, record, content digest)`` each.

        Gives each record the verdict :meth:`verify_parsed` gives it. With ``details`` every
        outcome is a :class:`RecordResult`; without, a record that verifies is a short
        :class:`Verified` (no manifest is built) and only failures are full results.
        """
        out: list[Outcome | None] = [None] * len(items)
        groups: dict[tuple[bytes, int], list[_Leaf]] = {}
        for number, (line, record, digest) in enumerate(items):
            fields = record.batch if type(record) is canonical.RecordView else None
            leaf: _Leaf | None = None
            if fields is not None:
                leaf = self._fast_leaf(number, fields, source)
            else:
                prov = record.get(PROVENANCE_KEY)
                if type(prov) is dict and "dsse" not in prov and "batch" in prov:
                    leaf = self._leaf(number, prov, source)
            if leaf is not None:
                key = (leaf.facts.root, leaf.facts.size)
                group = groups.get(key)
                if group is None:
                    groups[key] = [leaf]
                else:
                    group.append(leaf)
                continue
            out[number] = self._one(source, line, record, digest, details)
        for group in groups.values():
            proven = self._prove(group)
            if not details:
                self._finish_known(group, proven, out)
            for leaf in group:
                if out[leaf.item] is not None:
                    continue
                line, record, digest = items[leaf.item]
                if leaf.item in proven:
                    out[leaf.item] = self._finish_leaf(source, line, record, digest, leaf, details)
                else:
                    out[leaf.item] = self._one(source, line, record, digest, details)
        return [o for o in out if o is not None]

    def _finish_known(
        self, group: list[_Leaf], proven: set[int], out: list[Outcome | None]
    ) -> None:
        """:meth:`_finish_leaf` at once for the proven records of one batch whose statements the
        native reader matched with the statement prefix last read (so each subject digest is
        its record's content digest), whose envelope is the first record's and whose predicate
        signs no part on its own: the signer checks depend only on the keys, the predicate and
        the times, so they run once. Records
        that do not fit, and every record when a check fails, are left to :meth:`_finish_leaf`,
        which gives each its verdict and message."""
        last = self._last_prefix
        if last is None:
            return
        prefix, predicate, signed_at, signed_text = last
        if predicate.parts:
            return
        batch = group[0].facts  # a root may be signed by several envelopes: one at a time
        known = [
            (leaf, leaf.known[0])
            for leaf in group
            if leaf.known is not None
            and leaf.known[1] is prefix
            and leaf.facts is batch
            and leaf.item in proven
        ]
        if not known:
            return
        try:
            self._check_signers(
                batch.signers,
                _Facts(known[0][1], "", predicate, signed_at, signed_text),
                batch.signed_at,
            )
        except ProvenanceError:
            return
        signer, root, size = batch.signers[0].name, batch.root_hex, batch.size
        value = predicate.predicate
        for leaf, name in known:
            out[leaf.item] = Verified(name, root, leaf.position, size, signer, value)

    def statement_prefix(self) -> bytes | None:
        """The bytes before the subject digest of the statement last read without a parser, for
        the reader to match (:func:`provenance.canonical.view_and_digest`)."""
        return None if self._last_prefix is None else self._last_prefix[0]

    # ---- one record, every check in order ---------------------------------------------------

    def _one(
        self, source: str, line: int, record: Mapping[str, Any], digest: str, details: bool
    ) -> Outcome:
        prov = record.get(PROVENANCE_KEY)
        if prov is None:
            return RecordResult(
                source,
                line,
                Status.MISSING_MANIFEST,
                "record has no _provenance manifest",
                _guess_id(record),
                digest,
            )
        try:
            facts, signer, batch, index = self._check(prov, record, digest, source)
        except ProvenanceError as exc:
            return _failure(exc, source, line, record, digest)
        return self._ok(source, line, digest, facts, signer, batch, index, details)

    def _ok(
        self,
        source: str,
        line: int,
        digest: str,
        facts: _Facts,
        signer: TrustedKey,
        batch: _BatchFacts | None,
        index: int,
        details: bool,
    ) -> Outcome:
        if not details:
            predicate = facts.predicate.predicate
            if batch is None:
                return Verified(facts.record_id, None, 0, 0, signer.name, predicate)
            return Verified(
                facts.record_id, batch.root_hex, index, batch.size, signer.name, predicate
            )
        return RecordResult(
            source,
            line,
            Status.OK,
            "",
            facts.record_id,
            digest,
            facts.manifest(),
            signer.name,
            None if batch is None else BatchPosition(batch.root_hex, index, batch.size),
        )

    def _check(
        self, prov: Any, record: Mapping[str, Any], digest: str, source: str
    ) -> tuple[_Facts, TrustedKey, _BatchFacts | None, int]:
        facts, signer, batch, index = self._attest(prov, digest, source)
        self._check_content(record, digest, facts)
        return facts, signer, batch, index

    def verify_part(self, prov: Any, pointer: str, value: Any, source: str = "") -> Contribution:
        """Prove who wrote one part of a record without the rest of it.

        ``prov`` is the record's ``_provenance``; the signature, the signer's trust and the
        statement are checked as for a whole record, then ``value`` must match the signed
        ``part_digest`` of the contribution at ``pointer``. Returns that contribution (its
        generator, role, terms and time); raises :class:`VerificationError` otherwise. The content
        digest of the whole record is not checked: the other parts are not at hand.
        """
        facts, _signer, _batch, _index = self._attest(prov, "", source)
        for contribution in facts.manifest().predicate.contributions:
            if contribution.pointer != pointer:
                continue
            if contribution.part_digest is None:
                raise _fail(
                    Status.MALFORMED, f"the manifest signs no digest of part {pointer!r} on its own"
                )
            if part_digest(value) != contribution.part_digest:
                raise VerificationError(
                    f"part {pointer!r} does not match its signed digest",
                    status=Status.CONTENT_MISMATCH.value,
                    record_id=facts.record_id,
                )
            return contribution
        raise _fail(Status.MALFORMED, f"the manifest names no part {pointer!r}")

    def _attest(
        self, prov: Any, digest: str, source: str
    ) -> tuple[_Facts, TrustedKey, _BatchFacts | None, int]:
        """Signature, signer trust and statement of a manifest; not the record's content."""
        if type(prov) is not dict and not isinstance(prov, Mapping):
            raise _fail(Status.MALFORMED, "_provenance is not an object")
        batch: _BatchFacts | None = None
        index = 0
        if "dsse" in prov:
            envelope = self._envelope(prov["dsse"])
            signers = self._verify_signatures(envelope)
            facts = self._statement_facts(envelope.payload, digest)
            self._check_signers(signers, facts, facts.signed_at)
        elif "batch" in prov and "statement" in prov:
            statement = _b64(prov["statement"])
            if statement is None:
                statement = dsse.b64decode(prov["statement"], "batch record statement")
            batch = self._batch(prov["batch"], source)
            index = self._check_inclusion(prov["batch"], batch, statement)
            facts = self._statement_facts(statement, digest)
            signers = batch.signers
            self._check_signers(signers, facts, batch.signed_at)
        else:
            raise _fail(Status.MALFORMED, "_provenance holds neither a 'dsse' envelope nor a batch")
        return facts, signers[0], batch, index

    def _check_content(self, record: Mapping[str, Any], digest: str, facts: _Facts) -> None:
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

    # ---- envelopes and signatures -----------------------------------------------------------

    def _envelope(self, data: Any) -> dsse.Envelope:
        """The parsed envelope: what :meth:`provenance.dsse.Envelope.from_dict` returns, read
        directly when every field is plainly valid, else by it (which gives the error)."""
        if type(data) is dict:
            payload_type = data.get("payloadType")
            payload = _b64(data.get("payload"))
            signatures = data.get("signatures")
            if (
                type(payload_type) is str
                and payload is not None
                and type(signatures) is list
                and 0 < len(signatures) <= self.limits.max_signatures
            ):
                parsed = []
                for entry in signatures:
                    if type(entry) is not dict:
                        break
                    keyid = entry.get("keyid")
                    sig = _b64(entry.get("sig"))
                    if sig is None or (keyid is not None and type(keyid) is not str):
                        break
                    parsed.append(dsse.Signature(sig, keyid or None))
                else:
                    return dsse.Envelope(payload_type, payload, tuple(parsed))
        return dsse.Envelope.from_dict(data, max_signatures=self.limits.max_signatures)

    def _candidates(self, keyid: str | None) -> tuple[bool, tuple[TrustedKey, ...]]:
        """Whether ``keyid`` names a trusted key, and the keys to try for a signature with that
        hint: the key it names first, then every other key in trust store order."""
        if self._hints_for is not self.trust:
            self._hints.clear()
            self._hints_for = self.trust
        found = self._hints.get(keyid)
        if found is None:
            first = self.trust.by_keyid(keyid)
            found = (first is not None, tuple(self.trust.candidates(keyid)))
            _bounded_put(self._hints, keyid, found)
        return found

    def _verify_signatures(self, envelope: dsse.Envelope) -> tuple[TrustedKey, ...]:
        """The distinct trusted keys whose signatures verify; raises when fewer than the trust
        store's threshold do."""
        message = envelope.pae()
        valid: dict[str, TrustedKey] = {}
        hinted_trusted = False
        for signature in envelope.signatures:
            named, candidates = self._candidates(signature.keyid)
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
        self, signers: tuple[TrustedKey, ...], facts: _Facts, signed_at: datetime | None
    ) -> None:
        predicate = facts.predicate
        last = self._last_signers
        if (
            last is not None
            and last[0] is signers
            and last[1] is predicate
            and last[2] == signed_at
            and last[3] == self.now
        ):
            return  # the same keys, predicate and times passed just before (records of one batch)
        for key in signers:
            problem = key.record_problem(
                predicate.providers, predicate.organization, signed_at, self.now
            )
            if problem:
                raise VerificationError(problem[1], status=problem[0], record_id=facts.record_id)
        self._last_signers = (signers, predicate, signed_at, self.now)

    # ---- statements -------------------------------------------------------------------------

    def _statement_facts(
        self, payload: bytes, digest: str, known: tuple[str, bytes] | None = None
    ) -> _Facts:
        """What a record statement says; raises ``malformed`` as the strict path does.
        ``digest`` is the record's content digest, the subject digest the fast read expects;
        ``known`` is what the native reader matched (:attr:`_Leaf.known`). The payload type was
        checked with the signature (:meth:`_verify_signatures`)."""
        fast = self._known_statement(payload, digest, known)
        if fast is not None:
            return fast
        try:
            data = _parse_canonical(payload)
            statement = Statement.from_dict(data)
        except (MalformedJSONError, ManifestError) as exc:
            raise _fail(Status.MALFORMED, f"statement: {exc.message}") from exc
        try:
            manifest = Manifest.from_statement(statement)
            sha256 = statement.subject.sha256
        except ManifestError as exc:
            raise _fail(Status.MALFORMED, exc.message) from exc
        predicate = self._learn(payload, data, manifest)
        signed = statement.predicate.get("signed_at")
        return _Facts(
            manifest.record_id,
            sha256,
            predicate,
            manifest.predicate.signed_at,
            signed if isinstance(signed, str) else None,
            manifest,
        )

    def _known_statement(
        self, payload: bytes, digest: str, known: tuple[str, bytes] | None = None
    ) -> _Facts | None:
        """Read a canonical statement whose predicate was validated before, without parsing it.

        The bytes must be ``HEAD PREDICATE MID DIGEST NAME_KEY NAME END`` with ``digest`` as the
        subject digest and a JSON string as the name. The predicate must be one :meth:`_learn`
        stored, either up to a final plain ``signed_at`` string member (which is then read and
        checked as the manifest model checks it) or as a whole. A JSON string cannot hold an
        unescaped quote, so the ``MID`` found last and the ``signed_at`` member found last are
        the statement's own. Records of one generation run share every byte before the digest:
        when a statement starts with the bytes before the digest of the last one read this way,
        only its digest and name are read, or neither when the native reader already matched them
        with those same bytes (``known`` names that prefix object and the id).
        """
        last_prefix = self._last_prefix
        if last_prefix is not None:
            if known is not None and known[1] is last_prefix[0]:
                return _Facts(known[0], digest, *last_prefix[1:])
            if payload.startswith(last_prefix[0]):
                name = self._known_tail(payload, len(last_prefix[0]), digest)
                if name is not None:
                    return _Facts(name, digest, *last_prefix[1:])
        if not payload.startswith(_HEAD) or not payload.endswith(_END):
            return None
        mid = payload.rfind(_MID)
        if mid < 0:
            return None
        start = mid + len(_MID)
        name = self._known_tail(payload, start, digest)
        if name is None:
            return None
        first = len(_HEAD)
        signed_text: str | None = None
        facts: _PredicateFacts | None = None
        cut = payload.rfind(_SIGNED_AT, first, mid)
        signed_at: datetime | None = None
        if cut >= 0 and payload.endswith(b'"}', first, mid):
            last = self._last_head
            if (
                last is not None
                and cut - first == len(last[0])
                and payload.startswith(last[0], first)
            ):
                facts = last[1]
            else:
                head = payload[first:cut]
                facts = self._heads.get(head)
                if facts is not None:
                    self._last_head = (head, facts)
            if facts is not None:
                stamp = self._time(payload[cut + len(_SIGNED_AT) : mid - 2])
                if stamp is None:
                    return None
                signed_text, signed_at = stamp
        if facts is None:
            facts = self._wholes.get(payload[first:mid])
            if facts is None:
                return None
            signed_text = facts.data.get("signed_at")
            signed_at = facts.predicate.signed_at
        self._last_prefix = (payload[:start], facts, signed_at, signed_text)
        return _Facts(name, digest, facts, signed_at, signed_text)

    @staticmethod
    def _known_tail(payload: bytes, start: int, digest: str) -> str | None:
        """The name of a statement whose bytes from ``start`` are ``DIGEST NAME_KEY NAME END``
        with ``digest`` and a JSON string as the name; None otherwise."""
        name_at = start + 64 + len(_NAME_KEY)
        if (
            payload[start + 64 : name_at] != _NAME_KEY
            or payload[start : start + 64] != digest.encode("ascii")
            or not payload.endswith(_END)
        ):
            return None
        try:
            name = orjson.loads(payload[name_at : -len(_END)])
        except orjson.JSONDecodeError:
            return None
        return name if type(name) is str else None

    def _time(self, stamp: bytes) -> tuple[str, datetime] | None:
        """A ``signed_at`` value read from statement bytes, checked as the manifest model checks
        it; None when it is not plainly a time (the strict path then gives the verdict)."""
        last = self._last_time
        if last is not None and last[0] == stamp:
            return last[1]
        if _TIME_TEXT.match(stamp) is None:
            return None
        text = stamp.decode("ascii")
        try:
            value = (text, parse_time(text, "predicate.signed_at"))
        except ManifestError:
            return None
        self._last_time = (stamp, value)
        return value

    def _learn(self, payload: bytes, data: Any, manifest: Manifest) -> _PredicateFacts:
        """The facts of a statement's validated predicate; remembered for
        :meth:`_known_statement` when the statement bytes are exactly the canonical layout."""
        predicate = manifest.statement.predicate
        facts = _PredicateFacts.of(manifest.predicate, predicate)
        if not isinstance(data, dict) or set(data) != {
            "_type",
            "predicate",
            "predicateType",
            "subject",
        }:
            return facts
        subject = data["subject"]
        if (
            data["predicateType"] != PREDICATE_TYPE
            or len(subject) != 1
            or type(subject[0]) is not dict
            or set(subject[0]) != {"digest", "name"}
            or type(subject[0]["digest"]) is not dict
            or set(subject[0]["digest"]) != {"sha256"}
        ):
            return facts
        try:
            body = orjson.dumps(data["predicate"], option=_SORTED)
            again = (
                _HEAD
                + body
                + _MID
                + orjson.dumps(subject[0]["digest"]["sha256"])[1:-1]
                + _NAME_KEY
                + orjson.dumps(subject[0]["name"])
                + _END
            )
        except orjson.JSONEncodeError:
            return facts
        if again != payload:
            return facts
        signed = predicate.get("signed_at")
        if type(signed) is str and max(predicate) == "signed_at":
            tail = _SIGNED_AT + orjson.dumps(signed)[1:] + b"}"
            if body.endswith(tail) and _TIME_TEXT.match(signed.encode("utf-8")) is not None:
                _bounded_put(self._heads, body[: -len(tail)], facts)
                return facts
        _bounded_put(self._wholes, body, facts)
        return facts

    # ---- batch mode -------------------------------------------------------------------------

    def _batch(self, batch: Any, source: str) -> _BatchFacts:
        """The verified envelope of a record's batch, embedded or in a sidecar file."""
        if isinstance(batch, Mapping) and "dsse" not in batch and "sidecar" in batch:
            return self._sidecar_batch(batch, source)
        if not isinstance(batch, Mapping) or not isinstance(batch.get("dsse"), Mapping):
            raise _fail(Status.MALFORMED, "batch has no 'dsse' envelope")
        return self._envelope_facts(batch["dsse"])

    def _envelope_facts(self, env: Any) -> _BatchFacts:
        """The verdict on a batch envelope, verified once: found again by its exact JSON bytes
        and, for the envelope that last verified, by equality (records of one batch repeat it)."""
        last = self._last_envelope
        if last is not None and last[0] == env:
            return last[1]
        try:
            key: bytes | None = orjson.dumps(env)
        except orjson.JSONEncodeError:
            key = None
        cached = None if key is None else self._batches.get(key)
        if cached is None:
            try:
                cached = self._verify_batch_envelope(env)
            except VerificationError as exc:
                cached = exc
            if key is not None:
                _bounded_put(self._batches, key, cached)
        if isinstance(cached, VerificationError):
            raise _fail(Status(cached.status), cached.message)
        if key is not None:
            # A copy: the record's own dict may change after it is verified.
            self._last_envelope = (orjson.loads(key), cached)
        return cached

    def _verify_batch_envelope(self, env: Any) -> _BatchFacts:
        envelope = self._envelope(env)
        signers = self._verify_signatures(envelope)  # also requires the in-toto payloadType
        try:
            statement = Statement.from_dict(canonical.parse_json(envelope.payload))
        except (MalformedJSONError, ManifestError) as exc:
            raise _fail(Status.MALFORMED, f"statement: {exc.message}") from exc
        if statement.predicate_type != BATCH_PREDICATE_TYPE:
            raise _fail(
                Status.MALFORMED, f"batch envelope predicateType is '{statement.predicate_type}'"
            )
        try:
            root = bytes.fromhex(statement.subject.sha256)
        except ValueError as exc:
            raise _fail(Status.MALFORMED, "batch root is not hex") from exc
        except ManifestError as exc:
            raise _fail(Status.MALFORMED, exc.message) from exc
        size = statement.predicate.get("tree_size")
        if type(size) is not int or not 0 < size <= self.limits.max_batch_size:
            raise _fail(Status.MALFORMED, "batch tree_size is missing or out of range")
        signed = statement.predicate.get("signed_at")
        try:
            signed_at = parse_time(signed, "batch signed_at") if isinstance(signed, str) else None
        except ManifestError as exc:
            raise _fail(Status.MALFORMED, exc.message) from exc
        return _BatchFacts(root, size, statement.subject.name, signers, signed_at, root.hex())

    def _sidecar_batch(self, batch: Mapping[str, Any], source: str) -> _BatchFacts:
        """The envelope a record names in the sidecar file next to its own file."""
        return self._sidecar_facts_for(batch.get("sidecar"), batch.get("root"), source)

    def _sidecar_facts_for(self, name: Any, root: Any, source: str) -> _BatchFacts:
        if type(name) is not str or type(root) is not str:
            return self._read_sidecar_batch(name, root, source)
        key = (source, name, root)
        facts = self._sidecar_facts.get(key)
        if facts is None:
            facts = self._read_sidecar_batch(name, root, source)
            _bounded_put(self._sidecar_facts, key, facts)
        return facts

    def _read_sidecar_batch(self, name: Any, root: Any, source: str) -> _BatchFacts:
        if (
            type(name) is not str
            or not name.endswith(SIDECAR_SUFFIX)
            or Path(name).name != name
            or name.startswith(".")
            or "\x00" in name
        ):
            raise _fail(
                Status.MALFORMED, f"batch sidecar must be a file name ending in '{SIDECAR_SUFFIX}'"
            )
        if type(root) is not str:
            raise _fail(Status.MALFORMED, "batch 'root' must be the hex root of the signed batch")
        path = Path(source).parent / name
        index = self._sidecars.get(path)
        if index is None:
            index = _read_sidecar(path)
            _bounded_put(self._sidecars, path, index)
        if isinstance(index, str):
            raise _fail(Status.MALFORMED, index)
        env = index.get(root)
        if env is None:
            raise _fail(
                Status.BAD_PROOF, f"sidecar {name} holds no signed batch with root {root[:16]}…"
            )
        facts = self._envelope_facts(env)
        if facts.root_hex != root:
            raise _fail(
                Status.BAD_PROOF,
                f"the sidecar envelope listed for root {root[:16]}… signs another root",
            )
        return facts

    def _check_inclusion(
        self, batch: Mapping[str, Any], facts: _BatchFacts, statement_bytes: bytes
    ) -> int:
        index, size, path = batch.get("index"), batch.get("size"), batch.get("path")
        if type(index) is not int or type(size) is not int or not isinstance(path, list):
            raise _fail(Status.MALFORMED, "batch needs integer 'index', 'size' and a 'path' list")
        if len(path) > self.limits.max_audit_path:
            raise _fail(Status.MALFORMED, "audit path longer than any tree allows")
        if size != facts.size:
            raise _fail(
                Status.BAD_PROOF,
                f"record claims a batch of {size} records; the signed batch has {facts.size}",
            )
        nodes = _path_nodes(path)
        root = merkle.root_from_inclusion(index, size, merkle.leaf_hash(statement_bytes), nodes)
        if root != facts.root:
            raise _fail(
                Status.BAD_PROOF,
                f"inclusion proof for leaf {index} does not lead to the signed batch root",
            )
        return index

    # ---- batch mode, many records at once ---------------------------------------------------

    def _leaf(self, item: int, prov: dict[str, Any], source: str) -> _Leaf | None:
        """A batch record whose fields are all plainly valid, ready for a joint proof; None
        sends it to :meth:`_one`, which gives the verdict and the message."""
        batch = prov.get("batch")
        if "statement" not in prov or type(batch) is not dict:
            return None
        index, size, path = batch.get("index"), batch.get("size"), batch.get("path")
        if (
            type(index) is not int
            or type(size) is not int
            or type(path) is not list
            or len(path) > self.limits.max_audit_path
            or not 0 <= index < size
        ):
            return None
        statement = _b64(prov["statement"])
        if statement is None:
            return None
        env = batch.get("dsse")
        try:
            facts = self._envelope_facts(env) if type(env) is dict else self._batch(batch, source)
        except ProvenanceError:
            return None
        if facts.size != size:
            return None
        try:
            nodes = b"".join(_path_nodes(path))
        except VerificationError:
            return None
        return _Leaf(item, statement, _sha256(b"\x00" + statement).digest(), index, nodes, facts)

    def _fast_leaf(self, item: int, fields: canonical.BatchFields, source: str) -> _Leaf | None:
        """:meth:`_leaf` for a manifest the native reader read off the batch tagger's layout
        (the same checks on the same values); the envelope's verdict is found by its bytes."""
        statement, leaf, index, size, path, envelope, known = fields
        if not index < size or len(path) > 32 * self.limits.max_audit_path:
            return None
        last = self._last_raw
        if isinstance(envelope, tuple):
            try:
                facts = self._sidecar_facts_for(envelope[0], envelope[1], source)
            except ProvenanceError:
                return None
        elif last is not None and last[0] == envelope:
            facts = last[1]
        else:
            found = self._batches.get(envelope)  # the envelopes' cache, keyed by these bytes too
            if not isinstance(found, _BatchFacts):
                try:
                    found = self._envelope_facts(orjson.loads(envelope))
                except ProvenanceError:
                    return None
                _bounded_put(self._batches, envelope, found)
            self._last_raw = (envelope, found)
            facts = found
        if facts.size != size:
            return None
        return _Leaf(item, statement, leaf, index, path, facts, known)

    def _prove(self, group: list[_Leaf]) -> set[int]:
        """The records of one batch whose inclusion the rebuilt tree proves (see module doc)."""
        proven: set[int] = set()
        ordered = sorted(group, key=_POSITION)
        run: list[_Leaf] = []
        for leaf in ordered:
            if run and leaf.position == run[-1].position:
                continue  # a second copy of a leaf is checked alone
            if run and leaf.position != run[-1].position + 1:
                proven.update(self._prove_run(run))
                run = []
            run.append(leaf)
        if run:
            proven.update(self._prove_run(run))
        return proven

    def _prove_run(self, run: list[_Leaf]) -> list[int]:
        if len(run) < 2:
            return []
        facts = run[0].facts
        size, first = facts.size, run[0].position
        levels = merkle.range_levels(
            size, first, [leaf.leaf for leaf in run], _nodes(run[0].path), _nodes(run[-1].path)
        )
        if levels is None or levels[-1][1][0] != facts.root:
            return []
        paths = merkle.range_paths(size, first, len(run), levels, bytes, b"")
        return [leaf.item for leaf, path in zip(run, paths, strict=True) if leaf.path == path]

    def _finish_leaf(
        self,
        source: str,
        line: int,
        record: Mapping[str, Any],
        digest: str,
        leaf: _Leaf,
        details: bool,
    ) -> Outcome:
        """The checks after inclusion, for a record whose inclusion is proven."""
        try:
            facts = self._statement_facts(leaf.statement, digest, leaf.known)
            self._check_signers(leaf.facts.signers, facts, leaf.facts.signed_at)
            self._check_content(record, digest, facts)
        except ProvenanceError as exc:
            return _failure(exc, source, line, record, digest)
        return self._ok(
            source, line, digest, facts, leaf.facts.signers[0], leaf.facts, leaf.position, details
        )


_sha256 = hashlib.sha256
_POSITION = operator.itemgetter(3)
"""A :class:`_Leaf`'s position."""


def _path_nodes(path: Sequence[Any]) -> list[bytes]:
    """An audit path's hex entries as 32-byte nodes; raises ``malformed`` otherwise."""
    try:
        nodes = [bytes.fromhex(p) for p in path]
    except (ValueError, TypeError) as exc:
        raise _fail(Status.MALFORMED, "audit path entries must be hex strings") from exc
    if any(len(n) != 32 for n in nodes):
        raise _fail(Status.MALFORMED, "audit path entries must be 32-byte hashes")
    return nodes


def _nodes(path: bytes) -> list[bytes]:
    """A concatenated audit path's 32-byte nodes."""
    return [path[k : k + 32] for k in range(0, len(path), 32)]


def _parse_canonical(payload: bytes) -> Any:
    """What :func:`canonical.parse_json` returns for ``payload``: built by orjson when the native
    reader takes the bytes and finds them already canonical (strict, and nothing to reorder or
    rewrite), else by the strict parser, which also gives the error."""
    scanned = canonical.scan_line(payload)
    if scanned is not None and scanned[0] == payload:
        return orjson.loads(payload)
    return canonical.parse_json(payload)


def _read_sidecar(path: Path) -> dict[str, Any] | str:
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


def _failure(
    exc: ProvenanceError, source: str, line: int, record: Mapping[str, Any], digest: str
) -> RecordResult:
    """The result for a record whose check raised: its status, or ``malformed``."""
    if isinstance(exc, VerificationError):
        return RecordResult(
            source,
            line,
            Status(exc.status),
            exc.message,
            exc.record_id or _guess_id(record),
            digest,
        )
    return RecordResult(source, line, Status.MALFORMED, exc.message, _guess_id(record), digest)


def _guess_id(record: Mapping[str, Any]) -> str | None:
    value = record.get("id")
    return str(value) if isinstance(value, str | int) else None
