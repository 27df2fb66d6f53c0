"""The registry's append-only log as data: entry hashes, the RFC 6962 Merkle tree, checkpoints.

Nothing here touches a database. A row written to an evidence table has a *body* (its columns but
``id`` and ``log_seq``); the log entry that records it holds

* ``body_hash`` = SHA-256 of the RFC 8785 canonical JSON of ``{"kind": kind, **body}``, and
* ``entry_hash`` = SHA-256 of the canonical JSON of ``{"seq", "kind", "label", "body"}``.

The log is the RFC 6962 / RFC 9162 Merkle tree whose leaf ``i`` is ``SHA-256(0x00 || entry_hash_i)``.
A *checkpoint* is a signed statement of the tree size, the root, and the roots of the perfect
subtrees that make up the tree (the compact range), so that a later divergence can be placed in a
range of entries. Checkpoints are DSSE envelopes over an in-toto Statement whose predicate type is
``CHECKPOINT_PREDICATE``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from provenance import canonical, dsse, merkle
from provenance.errors import MalformedJSONError, ProvenanceError
from provenance.keys import Signer
from provenance.manifest import PAYLOAD_TYPE, STATEMENT_TYPE, ManifestError, Statement
from provenance.stats import CompactRange

CHECKPOINT_PREDICATE = "https://provenance.dev/registry-checkpoint/v1"


class LogError(ProvenanceError):
    """A checkpoint or log proof that cannot be read or does not verify (exit 1)."""

    exit_code = 1


def now_text() -> str:
    """The current UTC time as RFC 3339 text with microseconds (how the registry writes times)."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def body_hash(kind: str, body: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical.canonicalize({"kind": kind, **body})).hexdigest()


def entry_hash(seq: int, kind: str, label: str, body: str) -> str:
    return hashlib.sha256(
        canonical.canonicalize({"seq": seq, "kind": kind, "label": label, "body": body})
    ).hexdigest()


def leaf(entry: str) -> bytes:
    """The Merkle leaf hash of an entry hash (hex)."""
    return merkle.leaf_hash(bytes.fromhex(entry))


class Frontier(CompactRange):
    """An RFC 9162 tree grown leaf by leaf in O(log n) memory (:class:`CompactRange`), which the
    log also copies, lists by subtree and stores as JSON."""

    def subtrees(self) -> list[tuple[int, int, bytes]]:
        """``(first entry, width, root)`` of each perfect subtree, left to right."""
        out = []
        start = 0
        for width, node in self.stack:
            out.append((start, width, node))
            start += width
        return out

    def copy(self) -> Frontier:
        return Frontier(self.size, list(self.stack))

    def to_json(self) -> str:
        return json.dumps([[w, n.hex()] for w, n in self.stack])

    @classmethod
    def from_json(cls, size: int, text: str) -> Frontier:
        stack = [(int(w), bytes.fromhex(n)) for w, n in json.loads(text)]
        if sum(w for w, _ in stack) != size:
            raise LogError("the log head's frontier does not add up to its size")
        return cls(size, stack)


