"""The fast strategies of verification, by name: what each replaces and what it needs.

Every strategy gives each record the verdict and the message the reference path
(:mod:`provenance.verify.reference`) gives it, or declines and lets the reference step run.
:class:`~provenance.verify.verifier.Verifier` runs with all of them unless told otherwise
(``Verifier(trust, strategies=frozenset())`` is the reference path), and
``tests/equivalence/test_verify.py`` checks each of them against the reference path on every
case it has: adding a strategy is adding its entry here and its branch beside the step it
replaces.
"""

from __future__ import annotations

from typing import Final, NamedTuple


class Strategy(NamedTuple):
    step: str
    """The reference step it replaces (see :mod:`provenance.verify.reference`)."""
    summary: str
    needs: tuple[str, ...] = ()
    """Strategies it builds on: it does nothing without them."""


STRATEGIES: Final[dict[str, Strategy]] = {
    "native-reader": Strategy(
        "1, strict record",
        "the native reader checks the line and writes the canonical bytes of its content in one "
        "pass (canonical.parse_and_digest); it declines to the reference reader on any error and "
        "on the rare inputs listed in provenance/_native.c",
    ),
    "envelope-fields": Strategy(
        "3, envelope",
        "an envelope (and a batch record's statement) is read field by field when every field is "
        "plainly valid, canonical base64 decoded natively; anything else, or no native module, "
        "declines to dsse.Envelope.from_dict / dsse.b64decode",
    ),
    "key-candidates": Strategy(
        "4, signature",
        "the keys to try for each key id hint are looked up once per trust store object",
    ),
    "canonical-statement": Strategy(
        "5, manifest shape",
        "a statement the native reader finds already canonical is built by orjson instead of the "
        "strict parser; anything else declines to the strict parser",
    ),
    "known-statements": Strategy(
        "5, manifest shape",
        "a statement in the tagger's exact byte layout whose predicate was validated before is "
        "read by its bytes: only the subject and the signing time (see verify/known.py)",
    ),
    "signer-memo": Strategy(
        "6, trust",
        "the signer checks are skipped when the same keys, predicate object and times passed "
        "just before (records of one batch)",
    ),
    "batch-memo": Strategy(
        "3 to 5 on a batch envelope",
        "a batch envelope is verified once and found again by its exact JSON bytes; a sidecar "
        "file is read once per verifier (errors are remembered too)",
    ),
    "joint-proof": Strategy(
        "7, proof",
        "the records of one batch in a chunk are proven together by rebuilding the tree over "
        "each run of consecutive leaves (see verify/joint.py)",
    ),
    "native-layout": Strategy(
        "3 and 5, batch mode",
        "a manifest in the batch tagger's exact layout comes from the reader with its fields "
        "decoded (canonical.view_and_digest); its envelope is found by its bytes, its statement "
        "matched with the last statement prefix, and the records of one batch that match are "
        "finished together (one signer check); a record that does not fit is finished alone",
        needs=("joint-proof", "known-statements"),
    ),
}

ALL: Final = frozenset(STRATEGIES)
"""Every strategy: what :class:`~provenance.verify.verifier.Verifier` runs by default."""


def with_needs(names: frozenset[str]) -> frozenset[str]:
    """``names`` and every strategy they build on."""
    out = set(names)
    for name in names:
        out.update(STRATEGIES[name].needs)
    return frozenset(out)
