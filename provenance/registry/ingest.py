"""``provenance ingest``: verify data files and register their manifests and the dataset.

Two passes over the data:

1. the verifier's parallel streaming pass (``provenance.scan``) gathers every record's content
   digest and status, in order. From them comes the ``dataset_digest`` (the same RFC 9162 root the
   audit reports), so a dataset already registered costs nothing more. A record that is not strict
   JSON stops the ingest (no verdict); a record that fails verification stops it too unless
   failures are allowed (then it is registered with its status and no manifest);
2. the records are read again in order and written in chunks, one transaction each: the manifests
   not yet stored, then the dataset's members from the first position not yet stored. The dataset
   row is written last, once every member is stored.

A process killed at any point leaves whole transactions only; running the same ingest again skips
what is stored and completes the dataset. Every content digest of the second pass is compared with
the first, so a file changed in between stops the ingest before anything of it is written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provenance import canonical
from provenance.errors import InputError, MalformedJSONError, VerificationError
from provenance.manifest import format_time
from provenance.registry import manifests as stored
from provenance.registry.logtree import Frontier
from provenance.registry.store import PendingManifest, PendingMember, Registry
from provenance.scan import ScanPartial, scan_paths
from provenance.sources import data_files, open_source
from provenance.sources.base import RawRecord
from provenance.stats import leaf_hashes
from provenance.trust import TrustStore
from provenance.verification import PROVENANCE_KEY, RecordResult, Status, Verified, Verifier

CHUNK_RECORDS = 500
"""Records written per transaction."""
_STATUSES = [s.value for s in Status]
_OK = _STATUSES.index(Status.OK.value)
_SUFFIXES = (".gz", ".zst", ".jsonl", ".ndjson", ".parquet")


@dataclass
class DigestState:
    """Content digests (32 bytes each) and status codes of records, in input order."""

    digests: bytearray = field(default_factory=bytearray)
    statuses: bytearray = field(default_factory=bytearray)


class DigestCollector:
    """The :class:`~provenance.scan.Collector` of the first pass."""

    def new(self) -> DigestState:
        return DigestState()

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
        """Nothing to do: the state is already compact."""

    def shift(self, state: DigestState, lines: int) -> None:
        """Nothing to do: the state keeps no line numbers."""

    def merge(self, a: DigestState, b: DigestState) -> DigestState:
        a.digests += b.digests
        a.statuses += b.statuses
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
        paths, verifier, collector=DigestCollector(), workers=workers, progress=progress
    )
    _check_first_pass(partial, allow_failures)
    state = partial.extra or DigestState()
    total = len(state.statuses)
    frontier = Frontier()
    frontier.extend(leaf_hashes(bytes(state.digests)))
    digest = "sha256:" + frontier.root().hex()
    counts = {k: v for k, v in partial.counts.items() if v}
    if registry.dataset_exists(dataset_name, digest):
        return IngestResult(dataset_name, digest, total, counts, 0, 0, False)
    trust_digest = registry.record_trust(trust)
    skip = registry.stored_prefix(digest)
    added_manifests = added_members = 0
    pending_manifests: list[PendingManifest] = []
    pending_members: list[PendingMember] = []
    manifests_total = 0

    def flush() -> None:
        nonlocal added_manifests, added_members
        if not pending_members:
            return
        a, b = registry.store_chunk(digest, pending_manifests, pending_members)
        added_manifests += a
        added_members += b
        pending_manifests.clear()
        pending_members.clear()

    position = 0
    for path in paths:
        for raw in open_source(path):
            if position >= total:
                raise InputError("the data changed during the ingest (more records)")
            status = _STATUSES[state.statuses[position]]
            if status == Status.OK.value:
                manifests_total += 1
            if position < skip:
                position += 1
                continue
            member, manifest = _second_pass(raw, position, state, status, verifier, trust)
            pending_members.append(member)
            if manifest is not None:
                pending_manifests.append(manifest)
            position += 1
            if len(pending_members) >= chunk:
                flush()
    flush()
    if position != total:
        raise InputError("the data changed during the ingest (fewer records)")
    added_dataset = registry.add_dataset(
        dataset_name, digest, total, manifests_total, [str(p) for p in paths], trust_digest
    )
    return IngestResult(
        dataset_name, digest, total, counts, added_manifests, added_members, added_dataset
    )


def _check_first_pass(partial: ScanPartial[Any], allow_failures: bool) -> None:
    invalid = [f for f in partial.failures if f.status is Status.INVALID_RECORD]
    if invalid:
        first = min(invalid, key=lambda r: (r.source, r.line))
        raise InputError(first.reason, source=first.source, line=first.line)
    if partial.total == 0:
        raise InputError("the data holds no records")
    failed = [
        f
        for f in [*partial.failures, *partial.duplicate_leaves]
        if f.status not in (Status.OK, Status.MISSING_MANIFEST)
    ]
    if failed and not allow_failures:
        first = min(failed, key=lambda r: (r.source, r.line))
        count = sum(
            v
            for k, v in partial.counts.items()
            if k not in (Status.OK.value, Status.MISSING_MANIFEST.value)
        )
        raise VerificationError(
            f"{count} record(s) fail verification, first {first.status.value}: {first.reason}; "
            "nothing was registered (--allow-failures registers them with their status)",
            status=first.status.value,
            source=first.source or None,
            line=first.line or None,
        )


def _second_pass(
    raw: RawRecord,
    position: int,
    state: DigestState,
    status: str,
    verifier: Verifier,
    trust: TrustStore,
) -> tuple[PendingMember, PendingManifest | None]:
    try:
        record, digest = canonical.parse_and_digest(raw.data)
    except MalformedJSONError as exc:
        raise InputError(
            f"the data changed during the ingest: {exc.message}", source=raw.source, line=raw.line
        ) from exc
    expected = bytes(state.digests[position * 32 : position * 32 + 32]).hex()
    if digest != expected:
        raise InputError(
            "the data changed during the ingest (content differs from the first pass)",
            source=raw.source,
            line=raw.line,
        )
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