def inclusion_paths(leaves: Sequence[bytes], indices: Iterable[int]) -> dict[int, list[bytes]]:
    """The RFC 9162 audit paths of ``indices`` in the tree over ``leaves``, building each level of
    the tree once."""
    wanted = sorted(set(indices))
    paths: dict[int, list[bytes]] = {i: [] for i in wanted}
    positions = {i: i for i in wanted}
    level = list(leaves)
    while len(level) > 1:
        for index, pos in positions.items():
            sibling = pos ^ 1
            if sibling < len(level):
                paths[index].append(level[sibling])
        nxt = [merkle.node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
        positions = {i: p >> 1 for i, p in positions.items()}
    return paths


def proves(index: int, size: int, leaf_hash: bytes, path: Sequence[str], root: bytes) -> bool:
    """Whether hex ``path`` proves ``leaf_hash`` at ``index`` in the tree of ``size`` with ``root``."""
    try:
        nodes = [bytes.fromhex(p) for p in path]
    except (TypeError, ValueError):
        return False
    if any(len(n) != 32 for n in nodes):
        return False
    return merkle.root_from_inclusion(index, size, leaf_hash, nodes) == root


# ---- checkpoints ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement of the log: its origin, size, root and compact range."""

    origin: str
    size: int
    root: str
    subtrees: tuple[tuple[int, int, str], ...]
    created_at: str
    envelope: Mapping[str, Any]

    @property
    def keyids(self) -> tuple[str, ...]:
        sigs = self.envelope.get("signatures") or []
        return tuple(str(s.get("keyid") or "") for s in sigs if isinstance(s, Mapping))

    def to_json(self) -> str:
        return json.dumps(dict(self.envelope), indent=2) + "\n"


def make_checkpoint(signer: Signer, origin: str, frontier: Frontier) -> Checkpoint:
    created = now_text()
    root = frontier.root().hex()
    subtrees = tuple((s, w, n.hex()) for s, w, n in frontier.subtrees())
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": f"registry:{origin}", "digest": {"sha256": root}}],
        "predicateType": CHECKPOINT_PREDICATE,
        "predicate": {
            "origin": origin,
            "tree_size": frontier.size,
            "root": root,
            "subtrees": [{"start": s, "size": w, "hash": h} for s, w, h in subtrees],
            "created_at": created,
        },
    }
    envelope = dsse.sign(PAYLOAD_TYPE, canonical.canonicalize(statement), [signer]).to_dict()
    return Checkpoint(origin, frontier.size, root, subtrees, created, envelope)


def read_statement(envelope_data: Any, predicate_type: str, what: str) -> tuple[Any, Statement]:
    """Parse a DSSE envelope holding an in-toto statement of ``predicate_type`` (no signature
    check): returns the parsed envelope and its statement."""
    try:
        envelope = dsse.Envelope.from_dict(envelope_data)
    except ProvenanceError as exc:
        raise LogError(f"{what}: {exc.message}", limit=exc.limit) from exc
    if envelope.payload_type != PAYLOAD_TYPE:
        raise LogError(f"{what}: payloadType is '{envelope.payload_type}'")
    try:
        statement = Statement.from_dict(canonical.parse_json(envelope.payload))
    except (MalformedJSONError, ManifestError) as exc:
        raise LogError(f"{what}: {exc.message}", limit=exc.limit) from exc
    if statement.predicate_type != predicate_type:
        raise LogError(f"{what}: predicateType is '{statement.predicate_type}'")
    return envelope, statement


def parse_checkpoint(data: Any, what: str = "checkpoint") -> Checkpoint:
    """Read a checkpoint envelope (its signature is judged by
    :meth:`provenance.registry.signing.RegistryTrust.check`)."""
    _, statement = read_statement(data, CHECKPOINT_PREDICATE, what)
    p = statement.predicate
    size, root, origin = p.get("tree_size"), p.get("root"), p.get("origin")
    if (
        type(size) is not int
        or size < 0
        or not isinstance(root, str)
        or not isinstance(origin, str)
    ):
        raise LogError(f"{what}: needs tree_size, root and origin")
    try:
        if statement.subject.sha256 != root:
            raise LogError(f"{what}: subject digest and root differ")
    except ManifestError as exc:
        raise LogError(f"{what}: {exc.message}") from exc
    subtrees = []
    for item in p.get("subtrees") or []:
        if not isinstance(item, Mapping):
            raise LogError(f"{what}: malformed subtree")
        s, w, h = item.get("start"), item.get("size"), item.get("hash")
        if type(s) is not int or type(w) is not int or not isinstance(h, str):
            raise LogError(f"{what}: malformed subtree")
        subtrees.append((s, w, h))
    return Checkpoint(
        origin, size, root, tuple(subtrees), str(p.get("created_at") or ""), dict(data)
    )
