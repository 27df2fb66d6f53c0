"""RFC 9162 Merkle trees: roots, audit paths and their verification."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from provenance import merkle


def reference_root(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 recursive definition, written directly."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k << 1 < len(leaves):
        k <<= 1
    return merkle.node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=70, unique=True))
def test_every_leaf_proves_inclusion_and_only_at_its_index(data: list[bytes]) -> None:
    leaves = [merkle.leaf_hash(d) for d in data]
    root = merkle.root_from_leaf_hashes(leaves)
    assert root == reference_root(leaves)
    proofs = merkle.inclusion_proofs(leaves)
    n = len(leaves)
    for i, leaf in enumerate(leaves):
        assert merkle.root_from_inclusion(i, n, leaf, proofs[i]) == root
        if n > 1 and leaves[(i + 1) % n] != leaf:
            assert merkle.root_from_inclusion((i + 1) % n, n, leaf, proofs[i]) != root
    # The path alone does not pin the tree size for a leaf in a full left subtree (RFC 9162
    # §2.1.3.2), which is why the verifier compares the record's size with the signed size.


def test_a_leaf_cannot_pose_as_an_inner_node() -> None:
    a, b = merkle.leaf_hash(b"a"), merkle.leaf_hash(b"b")
    root = merkle.root_from_leaf_hashes([a, b])
    # 64 bytes that are the concatenation of two child hashes, presented as one leaf
    forged = merkle.leaf_hash(a + b)
    assert forged != root
    assert merkle.root_from_inclusion(0, 1, forged, []) != root


def test_out_of_range_index_and_too_long_path_fail() -> None:
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(4)]
    proofs = merkle.inclusion_proofs(leaves)
    assert merkle.root_from_inclusion(4, 4, leaves[0], proofs[0]) is None
    assert merkle.root_from_inclusion(0, 4, leaves[0], [*proofs[0], leaves[1]]) is None
