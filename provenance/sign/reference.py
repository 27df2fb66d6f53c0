"""What a signed record is: the reference path of signing, one function per step, in order.

Per-record mode:

1. :func:`content_digest`: the record without ``_provenance`` (:func:`content_of`) in its RFC 8785
   canonical bytes, hashed with SHA-256; a record without a usable id is named after it
   (:func:`record_id`, :func:`derived_id`).
2. :func:`record_predicate` and :func:`record_statement`: the in-toto Statement v1 naming the record
   and its digest, with the record predicate (who generated which part, when, under which terms),
   in RFC 8785 canonical bytes.
3. :func:`envelope`: the DSSE envelope over the statement (PAE, Ed25519 signature), which
   :func:`record_manifest` puts under ``_provenance``.

Batch mode, for consecutive records:

4. :func:`leaf_hashes`: each record's statement as an RFC 9162 leaf.
5. :func:`merkle_levels`, :func:`merkle_root`: the Merkle tree over them and its root.
6. :func:`batch_statement`, :func:`batch_envelope`: the statement naming the root and the tree
   size, and its envelope.
7. :func:`audit_paths`, :func:`batch_reference`, :func:`inclusion`: each record's manifest, its
   statement with its index, the tree size and its audit path, and the batch envelope itself or
   (with a sidecar) the sidecar's name and the root; :func:`sidecar_line` is the sidecar's line for
   the batch.

Finally :func:`signed_line` writes a record's output line: its input bytes with the manifest added
as the last member. This module holds no caches and no byte-level shortcuts and calls no native
code: the fast strategies (:mod:`provenance.sign.strategies`) write the same bytes faster.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import orjson

from provenance import __version__, canonical, dsse, merkle
from provenance.errors import InputError, ProvenanceError
from provenance.keys import Signer
from provenance.manifest import (
    BATCH_PREDICATE_TYPE,
    PAYLOAD_TYPE,
    STATEMENT_TYPE,
    UNATTRIBUTED_PARTS,
    Contribution,
    Parent,
    RecordPredicate,
    build_statement,
    format_time,
    parse_when,
    past_limits,
)
from provenance.record import PROVENANCE_KEY, resolve_pointer

SDK = {"name": "provenance", "version": __version__}
"""The ``sdk`` member of every predicate: who signed."""

# ---- 1. the record's content and name -----------------------------------------------------------


def content_of(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record's content: every member but ``_provenance``."""
    return {k: v for k, v in record.items() if k != PROVENANCE_KEY}


def content_digest(content: Mapping[str, Any]) -> str:
    """Hex SHA-256 of the RFC 8785 canonical bytes of ``content`` (without ``_provenance``)."""
    return canonical.content_digest(content)


def usable_id(value: Any) -> bool:
    """Whether an id field's value names the record: a string or an integer."""
    return isinstance(value, str | int) and not isinstance(value, bool)


def derived_id(digest: str) -> str:
    """The id of a record without one: ``sha256:`` and the first 16 hex digits of its content
    digest. The same content always gets the same id, so tagging it again, in either tagging
    path, names it the same, and ``trace`` or ``explain`` find it by that id."""
    return "sha256:" + digest.removeprefix("sha256:")[:16]


def record_id(record: Mapping[str, Any], id_field: str, digest: str) -> str:
    """The record's id field when usable, else the id derived from its content ``digest``."""
    value = record.get(id_field)
    return str(value) if usable_id(value) else derived_id(digest)


# ---- 2. the record statement --------------------------------------------------------------------


def record_parts(
    record: Mapping[str, Any],
    contributions: Sequence[Contribution],
    optional: Collection[str],
    generated_at: datetime,
    source: str,
    line: int,
) -> tuple[Contribution, ...]:
    """The ``--parts`` contributions that apply to ``record``, each with a time (its own, else
    ``generated_at``). A part the record lacks is refused with the record's file and line,
    unless it is in ``optional``; an optional part the record lacks is left out of its
    manifest."""
    out = []
    for contribution in contributions:
        try:
            resolve_pointer(record, contribution.pointer)
        except LookupError:
            if contribution.pointer in optional:
                continue
            raise InputError(
                f"record has no part '{contribution.pointer}' named in --parts",
                source=source,
                line=line,
                hint="fix the pointer, or mark the part 'optional: true' in the parts file "
                "when some records lack it",
            ) from None
        if contribution.generated_at is None:
            contribution = replace(contribution, generated_at=generated_at)
        out.append(contribution)
    if not out:
        raise InputError("record has none of the parts named in --parts", source=source, line=line)
    return tuple(out)


