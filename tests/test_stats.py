"""Dataset statistics: the dataset digest's compact range and the duplicate counter."""

from __future__ import annotations

import hashlib
import random
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provenance import merkle
from provenance.stats import CompactRange, DuplicateCounter, leaf_hashes


def _digests(values: list[int]) -> bytes:
    """32-byte content digests, one per value (equal values give equal digests)."""
    return b"".join(hashlib.sha256(str(v).encode()).digest() for v in values)


@given(
    count=st.integers(min_value=0, max_value=300),
    cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=6),
)
@settings(max_examples=120, deadline=None)
def test_extend_in_any_pieces_gives_the_rfc_9162_root(count: int, cuts: list[int]) -> None:
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(count)]
    bounds = sorted({0, count, *(c for c in cuts if c <= count)})
    tree = CompactRange()
    for start, end in pairwise(bounds):
        tree.extend(b"".join(leaves[start:end]))
    one_by_one = CompactRange()
    for leaf in leaves:
        one_by_one.push(leaf)
    assert tree.size == count
    assert tree.root() == one_by_one.root() == merkle.root_from_leaf_hashes(leaves)
    assert tree.stack == one_by_one.stack


def test_extend_rejects_a_partial_hash() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        CompactRange().extend(b"\x00" * 33)


def test_leaf_hashes_are_the_rfc_9162_leaf_hashes() -> None:
    digests = _digests([1, 2, 3])
    assert leaf_hashes(digests) == b"".join(
        merkle.leaf_hash(digests[i : i + 32]) for i in range(0, 96, 32)
    )


def test_duplicate_rate_is_exact_below_the_limit() -> None:
    counter = DuplicateCounter(limit=1000)
    counter.add_many(_digests([1, 2, 3, 1, 1, 4, 2]))
    assert counter.is_exact
    assert counter.total == 7
    assert counter.distinct() == 4
    assert counter.rate() == pytest.approx(3 / 7)


def test_duplicate_rate_beyond_the_limit_is_estimated_in_bounded_memory() -> None:
    rng = random.Random(7)
    # 20,000 distinct contents; 30 % of records repeat an earlier one.
    values = list(range(20_000))
    values += [rng.randrange(20_000) for _ in range(int(20_000 * 0.3 / 0.7))]
    rng.shuffle(values)
    counter = DuplicateCounter(limit=2_000)
    for start in range(0, len(values), 997):
        counter.add_many(_digests(values[start : start + 997]))
    assert not counter.is_exact
    assert len(counter.counts) <= 2_000
    assert counter.total == len(values)
    assert counter.rate() == pytest.approx(0.3, abs=0.03)
    assert counter.distinct() == pytest.approx(20_000, rel=0.1)


@given(
    values=st.lists(st.integers(min_value=0, max_value=400), max_size=600),
    cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=5),
)
@settings(max_examples=80, deadline=None)
def test_counting_in_pieces_and_merging_gives_one_answer(
    values: list[int], cuts: list[int]
) -> None:
    whole = DuplicateCounter(limit=50)
    whole.add_many(_digests(values))
    bounds = sorted({0, len(values), *(c for c in cuts if c <= len(values))})
    pieces = []
    for start, end in pairwise(bounds):
        piece = DuplicateCounter(limit=50)
        piece.add_many(_digests(values[start:end]))
        pieces.append(piece)
    merged = DuplicateCounter(limit=50)
    for piece in reversed(pieces):
        merged.merge(piece)
    assert (merged.total, merged.threshold, merged.counts) == (
        whole.total,
        whole.threshold,
        whole.counts,
    )
    assert merged.rate() == whole.rate()
