"""The fast strategies of signing, by name.

Signing is specified by :mod:`provenance.sign.reference`, one function per step. Each strategy
named here replaces one or more of those steps with code that writes the same bytes faster, and
declines to the reference step wherever it cannot be sure of that. A :class:`~provenance.sign.Tagger`
takes the set of strategies it may use (``strategies=``; all of them by default); with none, it and
:func:`~provenance.sign.tag_jsonl` (which uses the tagger's) run the reference path alone. The
choice travels with the tagger to every worker process: there is no switch shared between
processes or runs.

Adding a strategy is adding its name here and testing for it where it is chosen
(``"name" in strategies``); ``tests/equivalence/test_sign.py`` runs every name it finds here.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from types import MappingProxyType
from typing import Final

from provenance.errors import InputError

CANONICAL_FAST: Final = "canonical-fast"
SHARED_PREDICATE: Final = "shared-predicate"
NATIVE_READER: Final = "native-reader"
NATIVE_BATCH: Final = "native-batch"
LINE_BYTES: Final = "line-bytes"
PARALLEL: Final = "parallel"

STRATEGIES: Final[Mapping[str, str]] = MappingProxyType(
    {
        CANONICAL_FAST: "RFC 8785 bytes of records, predicates and statements written by orjson "
        "and a statement template (provenance/sign/canonical_fast.py)",
        SHARED_PREDICATE: "one predicate and its canonical bytes for every record of a file task "
        "that shares it, instead of one per record (provenance/sign/lines.py)",
        NATIVE_READER: "each input line parsed and digested by the native reader, and read no "
        "further than its id when the predicate is shared (provenance/sign/lines.py)",
        NATIVE_BATCH: "whole tasks of batch-mode lines stated, hashed, proven and written in "
        "native code (provenance/sign/native_batch.py)",
        LINE_BYTES: "each output line assembled as bytes from the input line and the manifest's "
        "parts, instead of serialising the manifest (provenance/sign/lines.py)",
        PARALLEL: "input cut into tasks signed by worker processes, written in input order "
        "(provenance/sign/parallel.py)",
    }
)
"""Every fast strategy: name → what it does and where it lives."""

ALL: Final = frozenset(STRATEGIES)
"""Every strategy on (the default)."""


def chosen(strategies: Collection[str] | None) -> frozenset[str]:
    """The strategies to use: ``None`` means all of them; an unknown name is refused."""
    if strategies is None:
        return ALL
    unknown = sorted(set(strategies) - ALL)
    if unknown:
        raise InputError(
            f"unknown signing strateg{'y' if len(unknown) == 1 else 'ies'}: {', '.join(unknown)}",
            hint=f"known: {', '.join(sorted(ALL))}",
        )
    return frozenset(strategies)
