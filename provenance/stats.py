"""Mergeable dataset statistics: ordered Merkle root of content digests, duplicate estimate.

Both structures merge associatively so the audit can gather them per chunk on any worker. The
dataset digest is order-dependent: chunks are folded in input order (the scanner merges in order).
"""

from __future__ import annotations

import hashlib
import sys
from array import array
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from provenance import merkle


@dataclass
class CompactRange:
    """An RFC 9162 Merkle tree built leaf by leaf with O(log n) memory: the roots of the perfect
    subtrees that make up the leaves so far, largest first."""

    size: int = 0
    stack: list[tuple[int, bytes]] = field(default_factory=list)

    def push(self, leaf: bytes) -> None:
        self._push_subtree(leaf, 1)

    def extend(self, leaves: bytes) -> None:
        """Push many leaf hashes at once, given as one string of 32-byte hashes.

        The same as pushing them one by one, with the hashing done a perfect subtree at a time:
        at size ``s`` the next ``w`` leaves, ``w`` the largest power of two that divides ``s``
        and fits, form one subtree of the final tree.
        """
        if len(leaves) % 32:
            raise ValueError("leaf hashes are 32 bytes each")
        count, done = len(leaves) // 32, 0
        while done < count:
            width = 1 << ((count - done).bit_length() - 1)
            if self.size:
                width = min(width, self.size & -self.size)
            piece = leaves[done * 32 : (done + width) * 32]
            self._push_subtree(
                merkle.root_from_leaf_hashes([piece[i : i + 32] for i in range(0, len(piece), 32)]),
                width,
            )
            done += width

    def _push_subtree(self, node: bytes, width: int) -> None:
        self.size += width
        while self.stack and self.stack[-1][0] == width:
            _, left = self.stack.pop()
            node, width = merkle.node_hash(left, node), width * 2
        self.stack.append((width, node))

    def root(self) -> bytes:
        """Equal to ``merkle.root_from_leaf_hashes`` over every leaf pushed."""
        if not self.stack:
            return merkle.EMPTY_ROOT
        node = self.stack[-1][1]
        for _, left in reversed(self.stack[:-1]):
            node = merkle.node_hash(left, node)
        return node


def leaf_hashes(digests: bytes) -> bytes:
    """The RFC 9162 leaf hash of each 32-byte digest in ``digests``, joined."""
    sha256 = hashlib.sha256
    return b"".join(
        [sha256(b"\x00" + digests[i : i + 32]).digest() for i in range(0, len(digests), 32)]
    )


SAMPLE_LIMIT = 1 << 17
"""Distinct digests the duplicate counter keeps; beyond this it keeps a sample (memory stays
flat: about 10 MB)."""
_FULL = 1 << 64


class DuplicateCounter:
    """Duplicate rate by content digest: exact up to ``limit`` distinct digests, then estimated
    from a uniform sample of the distinct digests.

    Each digest's first 8 bytes are a uniform 64-bit value. The counter keeps, for every value
    below a threshold, how many records carry it. The threshold starts above every value (exact
    counting); whenever more than ``limit`` values are kept it halves, and the values above it are
    dropped. Every copy of a digest is in or out of the sample together, so the records in the
    sample are those of a uniform sample of the distinct contents (at least ``limit / 2`` of
    them), and their duplicate rate estimates the dataset's. The estimate is tight unless a few
    contents repeat a great many times. Counts merge associatively (the lower threshold wins),
    and the result does not depend on how the data was cut into chunks.
    """

    def __init__(self, limit: int = SAMPLE_LIMIT) -> None:
        self.limit = limit
        self.total = 0
        self.threshold = _FULL
        self.counts: Counter[int] = Counter()

    def add_many(self, digests: bytes) -> None:
        """Count records whose 32-byte content digests (or any 32-byte hashes of them, such as
        their Merkle leaf hashes) are joined in ``digests``."""
        values = array("Q")
        values.frombytes(digests)
        if sys.byteorder == "big":
            values.byteswap()
        sample: Iterable[int] = values[::4]
        self.total += len(values) // 4
        if self.threshold < _FULL:
            limit = self.threshold
            sample = [v for v in sample if v < limit]
        self.counts.update(sample)
        self._bound()

    def merge(self, other: DuplicateCounter) -> DuplicateCounter:
        self.total += other.total
        if other.threshold < self.threshold:
            self.threshold = other.threshold
            self._drop()
        limit = self.threshold
        mine = self.counts
        for value, count in other.counts.items():
            if value < limit:
                mine[value] += count
        self._bound()
        return self

    def _bound(self) -> None:
        while len(self.counts) > self.limit:
            self.threshold >>= 1
            self._drop()

    def _drop(self) -> None:
        limit = self.threshold
        self.counts = Counter({v: c for v, c in self.counts.items() if v < limit})

    @property
    def is_exact(self) -> bool:
        return self.threshold == _FULL

    def distinct(self) -> float:
        """Distinct contents: exact, or the sample scaled by the share of values it covers."""
        return len(self.counts) * (_FULL / self.threshold)

    def rate(self) -> float:
        """Share of records whose content digest was already seen."""
        sampled = self.total if self.is_exact else sum(self.counts.values())
        if sampled == 0:
            return 0.0
        return 1.0 - len(self.counts) / sampled
