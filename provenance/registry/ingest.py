"""``provenance ingest``: verify data files and register their manifests and the dataset.

Two passes over the data:

1. the verifier's parallel streaming pass (``provenance.scan``) reads every record's content digest
   and status, in order. Its digests fold into the ``dataset_digest`` (the same RFC 9162 root the
   audit reports) as they arrive, so a dataset already registered costs nothing more. A record
   that is not strict JSON stops the ingest (no verdict); a record that fails verification stops
   it too unless failures are allowed (then it is registered with its status and no manifest);
2. the records are read again in order and written in groups of ``chunk`` records, one
   transaction each: the manifests not yet stored, then the dataset's members from the first
   position not yet stored. The dataset row is written last, once every member is stored.

A process killed at any point leaves whole transactions only; running the same ingest again skips
what is stored and completes the dataset. Each group of the second pass is compared with the same
group of the first (a 16-byte BLAKE2b fingerprint of its content digests), so a file changed in
between stops the ingest before anything of the changed group is written.

Memory does not grow with the data: the first pass keeps the Merkle tree's compact range
(O(log n)), one fingerprint per group (16 bytes per 500 records) and the statuses as runs (one
entry per run of records with the same status: one in all for data that verifies). Duplicate
manifests are found by the store, a chunk at a time, by index.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any

from provenance import canonical
from provenance.errors import InputError, MalformedJSONError, VerificationError
from provenance.manifest import format_time
from provenance.record import PROVENANCE_KEY
from provenance.registry import manifests as stored
from provenance.registry.store import PendingManifest, PendingMember, Registry
from provenance.scan import ScanPartial, scan_paths
from provenance.sources import data_files, open_source
from provenance.sources.base import RawRecord
from provenance.stats import CompactRange, leaf_hashes
from provenance.trust import TrustStore
from provenance.verify import RecordResult, Status, Verified, Verifier

CHUNK_RECORDS = 500
"""Records written per transaction."""
_STATUSES = [s.value for s in Status]
_OK = _STATUSES.index(Status.OK.value)
_SUFFIXES = (".gz", ".zst", ".jsonl", ".ndjson", ".parquet")


GROUP_FINGERPRINT_BYTES = 16
"""Size of the BLAKE2b fingerprint kept per group of records between the two passes."""


def fingerprint(digests: bytes) -> bytes:
    """The fingerprint of a group of records: BLAKE2b-128 over their 32-byte content digests."""
    return hashlib.blake2b(digests, digest_size=GROUP_FINGERPRINT_BYTES).digest()


@dataclass
class StatusRuns:
    """Status codes of records in input order, kept as runs: the first position of each run and
    its code."""

    starts: array[int] = field(default_factory=lambda: array("q"))
    codes: bytearray = field(default_factory=bytearray)
    size: int = 0

    def extend(self, statuses: bytes) -> None:
        if not statuses:
            return
        if self.codes and statuses.count(self.codes[-1]) == len(statuses):
            self.size += len(statuses)
            return
        last = self.codes[-1] if self.codes else -1
        for offset, code in enumerate(statuses):
            if code != last:
                self.starts.append(self.size + offset)
                self.codes.append(code)
                last = code
        self.size += len(statuses)

    def __iter__(self) -> Iterator[int]:
        ends = [*self.starts[1:], self.size]
        for code, start, end in zip(self.codes, self.starts, ends, strict=True):
            yield from repeat(code, end - start)


@dataclass
class DigestState:
    """What the first pass keeps.

    In a worker, for one chunk: the leaf hashes of its records' content digests (32 bytes each,
    in input order; :meth:`DigestCollector.seal` turns the digests into them), the digests
    themselves and the records' status codes. In the parent, chunks fold into the rest in input
    order (:meth:`fold`): the leaves into the dataset's Merkle tree, the digests into one
    fingerprint per group, the statuses into runs; the chunk's buffers are then let go.
    """

    group: int = CHUNK_RECORDS
    digests: bytearray = field(default_factory=bytearray)
    leaves: bytes = b""
    statuses: bytearray = field(default_factory=bytearray)
    records: int = 0
    tree: CompactRange = field(default_factory=CompactRange)
    fingerprints: bytearray = field(default_factory=bytearray)
    """One fingerprint per whole group of ``group`` records."""
    tail: bytearray = field(default_factory=bytearray)
    """Digests of the records after the last whole group."""
    runs: StatusRuns = field(default_factory=StatusRuns)

    def fold(self, chunk: DigestState) -> None:
        """Fold ``chunk`` (the next records, not yet folded) into this state."""
        if chunk.digests and not chunk.leaves:
            chunk.leaves = leaf_hashes(bytes(chunk.digests))
        self.tree.extend(chunk.leaves)
        self.runs.extend(bytes(chunk.statuses))
        self.records += len(chunk.statuses)
        self.tail += chunk.digests
        whole = len(self.tail) // (32 * self.group) * (32 * self.group)
        for start in range(0, whole, 32 * self.group):
            self.fingerprints += fingerprint(bytes(self.tail[start : start + 32 * self.group]))
        del self.tail[:whole]
        chunk.digests, chunk.leaves, chunk.statuses = bytearray(), b"", bytearray()

    def finish(self) -> None:
        """Fingerprint the last, partial group."""
        if self.tail:
            self.fingerprints += fingerprint(bytes(self.tail))
            self.tail.clear()

    def group_fingerprint(self, index: int) -> bytes:
        size = GROUP_FINGERPRINT_BYTES
        return bytes(self.fingerprints[index * size : (index + 1) * size])


class DigestCollector:
    """The :class:`~provenance.scan.Collector` of the first pass."""

    def __init__(self, group: int = CHUNK_RECORDS) -> None:
        self.group = group

    def new(self) -> DigestState:
        return DigestState(self.group)

    def add_verified(
        self, state: DigestState, source: str, line: int, verified: Verified, digest: str
    ) -> None:
        state.digests += bytes.fromhex(digest)
        state.statuses.append(_OK)

    def add(
        self, state: DigestState, record: Mapping[str, Any] | None, result: RecordResult
    ) -> None:
        digest = result.content_digest
        state.digests += bytes.fromhex(digest) if digest else bytes(32)
        state.statuses.append(_STATUSES.index(result.status.value))

    def seal(self, state: DigestState, source: str) -> None:
        """Hash the chunk's leaves here, in the worker, rather than in the parent."""
        state.leaves = leaf_hashes(bytes(state.digests))

    def shift(self, state: DigestState, lines: int) -> None:
        """Nothing to do: the state keeps no line numbers."""

    def merge(self, a: DigestState, b: DigestState) -> DigestState:
        """Fold chunk ``b`` into ``a``: the scan merges chunks into the first in input order."""
        if a.statuses:  # ``a`` is a chunk itself: fold it first
            own = DigestState(a.group, a.digests, a.leaves, a.statuses)
            a.digests, a.leaves, a.statuses = bytearray(), b"", bytearray()
            a.fold(own)
        a.fold(b)
        return a