def unattributed_parts(
    content: Mapping[str, Any], contributions: Sequence[Contribution], id_field: str = "id"
) -> tuple[str, ...]:
    """The top-level members of ``content`` that no contribution covers, as JSON Pointers: none
    when one contribution is the whole record (``""``); else every member but the id that no
    contribution's pointer lies in. The manifest names them (``unattributed_parts``), so that
    an audit reviews them as parts of unknown source instead of passing them silently."""
    pointers = [c.pointer for c in contributions]
    if "" in pointers:
        return ()
    covered = {p[1:].split("/", 1)[0].replace("~1", "/").replace("~0", "~") for p in pointers}
    return tuple(
        "/" + k.replace("~", "~0").replace("/", "~1")
        for k in content
        if k not in covered and k != id_field and k != PROVENANCE_KEY
    )


def record_time(record: Mapping[str, Any], field_name: str, source: str, line: int) -> datetime:
    """When ``record`` was generated, read from its member ``field_name``: an RFC 3339 time, or a
    date (midnight UTC). A record without the member, or with another value, is refused with its
    file and line."""
    value = record.get(field_name)
    if not isinstance(value, str):
        what = "has no field" if value is None else "has a field that is not a time:"
        raise InputError(
            f"record {what} '{field_name}'",
            source=source,
            line=line,
            hint="--generated-at-field needs an RFC 3339 time or a date in every record",
        )
    try:
        return parse_when(value, f"field '{field_name}'")
    except ProvenanceError as exc:
        raise InputError(
            f"field '{field_name}' is not an RFC 3339 time or date: {value[:64]!r}",
            source=source,
            line=line,
        ) from exc


def record_predicate(
    contributions: Iterable[Contribution],
    parents: Iterable[Parent],
    parameters: Mapping[str, Any],
    signed_at: datetime,
    organization: str | None,
    unattributed: Sequence[str] = (),
) -> RecordPredicate:
    """The record predicate; a manifest naming more contributions or parents than a reader
    takes (:func:`provenance.manifest.past_limits`) is refused."""
    contributions, parents = tuple(contributions), tuple(parents)
    past = past_limits(len(contributions), len(parents))
    if past is not None:
        name, count, most = past
        raise InputError(
            f"{count} {name}, more than the {most} a manifest may name (Limits.max_{name})"
        )
    return RecordPredicate(
        contributions=contributions,
        organization=organization,
        parents=parents,
        parameters=dict(parameters),
        signed_at=signed_at,
        sdk=SDK,
        extra={UNATTRIBUTED_PARTS: list(unattributed)} if unattributed else {},
    )


def record_statement(record_id: str, digest: str, predicate: RecordPredicate) -> bytes:
    """The RFC 8785 bytes of the in-toto Statement v1 for one record: what is signed."""
    return canonical.canonicalize(build_statement(record_id, digest, predicate))


# ---- 3. the envelope ----------------------------------------------------------------------------


def envelope(signer: Signer, keyid: str, payload: bytes) -> dict[str, Any]:
    """The DSSE envelope signing ``payload`` as an in-toto statement: the signature is over the
    pre-authentication encoding (PAE) of the payload type and the payload."""
    sig = signer.sign(dsse.pae(PAYLOAD_TYPE, payload))
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": dsse.b64encode(payload),
        "signatures": [{"keyid": keyid or "", "sig": dsse.b64encode(sig)}],
    }


def record_manifest(signed: Mapping[str, Any]) -> dict[str, Any]:
    """A per-record manifest: the record's own envelope."""
    return {"dsse": signed}


# ---- 4-7. batches -------------------------------------------------------------------------------


