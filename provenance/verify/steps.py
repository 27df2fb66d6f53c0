"""The reference steps with the per-record strategies of :mod:`provenance.verify.strategies`
beside them (every strategy but ``joint-proof`` and ``native-layout``, which :class:`Verifier`
adds for many records at once).

Each overridden step runs its strategy when it is enabled and the strategy takes the input, and
the reference step (``super()``) otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from provenance import canonical, dsse
from provenance.errors import VerificationError
from provenance.manifest import Manifest
from provenance.native import lib as _native
from provenance.trust import TrustedKey, TrustStore
from provenance.verify.facts import (
    BatchFacts,
    PredicateFacts,
    StatementFacts,
)
from provenance.verify.known import KnownStatements, bounded_put
from provenance.verify.reference import Reference
from provenance.verify.results import Status, fail
from provenance.verify.strategies import ALL, STRATEGIES


@dataclass
class FastSteps(Reference):
    """The reference steps, with the strategies named in ``strategies`` (all by default; an
    empty set is the reference path)."""

    strategies: frozenset[str] = ALL
    _known: KnownStatements = field(default_factory=KnownStatements, repr=False)
    _batches: dict[bytes, BatchFacts | VerificationError] = field(default_factory=dict, repr=False)
    _sidecars: dict[Path, dict[str, Any] | str] = field(default_factory=dict, repr=False)
    _sidecar_facts: dict[tuple[str, str, str], BatchFacts] = field(default_factory=dict, repr=False)
    _last_signers: (
        tuple[tuple[TrustedKey, ...], PredicateFacts, datetime | None, datetime] | None
    ) = field(default=None, repr=False)
    _last_envelope: tuple[dict[str, Any], BatchFacts] | None = field(default=None, repr=False)
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
