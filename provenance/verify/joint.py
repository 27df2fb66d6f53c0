"""Strategy ``joint-proof``: the records of one batch proven together.

Replaces step 7 of the reference path (:meth:`Reference.inclusion`: one walk of RFC 9162
§2.1.3.2 per record, ``log2(size)`` hashes each) for the records of one batch that
:meth:`Verifier.verify_many` reads in one chunk: the tree is rebuilt over each run of consecutive
leaves (one hash per inner node) and compared with the signed root, and each record's own audit
path is then compared with the rebuilt one.

Declines (the record goes through every reference step alone, which gives the verdict and the
message) for a record whose manifest fields are not plainly valid (index, size and path types, a
path longer than the limit, an index outside the tree, a statement that is not canonical base64, a
batch envelope that does not verify or states another size), for a second copy of a leaf, for a
run of one record, for a run whose rebuilt root is not the signed root, and for a record whose own
path differs from the rebuilt one.
"""

from __future__ import annotations

import operator
from typing import NamedTuple

from provenance import merkle
from provenance.verify.facts import BatchFacts


class Leaf(NamedTuple):
    """A batch-mode record ready for a joint inclusion proof."""

    item: int
    """The record's place in the chunk."""
    statement: bytes
    leaf: bytes
    position: int
    path: bytes
    """The audit path's 32-byte nodes, concatenated."""
    facts: BatchFacts
    known: tuple[str, bytes] | None = None
    """``(record id, prefix)`` when the native reader found the statement to be ``prefix``, the
    record's content digest and that id as a plain string (strategy ``native-layout``)."""


_POSITION = operator.itemgetter(3)
"""A :class:`Leaf`'s position."""


def prove(group: list[Leaf]) -> set[int]:
    """The items of one batch's leaves whose inclusion the rebuilt tree proves."""
    proven: set[int] = set()
    ordered = sorted(group, key=_POSITION)
    run: list[Leaf] = []
    for leaf in ordered:
        if run and leaf.position == run[-1].position:
            continue  # a second copy of a leaf is checked alone
        if run and leaf.position != run[-1].position + 1:
            proven.update(_prove_run(run))
            run = []
        run.append(leaf)
    if run:
        proven.update(_prove_run(run))
    return proven


def _prove_run(run: list[Leaf]) -> list[int]:
    if len(run) < 2:
        return []
    facts = run[0].facts
    size, first = facts.size, run[0].position
    levels = merkle.range_levels(
        size, first, [leaf.leaf for leaf in run], nodes(run[0].path), nodes(run[-1].path)
    )
    if levels is None or levels[-1][1][0] != facts.root:
        return []
    paths = merkle.range_paths(size, first, len(run), levels, bytes, b"")
    return [leaf.item for leaf, path in zip(run, paths, strict=True) if leaf.path == path]


def nodes(path: bytes) -> list[bytes]:
    """A concatenated audit path's 32-byte nodes."""
    return [path[k : k + 32] for k in range(0, len(path), 32)]