def leaf_hashes(statements: Iterable[bytes]) -> list[bytes]:
    """Each statement as a Merkle leaf: SHA-256 of ``0x00`` and its bytes (RFC 9162 §2.1.1)."""
    return [merkle.leaf_hash(statement) for statement in statements]


def merkle_levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the Merkle tree over ``leaves``, from the leaves up to the root."""
    return merkle.tree_levels(leaves)


def merkle_root(levels: Sequence[Sequence[bytes]]) -> bytes:
    """The Merkle tree hash (RFC 9162 §2.1.1): the top of the tree."""
    return levels[-1][0]


def batch_statement(root: bytes, size: int, signed_at: datetime, organization: str | None) -> bytes:
    """The RFC 8785 bytes of the statement signing a batch: the Merkle ``root`` of ``size``
    record statements."""
    return canonical.canonicalize(
        {
            "_type": STATEMENT_TYPE,
            "subject": [{"name": f"batch:{root.hex()[:32]}", "digest": {"sha256": root.hex()}}],
            "predicateType": BATCH_PREDICATE_TYPE,
            "predicate": {
                "tree_size": size,
                "signed_at": format_time(signed_at),
                "organization": organization,
                "sdk": SDK,
            },
        }
    )


def batch_envelope(
    signer: Signer,
    keyid: str,
    root: bytes,
    size: int,
    signed_at: datetime,
    organization: str | None,
) -> dict[str, Any]:
    """The envelope signing the batch statement."""
    return envelope(signer, keyid, batch_statement(root, size, signed_at, organization))


def audit_paths(levels: Sequence[Sequence[bytes]]) -> list[list[str]]:
    """Each leaf's audit path (RFC 9162 §2.1.3), its nodes in lower-case hex."""
    return [[node.hex() for node in path] for path in merkle.inclusion_proofs(levels[0])]


def batch_reference(signed: Mapping[str, Any], root: bytes, sidecar: str | None) -> dict[str, Any]:
    """Where a record finds its batch's envelope: the envelope itself, or with a ``sidecar``
    (the sidecar file's name) that name and the batch root."""
    if sidecar is None:
        return {"dsse": signed}
    return {"sidecar": sidecar, "root": root.hex()}


def inclusion(
    statement: bytes, index: int, size: int, path: list[str], reference: Mapping[str, Any]
) -> dict[str, Any]:
    """A batch-mode manifest: the record's statement and its place in the signed tree."""
    return {
        "statement": dsse.b64encode(statement),
        "batch": {"index": index, "size": size, "path": path, **reference},
    }


def sidecar_line(root: bytes, size: int, signed: Mapping[str, Any]) -> dict[str, Any]:
    """A batch's line in the sidecar file: its root, its size and its envelope."""
    return {"root": root.hex(), "size": size, "dsse": signed}


def sign_batch(
    signer: Signer,
    keyid: str,
    statements: Sequence[bytes],
    signed_at: datetime,
    organization: str | None,
    sidecar: str | None,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Steps 4 to 7 on one batch of statements: every record's manifest, and the batch's sidecar
    line (None when the envelope is in every record)."""
    levels = merkle_levels(leaf_hashes(statements))
    root = merkle_root(levels)
    size = len(statements)
    signed = batch_envelope(signer, keyid, root, size, signed_at, organization)
    where = batch_reference(signed, root, sidecar)
    manifests = [
        inclusion(statement, index, size, path, where)
        for index, (statement, path) in enumerate(zip(statements, audit_paths(levels), strict=True))
    ]
    return manifests, None if sidecar is None else sidecar_line(root, size, signed)


# ---- the output line ----------------------------------------------------------------------------


def line_head(body: bytes, empty: bool) -> bytes:
    """A record's output bytes up to where its manifest goes: its input bytes (``body``, a JSON
    object) without the closing brace and with a comma, or ``{`` alone for an empty record."""
    return b"{" if empty else body[:-1] + b","


def signed_line(head: bytes, manifest: Mapping[str, Any]) -> bytes:
    """A signed record's output line: its :func:`line_head` and ``_provenance`` as the last
    member."""
    return head + b'"' + PROVENANCE_KEY.encode() + b'":' + orjson.dumps(manifest) + b"}\n"
