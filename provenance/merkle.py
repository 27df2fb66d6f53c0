"""RFC 6962 / RFC 9162 Merkle tree hashing, inclusion proofs and their verification.

Leaves are hashed as ``SHA-256(0x00 || data)`` and inner nodes as ``SHA-256(0x01 || left || right)``,
so no leaf can pose as an inner node (RFC 9162 §2.1.1). Inclusion proof verification follows
RFC 9162 §2.1.3.2, which binds the leaf index and the tree size as well as the path.

For many leaves of one tree at once, :func:`range_levels` rebuilds the tree over a run of
consecutive leaves (the whole tree when every leaf is there) with one hash per inner node, taking
from the audit paths of the run's first and last leaves only the nodes outside the run;
:func:`range_paths` then reads every leaf's audit path off the rebuilt levels, so checking a leaf's
own path is a comparison rather than a walk.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TypeVar

EMPTY_ROOT = hashlib.sha256(b"").digest()

T = TypeVar("T", bytes, list[bytes], list[str])
"""An audit path as :func:`range_paths` builds it: nodes concatenated (bytes) or listed."""
_sha256 = hashlib.sha256


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
    return tree_levels(leaves)[-1][0]


def inclusion_proofs(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """The audit path of every leaf, read off the tree's levels (one hash per inner node)."""
    if not leaves:
        return []
    return level_paths(tree_levels(leaves), _listed, [])


def _listed(node: bytes) -> list[bytes]:
    return [node]


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


def tree_levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree over ``leaves``, from the leaves up to ``[root]`` (RFC 9162 §2.1.1;
    an odd last node is carried up unchanged)."""
    if not leaves:
        return [[EMPTY_ROOT]]
    level = list(leaves)
    levels = [level]
    while len(level) > 1:
        level = _parents(level)
        levels.append(level)
    return levels


def _parents(nodes: list[bytes]) -> list[bytes]:
    """The level above ``nodes``: each pair hashed, an odd last node carried up unchanged."""
    parents = [
        _sha256(b"\x01" + nodes[i] + nodes[i + 1]).digest() for i in range(0, len(nodes) - 1, 2)
    ]
    if len(nodes) & 1:
        parents.append(nodes[-1])
    return parents


def level_paths(
    levels: Sequence[Sequence[bytes]], encode: Callable[[bytes], T], empty: T
) -> list[T]:
    """The audit path of every leaf of a whole tree given by :func:`tree_levels`, as
    :func:`range_paths` builds it."""
    return range_paths(
        len(levels[0]), 0, len(levels[0]), [(0, level) for level in levels], encode, empty
    )


def range_levels(
    size: int,
    first: int,
    leaves: Sequence[bytes],
    first_path: Sequence[bytes],
    last_path: Sequence[bytes],
) -> list[tuple[int, list[bytes]]] | None:
    """Rebuild a tree of ``size`` leaves from the consecutive ``leaves`` at ``first`` onwards.

    Nodes outside the run come from ``first_path`` (the audit path of the run's first leaf) and
    ``last_path`` (that of its last leaf). Returns, per level from the leaves up, the position of
    its first known node and the known nodes; the last level holds the root. None when a path is
    too short or the run does not fit the tree. The root is only as good as the two paths: compare
    it with a signed root before trusting any node.
    """
    count = len(leaves)
    if count == 0 or first < 0 or first + count > size:
        return None
    lo, hi, width = first, first + count - 1, size
    nodes = list(leaves)
    used_first = used_last = 0
    levels: list[tuple[int, list[bytes]]] = []
    while width > 1:
        start = lo
        if lo & 1:
            if used_first >= len(first_path):
                return None
            nodes = [first_path[used_first], *nodes]
            start = lo - 1
        if lo ^ 1 < width:
            used_first += 1
        if not hi & 1 and hi + 1 < width:
            if used_last >= len(last_path):
                return None
            nodes.append(last_path[used_last])
        if hi ^ 1 < width:
            used_last += 1
        levels.append((start, nodes))
        nodes = _parents(nodes)
        lo, hi, width = lo >> 1, hi >> 1, (width + 1) >> 1
    levels.append((0, nodes))
    return levels


def range_paths(
    size: int,
    first: int,
    count: int,
    levels: Sequence[tuple[int, Sequence[bytes]]],
    encode: Callable[[bytes], T],
    empty: T,
) -> list[T]:
    """The audit paths of the ``count`` leaves from ``first`` on, read off ``levels`` as
    :func:`range_levels` returns them. ``encode`` turns one node into a path of one step (once
    per node) and steps join with ``+`` from ``empty``: ``bytes`` joins the nodes into one string,
    ``lambda node: [node.hex()]`` and ``[]`` list them as hex."""
    widths = [size]
    while widths[-1] > 1:
        widths.append((widths[-1] + 1) >> 1)
    above: list[T] = [empty]
    for depth in range(len(levels) - 2, -1, -1):
        start, nodes = levels[depth]
        width = widths[depth]
        encoded = [encode(node) for node in nodes]
        lo, hi = first >> depth, (first + count - 1) >> depth
        up = lo >> 1
        above = [
            encoded[(p ^ 1) - start] + above[(p >> 1) - up]
            if p ^ 1 < width
            else above[(p >> 1) - up]
            for p in range(lo, hi + 1)
        ]
    return above
