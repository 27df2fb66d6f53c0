"""The verifier: the reference path (:mod:`provenance.verify.reference`) with the fast strategies of
:mod:`provenance.verify.strategies` beside its steps.

Each overridden step below runs its strategy when it is enabled and the strategy takes the
input, and the reference step otherwise; every record gets the verdict and the message the
reference path gives it (``tests/equivalence/test_verify.py``). Large inputs go through
:meth:`Verifier.verify_many`, where the records of one batch are proven together
(:mod:`provenance.verify.joint`) and, for manifests the native reader read off the batch
tagger's layout, finished together.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, overload

import orjson

from provenance import canonical, dsse
from provenance.errors import ProvenanceError, VerificationError
from provenance.manifest import Manifest
from provenance.native import lib as _native
from provenance.record import PROVENANCE_KEY
from provenance.trust import TrustedKey, TrustStore
from provenance.verify import joint
from provenance.verify.facts import (
    Attested,
    BatchFacts,
    PredicateFacts,
    StatementFacts,
)
from provenance.verify.known import KnownStatements, bounded_put
from provenance.verify.reference import Reference, path_nodes
from provenance.verify.results import Outcome, RecordResult, Status, Verified, fail, failure
from provenance.verify.strategies import ALL, STRATEGIES


@dataclass
class Verifier(Reference):
    """Verifies records against a trust store, with the fast strategies named in
    ``strategies`` (all by default; an empty set is the reference path). Remembers batch
    envelopes already checked, so a batch signature is verified once however many of its records
    are read, and predicates already validated, so records of one generation run are not parsed
    field by field again."""

    strategies: frozenset[str] = ALL
    _known: KnownStatements = field(default_factory=KnownStatements, repr=False)
    _batches: dict[bytes, BatchFacts | VerificationError] = field(default_factory=dict, repr=False)
    _raw: dict[bytes, BatchFacts] = field(default_factory=dict, repr=False)
    _sidecars: dict[Path, dict[str, Any] | str] = field(default_factory=dict, repr=False)
    _sidecar_facts: dict[tuple[str, str, str], BatchFacts] = field(default_factory=dict, repr=False)
    _last_signers: (
        tuple[tuple[TrustedKey, ...], PredicateFacts, datetime | None, datetime] | None
    ) = field(default=None, repr=False)
    _last_envelope: tuple[dict[str, Any], BatchFacts] | None = field(default=None, repr=False)
    _last_raw: tuple[bytes, BatchFacts] | None = field(default=None, repr=False)
    _hints: dict[str | None, tuple[bool, tuple[TrustedKey, ...]]] = field(
        default_factory=dict, repr=False
    )
    _hints_for: TrustStore | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        unknown = self.strategies - STRATEGIES.keys()
        if unknown:
            raise ValueError(f"unknown verification strategies: {', '.join(sorted(unknown))}")
        on = self.strategies.__contains__
        self._native_reader, self._fields, self._hinted = (
            on("native-reader"),
            on("envelope-fields"),
            on("key-candidates"),
        )
        self._canonical, self._statements, self._signer_memo = (
            on("canonical-statement"),
            on("known-statements"),
            on("signer-memo"),
        )
        self._batch_memo, self._joint = on("batch-memo"), on("joint-proof")
        self._layout = on("native-layout") and self._joint and self._statements

    # ---- step 1: native-reader ----------------------------------------------------------------

    def read(self, line: bytes) -> tuple[Mapping[str, Any], str]:
        if self._native_reader:
            return canonical.parse_and_digest(line)
        return super().read(line)

    # ---- step 3: envelope-fields ------------------------------------------------------------

    def envelope(self, data: Any) -> dsse.Envelope:
        if self._fields and type(data) is dict:
            payload_type = data.get("payloadType")
            payload = _native.b64decode(data.get("payload"))
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
                    sig = _native.b64decode(entry.get("sig"))
                    if sig is None or (keyid is not None and type(keyid) is not str):
                        break
                    parsed.append(dsse.Signature(sig, keyid or None))
                else:
                    return dsse.Envelope(payload_type, payload, tuple(parsed))
        return super().envelope(data)

    def batch_statement(self, text: Any) -> bytes:
        if self._fields:
            statement = _native.b64decode(text)
            if statement is not None:
                return statement
        return super().batch_statement(text)

    # ---- step 4: key-candidates -------------------------------------------------------------

    def candidates(self, keyid: str | None) -> tuple[bool, tuple[TrustedKey, ...]]:
        if not self._hinted:
            return super().candidates(keyid)
        if self._hints_for is not self.trust:
            self._hints.clear()
            self._hints_for = self.trust
        found = self._hints.get(keyid)
        if found is None:
            found = super().candidates(keyid)
            bounded_put(self._hints, keyid, found)
        return found

    # ---- step 5: known-statements, canonical-statement --------------------------------------

    def statement(
        self, payload: bytes, digest: str, known: tuple[str, bytes] | None = None
    ) -> StatementFacts:
        if self._statements:
            fast = self._known.read(payload, digest, known)
            if fast is not None:
                return fast
        return super().statement(payload, digest)

    def statement_json(self, payload: bytes) -> Any:
        if self._canonical:
            scanned = canonical.scan_line(payload)
            if scanned is not None and scanned[0] == payload:
                return orjson.loads(payload)
        return super().statement_json(payload)

    def predicate(self, payload: bytes, data: Any, manifest: Manifest) -> PredicateFacts:
        if self._statements:
            return self._known.learn(payload, data, manifest)
        return super().predicate(payload, data, manifest)

    def statement_prefix(self) -> bytes | None:
        """The bytes before the subject digest of the statement last read by its bytes, for the
        reader to match (:func:`provenance.canonical.view_and_digest`); None when there is none
        or ``native-layout`` is off."""
        return self._known.prefix() if self._layout else None

    # ---- step 6: signer-memo ----------------------------------------------------------------

    def signers(
        self, signers: tuple[TrustedKey, ...], facts: StatementFacts, signed_at: datetime | None
    ) -> None:
        if not self._signer_memo:
            return super().signers(signers, facts, signed_at)
        last = self._last_signers
        if (
            last is not None
            and last[0] is signers
            and last[1] is facts.predicate
            and last[2] == signed_at
            and last[3] == self.now
        ):
            return None  # the same keys, predicate and times passed just before
        super().signers(signers, facts, signed_at)
        self._last_signers = (signers, facts.predicate, signed_at, self.now)
        return None

    # ---- steps 3 to 5 on batch envelopes: batch-memo ----------------------------------------

    def batch_envelope(self, env: Any) -> BatchFacts:
        """The verdict on a batch envelope, verified once: found again by its exact JSON bytes
        and, for the envelope that last verified, by equality (records of one batch repeat it)."""
        if not self._batch_memo:
            return super().batch_envelope(env)
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
                cached = super().batch_envelope(env)
            except VerificationError as exc:
                cached = exc
            if key is not None:
                bounded_put(self._batches, key, cached)
        if isinstance(cached, VerificationError):
            raise fail(Status(cached.status), cached.message)
        if key is not None:
            # A copy: the record's own dict may change after it is verified.
            self._last_envelope = (orjson.loads(key), cached)
        return cached

    def sidecar_batch(self, name: Any, root: Any, source: str) -> BatchFacts:
        if not self._batch_memo or type(name) is not str or type(root) is not str:
            return super().sidecar_batch(name, root, source)
        key = (source, name, root)
        facts = self._sidecar_facts.get(key)
        if facts is None:
            facts = super().sidecar_batch(name, root, source)
            bounded_put(self._sidecar_facts, key, facts)
        return facts

    def sidecar(self, path: Path) -> dict[str, Any] | str:
        if not self._batch_memo:
            return super().sidecar(path)
        index = self._sidecars.get(path)
        if index is None:
            index = super().sidecar(path)
            bounded_put(self._sidecars, path, index)
        return index

    # ---- many records: joint-proof, native-layout -------------------------------------------

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
        if not self._joint:
            return super().verify_many(source, items, details=details)
        out: list[Outcome | None] = [None] * len(items)
        groups: dict[tuple[bytes, int], list[joint.Leaf]] = {}
        layout = self._layout
        for number, (line, record, digest) in enumerate(items):
            fields = record.batch if layout and type(record) is canonical.RecordView else None
            leaf: joint.Leaf | None = None
            if fields is not None:
                leaf = self._layout_leaf(number, fields, source)
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
            out[number] = self.judge(source, line, record, digest, details)
        for group in groups.values():
            proven = joint.prove(group)
            if layout and not details:
                self._finish_known(group, proven, out)
            for leaf in group:
                if out[leaf.item] is not None:
                    continue
                line, record, digest = items[leaf.item]
                if leaf.item in proven:
                    out[leaf.item] = self._finish_leaf(source, line, record, digest, leaf, details)
                else:
                    out[leaf.item] = self.judge(source, line, record, digest, details)
        return [o for o in out if o is not None]

    def _leaf(self, item: int, prov: dict[str, Any], source: str) -> joint.Leaf | None:
        """A batch record whose fields are all plainly valid, ready for a joint proof; None
        sends it through every step alone, which gives the verdict and the message."""
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
        env = batch.get("dsse")
        try:
            statement = self.batch_statement(prov["statement"])
            facts = self.batch_envelope(env) if type(env) is dict else self.batch(batch, source)
            nodes = b"".join(path_nodes(path))
        except ProvenanceError:
            return None
        if facts.size != size:
            return None
        leaf_hash = _sha256(b"\x00" + statement).digest()
        return joint.Leaf(item, statement, leaf_hash, index, nodes, facts)

    def _layout_leaf(
        self, item: int, fields: canonical.BatchFields, source: str
    ) -> joint.Leaf | None:
        """:meth:`_leaf` for a manifest the native reader read off the batch tagger's layout
        (the same checks on the same values); the envelope's verdict is found by its bytes."""
        statement, leaf, index, size, path, envelope, known = fields
        if not index < size or len(path) > 32 * self.limits.max_audit_path:
            return None
        last = self._last_raw
        if isinstance(envelope, tuple):
            try:
                facts = self.sidecar_batch(envelope[0], envelope[1], source)
            except ProvenanceError:
                return None
        elif last is not None and last[0] == envelope:
            facts = last[1]
        else:
            found = self._raw.get(envelope)
            if found is None:
                try:
                    found = self.batch_envelope(orjson.loads(envelope))
                except ProvenanceError:
                    return None
                bounded_put(self._raw, envelope, found)
            self._last_raw = (envelope, found)
            facts = found
        if facts.size != size:
            return None
        return joint.Leaf(item, statement, leaf, index, path, facts, known)

    def _finish_known(
        self, group: list[joint.Leaf], proven: set[int], out: list[Outcome | None]
    ) -> None:
        """:meth:`_finish_leaf` at once for the proven records of one batch whose statements the
        native reader matched with the last statement prefix (so each subject digest is its
        record's content digest), whose envelope is the first record's and whose predicate signs
        no part on its own: the signer checks depend only on the keys, the predicate and the
        times, so they run once. Records that do not fit, and every record when a check fails,
        are left to :meth:`_finish_leaf`, which gives each its verdict and message."""
        last = self._known.last_prefix
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
            self.signers(
                batch.signers,
                StatementFacts(known[0][1], "", predicate, signed_at, signed_text),
                batch.signed_at,
            )
        except ProvenanceError:
            return
        signer, root, size = batch.signers[0].name, batch.root_hex, batch.size
        value = predicate.predicate
        for leaf, name in known:
            out[leaf.item] = Verified(name, root, leaf.position, size, signer, value)

    def _finish_leaf(
        self,
        source: str,
        line: int,
        record: Mapping[str, Any],
        digest: str,
        leaf: joint.Leaf,
        details: bool,
    ) -> Outcome:
        """Steps 5, 6 and 8 for a record whose inclusion is proven."""
        batch = leaf.facts
        try:
            facts = self.statement(leaf.statement, digest, leaf.known)
            self.signers(batch.signers, facts, batch.signed_at)
            self.content(record, digest, facts)
        except ProvenanceError as exc:
            return failure(exc, source, line, record, digest)
        attested = Attested(facts, batch.signers[0], batch, leaf.position)
        return self.outcome(source, line, digest, attested, details)


_sha256 = hashlib.sha256
