"""The verifier: the reference path (:mod:`provenance.verify.reference`) with the fast strategies of
:mod:`provenance.verify.strategies` beside its steps (:mod:`provenance.verify.steps` for one
record at a time, this module for many).

Every record gets the verdict and the message the
reference path gives it (``tests/equivalence/test_verify.py``). Large inputs go through
:meth:`Verifier.verify_many`, where the records of one batch are proven together
(:mod:`provenance.verify.joint`) and, for manifests the native reader read off the batch
tagger's layout, finished together.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from provenance import canonical
from provenance.errors import ProvenanceError
from provenance.record import PROVENANCE_KEY
from provenance.verify import joint
from provenance.verify.facts import Attested, BatchFacts, StatementFacts
from provenance.verify.known import bounded_put
from provenance.verify.reference import path_nodes
from provenance.verify.results import Outcome, Verified, failure
from provenance.verify.steps import FastSteps


@dataclass
class Verifier(FastSteps):
    """Verifies records against a trust store, with the fast strategies named in
    ``strategies`` (all by default; an empty set is the reference path). Remembers batch
    envelopes already checked, so a batch signature is verified once however many of its records
    are read, and predicates already validated, so records of one generation run are not parsed
    field by field again."""

    _raw: dict[bytes, BatchFacts] = field(default_factory=dict, repr=False)
    """Batch envelopes by the bytes the native reader found them in (``native-layout``)."""
    _last_raw: tuple[bytes, BatchFacts] | None = field(default=None, repr=False)

    # ---- many records: joint-proof, native-layout -------------------------------------------

    def judge_many(
        self, source: str, items: Sequence[tuple[int, Mapping[str, Any], str]], details: bool
    ) -> list[Any]:
        """:meth:`verify_many`'s work, with the records of each batch proven together
        (``joint-proof``) and, for manifests in the batch tagger's layout, finished together
        (``native-layout``); each record gets the verdict :meth:`verify_parsed` gives it."""
        if not self._joint:
            return super().judge_many(source, items, details)
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
