"""Strategy ``native_batch``: a whole batch-mode task signed in native code.

It replaces, for every record of a task, reference steps 1, 2 and 4 to 7
(:mod:`provenance.sign.reference`) and the output line: the native batch tagger
(:func:`provenance.canonical.tag_batch`, ``provenance/_native.c``) reads each line, digests its
content, writes its statement from the task's shared predicate bytes, hashes the leaves, builds
each batch's tree and audit paths and writes the signed lines; Python signs each batch statement
(:func:`batch_tail`, through :func:`reference.batch_envelope`).

It is tried only in batch mode when every record of the task shares one predicate (no part
digests, no ``--parts``, no time per record), and it declines (returns None, and the task is
signed by :mod:`provenance.sign.lines`) when the native module is absent or switched off
(``PROVENANCE_NATIVE=0``), or when any line of the task is one the native reader leaves to the
reference path: not strict JSON, a record with a manifest, numbers or strings it does not write
itself, an id that is neither a string nor an integer, and the other cases listed in its source.
"""

from __future__ import annotations

from datetime import datetime

from provenance import canonical
from provenance.record import statement_head
from provenance.sign.job import Done, Job, batch_tail


def sign(job: Job, data: bytes, predicate: bytes, now: datetime) -> Done | None:
    """Batch-sign a task's lines ``data`` in native code, every statement with the canonical
    ``predicate`` bytes (the same bytes as the Python path of :mod:`provenance.sign.lines`), or
    None when a record must be read in Python."""
    side: list[bytes] = []

    def finish(root: bytes, size: int) -> bytes:
        tail, line = batch_tail(job, root, size, now)
        side.append(line)
        return tail

    assert job.batch_size is not None
    signed = canonical.tag_batch(
        data, job.tagger.id_field, statement_head(predicate), job.batch_size, finish
    )
    if signed is None:
        return None
    return Done(signed[1], signed[0], b"".join(side))
