"""Where a record's manifest sits and how its signed bytes are laid out: what signing writes and
verification reads, shared by :mod:`provenance.sign` and :mod:`provenance.verify`.

A signed record is a JSON object whose ``_provenance`` member holds either a DSSE envelope
(``{"dsse": ...}``) or, in batch mode, its statement and its place in a signed Merkle batch. The
statement is the RFC 8785 form of an in-toto Statement v1 whose subject digest is the SHA-256 of
the record without ``_provenance``; a contribution may also sign one part of the record (an RFC 6901
JSON Pointer and the SHA-256 of that part's canonical form).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Final

import orjson

from provenance import canonical
from provenance.manifest import PREDICATE_TYPE, STATEMENT_TYPE

PROVENANCE_KEY: Final = "_provenance"
"""The record member that holds the manifest."""

SIDECAR_SUFFIX: Final = ".batches"
"""A batch sidecar is named after its data file: ``data.jsonl`` → ``data.jsonl.batches``."""

# A canonical record statement, as the signer writes it (RFC 8785 key order):
# STATEMENT_HEAD PREDICATE STATEMENT_MID DIGEST NAME_KEY NAME STATEMENT_END
STATEMENT_HEAD: Final = b'{"_type":' + orjson.dumps(STATEMENT_TYPE) + b',"predicate":'
STATEMENT_MID: Final = (
    b',"predicateType":' + orjson.dumps(PREDICATE_TYPE) + b',"subject":[{"digest":{"sha256":"'
)
NAME_KEY: Final = b'"},"name":'
STATEMENT_END: Final = b"}]}"


def canonical_statement(predicate: bytes, digest: str, name: bytes) -> bytes:
    """The RFC 8785 bytes of a record statement, from the canonical bytes of its predicate, the
    record's content digest (lowercase hex) and the canonical JSON string of its record id."""
    return b"".join(
        (statement_head(predicate), digest.encode("ascii"), NAME_KEY, name, STATEMENT_END)
    )


def statement_head(predicate: bytes) -> bytes:
    """The bytes of a record statement before its subject digest, from the canonical bytes of
    its predicate (the rest is the digest, ``"},"name":``, the record id and ``}]}``)."""
    return STATEMENT_HEAD + predicate + STATEMENT_MID


def resolve_pointer(document: Any, pointer: str) -> Any:
    """The value at an RFC 6901 JSON Pointer; raises LookupError when it is absent."""
    if pointer == "":
        return (
            {k: v for k, v in document.items() if k != PROVENANCE_KEY}
            if isinstance(document, Mapping)
            else document
        )
    if not pointer.startswith("/"):
        raise LookupError(pointer)
    current = document
    for token in pointer[1:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(current, Mapping):
            if token not in current:
                raise LookupError(pointer)
            current = current[token]
        elif isinstance(current, list):
            if not (token.isascii() and token.isdigit()) or (
                token != "0" and token.startswith("0")
            ):
                raise LookupError(pointer)
            position = int(token)
            if position >= len(current):
                raise LookupError(pointer)
            current = current[position]
        else:
            raise LookupError(pointer)
    return current


def part_digest(value: Any) -> str:
    """Hex SHA-256 of the canonical form of one part of a record."""
    return hashlib.sha256(canonical.canonicalize(value)).hexdigest()
