"""Mergeable dataset statistics: ordered Merkle root of content digests, duplicate estimate.

Both structures merge associatively so the audit can gather them per chunk on any worker. The
dataset digest is order-dependent: chunks are folded in input order (the scanner merges in order).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from provenance import merkle


@dataclass
class CompactRange:
    """An RFC 9162 Merkle tree built leaf by leaf with O(log n) memory: the roots of the perfect
    subtrees that make up the leaves so far, largest first."""

    size: int = 0
    stack: list[tuple[int, bytes]] = field(default_factory=list)

    def push(self, leaf: bytes) -> None:
        node, width = leaf, 1
        while self.stack and self.stack[-1][0] == width:
            _, left = self.stack.pop()
            node, width = merkle.node_hash(left, node), width * 2
        self.stack.append((width, node))
        self.size += 1

    def root(self) -> bytes:
        """Equal to ``merkle.root_from_leaf_hashes`` over every leaf pushed."""
        if not self.stack:
            return merkle.EMPTY_ROOT
        node = self.stack[-1][1]
        for _, left in reversed(self.stack[:-1]):
            node = merkle.node_hash(left, node)
        return node


EXACT_LIMIT = 500_000
"""Digests counted exactly before the duplicate count becomes an estimate (memory stays flat)."""


class DuplicateCounter:
    """Exact duplicate count by content digest up to ``EXACT_LIMIT`` distinct digests, then a
    HyperLogLog estimate (2**14 registers, about 0.8 % standard error) of the distinct count."""

    P = 14
    M = 1 << P

    def __init__(self, exact_limit: int = EXACT_LIMIT) -> None:
        self.exact_limit = exact_limit
        self.total = 0
        self.exact: set[int] | None = set()
        self.duplicates = 0
        self.registers = bytearray(self.M)

    def add(self, digest: bytes) -> None:
        self.total += 1
        value = int.from_bytes(digest[:8], "big")
        self._register(value)
        if self.exact is None:
            return
        if value in self.exact:
            self.duplicates += 1
        else:
            self.exact.add(value)
            if len(self.exact) > self.exact_limit:
                self.exact = None

    def _register(self, value: int) -> None:
        index = value >> (64 - self.P)
        rest = value & ((1 << (64 - self.P)) - 1)
        rank = (64 - self.P) - rest.bit_length() + 1
        if rank > self.registers[index]:
            self.registers[index] = rank

    def merge(self, other: DuplicateCounter) -> DuplicateCounter:
        self.total += other.total
        for i, rank in enumerate(other.registers):
            if rank > self.registers[i]:
                self.registers[i] = rank
        if self.exact is not None and other.exact is not None:
            overlap = len(self.exact & other.exact)
            self.duplicates += other.duplicates + overlap
            self.exact |= other.exact
            if len(self.exact) > self.exact_limit:
                self.exact = None
        else:
            self.exact = None
        return self

    @property
    def is_exact(self) -> bool:
        return self.exact is not None

    def distinct(self) -> float:
        if self.exact is not None:
            return float(len(self.exact))
        m = self.M
        harmonic = sum(2.0**-r for r in self.registers)
        estimate = (0.7213 / (1 + 1.079 / m)) * m * m / harmonic
        zeros = self.registers.count(0)
        if estimate <= 2.5 * m and zeros:
            estimate = m * math.log(m / zeros)
        return min(estimate, float(self.total))

    def rate(self) -> float:
        """Share of records whose content digest was already seen."""
        if self.total == 0:
            return 0.0
        if self.exact is not None:
            return self.duplicates / self.total
        return max(0.0, 1.0 - self.distinct() / self.total)
