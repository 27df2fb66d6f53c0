"""Signing records: the SDK's :class:`Tagger` and :class:`RecordDraft`, the batch writer, and
:func:`tag_jsonl`, which signs whole files on every core (what ``provenance tag`` runs).

:mod:`provenance.sign.reference` says what a signed record is, one function per step; the fast
strategies named in :mod:`provenance.sign.strategies` write the same bytes faster, and a tagger made
with ``strategies=()`` runs the reference path alone."""

from __future__ import annotations

from provenance.sign.canonical_fast import canonical_bytes, content_digest
from provenance.sign.parallel import tag_jsonl
from provenance.sign.reference import (
    derived_id,
    record_parts,
    record_time,
    unattributed_parts,
)
from provenance.sign.tagger import RecordDraft, RecordWriter, Tagger, prompt_parent, sidecar_path
from provenance.sign.tasks import too_long

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
