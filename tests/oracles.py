"""Reference readings that native fast paths are held to (shared by the tests and the fuzzer)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

TAGGER_BATCH_LAYOUTS = (
    ["index", "size", "path", "dsse"],
    ["index", "size", "path", "sidecar", "root"],
)


def canonical_b64(text: Any) -> bytes | None:
    """The oracle: the standard library's strict decoder, and the text must be the only
    encoding of its bytes (a whole number of quads, zero bits after the last byte)."""
    if type(text) is not str or len(text) % 4:
        return None
    try:
        data = binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        return None
    return data if base64.b64encode(data).decode() == text else None


def expected_batch_fields(manifest: Any) -> tuple[Any, ...] | None:
    """What the native batch-manifest reader must read off ``manifest`` (parsed JSON): the
    statement, its leaf hash, index, size, the path's nodes and the envelope (or the sidecar's
    name and root) when the manifest has exactly the members of one of the batch tagger's layouts,
    in their order, with values those layouts hold; else None. The reader may decline a manifest
    this reads; it must not take one this does not."""
    if type(manifest) is not dict or list(manifest) != ["statement", "batch"]:
        return None
    batch = manifest["batch"]
    if type(batch) is not dict or list(batch) not in TAGGER_BATCH_LAYOUTS:
        return None
    if "sidecar" in batch and not (
        type(batch["sidecar"]) is str
        and type(batch["root"]) is str
        and len(batch["root"]) == 64
        and batch["root"] == batch["root"].lower()
    ):
        return None
    statement = canonical_b64(manifest["statement"])
    path = batch["path"]
    if (
        statement is None
        or type(batch["index"]) is not int
        or type(batch["size"]) is not int
        or type(path) is not list
        or not all(type(p) is str and len(p) == 64 and p == p.lower() for p in path)
    ):
        return None
    try:
        nodes = b"".join(bytes.fromhex(p) for p in path)
    except ValueError:
        return None
    leaf = hashlib.sha256(b"\x00" + statement).digest()
    reference = batch["dsse"] if "dsse" in batch else (batch["sidecar"], batch["root"])
    return statement, leaf, batch["index"], batch["size"], nodes, reference
