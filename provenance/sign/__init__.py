"""Signing records: the SDK's :class:`Tagger` and :class:`RecordDraft`, the batch writer, and
:func:`tag_jsonl`, which signs whole files on every core (what ``provenance tag`` runs)."""

from __future__ import annotations

from provenance.sign.tagger import (
    RecordDraft,
    RecordWriter,
    Tagger,
    canonical_bytes,
    content_digest,
    derived_id,
    prompt_parent,
    record_parts,
    record_time,
    sidecar_path,
    tag_jsonl,
    too_long,
    unattributed_parts,
)

__all__ = [
    "RecordDraft",
    "RecordWriter",
    "Tagger",
    "canonical_bytes",
    "content_digest",
    "derived_id",
    "prompt_parent",
    "record_parts",
    "record_time",
    "sidecar_path",
    "tag_jsonl",
    "too_long",
    "unattributed_parts",
]
