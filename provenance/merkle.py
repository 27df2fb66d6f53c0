"""RFC 6962 / RFC 9162 Merkle tree hashing, inclusion proofs and their verification.

Leaves are hashed as ``SHA-256(0x00 || data)`` and inner nodes as ``SHA-256(0x01 || left || right)``,
so no leaf can pose as an inner node (RFC 9162 §2.1.1). Inclusion proof verification follows
RFC 9162 §2.1.3.2, which binds the leaf index and the tree size as well as the path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two smaller than ``n`` (n > 1)."""
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def root_from_leaf_hashes(leaves: Sequence[bytes]) -> bytes:
    """Merkle Tree Hash of a list of leaf hashes (RFC 9162 §2.1.1), iteratively, level by level.

    Pairing left to right and carrying an odd last node up unchanged gives the same tree as the
    RFC's recursive split at the largest power of two.
    """
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def inclusion_proofs(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """The audit path of every leaf, computed in one pass over the tree (O(n log n) hashes total
    would be the naive cost; this reuses each level)."""
    n = len(leaves)
    proofs: list[list[bytes]] = [[] for _ in range(n)]
    # positions[i] = index of leaf i's ancestor at the current level
    level = list(leaves)
    positions = list(range(n))
    while len(level) > 1:
        for leaf, pos in enumerate(positions):
            sibling = pos ^ 1
            if sibling < len(level):
                proofs[leaf].append(level[sibling])
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
        positions = [p >> 1 for p in positions]
    return proofs


def root_from_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes | None:
    """The root implied by ``leaf`` at ``index`` in a tree of ``size`` with audit ``path``, or
    None when the path cannot belong to such a tree (RFC 9162 §2.1.3.2)."""
    if index < 0 or index >= size:
        return None
    fn, sn = index, size - 1
    r = leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        return None
    return r