@dataclass(frozen=True)
class IngestResult:
    name: str
    dataset_digest: str
    records: int
    counts: Mapping[str, int]
    manifests_added: int
    members_added: int
    dataset_added: bool

    @property
    def changed(self) -> bool:
        return bool(self.manifests_added or self.members_added or self.dataset_added)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.name,
            "dataset_digest": self.dataset_digest,
            "records": self.records,
            "verification": dict(sorted(self.counts.items())),
            "manifests_added": self.manifests_added,
            "members_added": self.members_added,
            "dataset_added": self.dataset_added,
        }


def default_name(items: Sequence[str]) -> str:
    """A dataset name from its single input: the file name without data suffixes."""
    if len(items) != 1:
        raise InputError("several inputs make one dataset: name it with --name")
    name = Path(items[0].rstrip("/")).name
    while True:
        stem = next((name[: -len(s)] for s in _SUFFIXES if name.endswith(s)), None)
        if stem is None or not stem:
            return name
        name = stem


def ingest(
    registry: Registry,
    data: Sequence[str],
    trust: TrustStore,
    *,
    name: str | None = None,
    allow_failures: bool = False,
    workers: int | None = None,
    chunk: int = CHUNK_RECORDS,
    progress: Callable[[int, int], None] | None = None,
) -> IngestResult:
    """Register the manifests of ``data`` (files, globs, directories) and the dataset they make."""
    dataset_name = name or default_name(data)
    paths = data_files(data)
    verifier = Verifier(trust)
    partial: ScanPartial[DigestState] = scan_paths(
        paths, verifier, collector=DigestCollector(chunk), workers=workers, progress=progress
    )
    _check_first_pass(partial, allow_failures)
    state = partial.extra or DigestState(chunk)
    state.finish()
    total = state.records
    digest = "sha256:" + state.tree.root().hex()
    counts = {k: v for k, v in partial.counts.items() if v}
    if registry.dataset_exists(dataset_name, digest):
        return IngestResult(dataset_name, digest, total, counts, 0, 0, False)
    trust_digest = registry.record_trust(trust)
    skip = registry.stored_prefix(digest)
    added_manifests = added_members = 0
    manifests_total = 0
    group: list[tuple[RawRecord, dict[str, Any], str, str]] = []

    def write_group(first: int) -> None:
        """Check the group of records from position ``first`` against the first pass, then
        store its members (and their manifests) not stored yet."""
        nonlocal added_manifests, added_members
        digests = b"".join(bytes.fromhex(d) for _, _, d, _ in group)
        if fingerprint(digests) != state.group_fingerprint(first // chunk):
            raise InputError(
                "the data changed during the ingest (content differs from the first pass in "
                f"the {len(group)} records from here on)",
                source=group[0][0].source,
                line=group[0][0].line,
            )
        members: list[PendingMember] = []
        manifests: list[PendingManifest] = []
        for offset, (raw, record, content, status) in enumerate(group):
            if first + offset < skip:
                continue
            member, manifest = _second_pass(
                raw, record, content, first + offset, status, verifier, trust
            )
            members.append(member)
            if manifest is not None:
                manifests.append(manifest)
        group.clear()
        if members:
            a, b = registry.store_chunk(digest, manifests, members)
            added_manifests += a
            added_members += b

    position = 0
    statuses = iter(state.runs)
    for path in paths:
        for raw in open_source(path):
            if position >= total:
                raise InputError("the data changed during the ingest (more records)")
            status = _STATUSES[next(statuses)]
            if status == Status.OK.value:
                manifests_total += 1
            first = position - position % chunk
            position += 1
            if first + chunk <= skip:  # the whole group is stored already
                continue
            try:
                record, content = canonical.parse_and_digest(raw.data)
            except MalformedJSONError as exc:
                raise InputError(
                    f"the data changed during the ingest: {exc.message}",
                    source=raw.source,
                    line=raw.line,
                ) from exc
            group.append((raw, record, content, status))
            if position % chunk == 0:
                write_group(first)
    if position != total:
        raise InputError("the data changed during the ingest (fewer records)")
    if group:
        write_group(position - len(group))
    added_dataset = registry.add_dataset(
        dataset_name, digest, total, manifests_total, [str(p) for p in paths], trust_digest
    )
    return IngestResult(
        dataset_name, digest, total, counts, added_manifests, added_members, added_dataset
    )


def _check_first_pass(partial: ScanPartial[Any], allow_failures: bool) -> None:
    """Stop on records that are not strict JSON, and on records that fail verification unless
    failures are allowed. Decided by the counts: the scan lists only the first failures (unsigned
    records among them), so a failure past them is counted but not listed."""
    invalid = partial.counts.get(Status.INVALID_RECORD.value, 0)
    if invalid:
        listed = [f for f in partial.failures if f.status is Status.INVALID_RECORD]
        if listed:
            bad = min(listed, key=lambda r: (r.source, r.line))
            raise InputError(bad.reason, source=bad.source, line=bad.line)
        raise InputError(f"{invalid} record(s) are not strict JSON")
    if partial.total == 0:
        raise InputError("the data holds no records")
    count = sum(
        v
        for k, v in partial.counts.items()
        if k not in (Status.OK.value, Status.MISSING_MANIFEST.value)
    )
    if count and not allow_failures:
        failed = [
            f
            for f in [*partial.failures, *partial.duplicate_leaves]
            if f.status not in (Status.OK, Status.MISSING_MANIFEST)
        ]
        first = min(failed, key=lambda r: (r.source, r.line)) if failed else None
        detail = "" if first is None else f", first {first.status.value}: {first.reason}"
        raise VerificationError(
            f"{count} record(s) fail verification{detail}; "
            "nothing was registered (--allow-failures registers them with their status)",
            status=None if first is None else first.status.value,
            source=None if first is None else first.source or None,
            line=None if first is None else first.line or None,
        )


def _second_pass(
    raw: RawRecord,
    record: dict[str, Any],
    digest: str,
    position: int,
    status: str,
    verifier: Verifier,
    trust: TrustStore,
) -> tuple[PendingMember, PendingManifest | None]:
    record_id = _guess_id(record)
    if status != Status.OK.value:
        return PendingMember(position, digest, record_id, status, None), None
    result = verifier.verify_parsed(raw, record, digest)
    if not result.ok or result.manifest is None:
        raise InputError(
            f"the record no longer verifies ({result.status.value})",
            source=raw.source,
            line=raw.line,
        )
    prov = _self_contained(record[PROVENANCE_KEY], raw.source)
    text = stored.provenance_text(prov)
    envelope = stored.envelope_digest(text)
    manifest = result.manifest
    signer = trust.find(result.signer).keyid if result.signer else ""
    pending = PendingManifest(
        envelope_digest=envelope,
        record_id=manifest.record_id,
        content_digest=digest,
        mode=stored.mode_of(prov),
        batch_root=None if result.batch is None else result.batch.root,
        signer_keyid=signer,
        signed_at=None
        if manifest.predicate.signed_at is None
        else format_time(manifest.predicate.signed_at),
        organization=manifest.predicate.organization,
        provenance=text,
        contributions=tuple(stored.contribution_rows(manifest, envelope)),
    )
    return PendingMember(position, digest, manifest.record_id, status, envelope), pending


def _guess_id(record: Mapping[str, Any]) -> str | None:
    value = record.get("id")
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)
    return None


def _self_contained(prov: Any, source: str) -> dict[str, Any]:
    """The ``_provenance`` object with a batch envelope kept in a sidecar file embedded, so the
    stored manifest verifies without the data's folder."""
    out = dict(prov)
    batch = out.get("batch")
    if not isinstance(batch, Mapping) or "dsse" in batch or "sidecar" not in batch:
        return out
    path = Path(source).parent / str(batch["sidecar"])
    root = batch.get("root")
    try:
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        raise InputError(f"cannot read batch sidecar {path.name}", source=source) from exc
    for line in lines:
        if not line.strip():
            continue
        entry = canonical.parse_json(line)
        if isinstance(entry, dict) and entry.get("root") == root:
            embedded = {k: v for k, v in batch.items() if k != "sidecar"}
            embedded["dsse"] = entry.get("dsse")
            out["batch"] = embedded
            return out
    raise InputError(f"batch sidecar {path.name} holds no envelope for root {root}", source=source)
