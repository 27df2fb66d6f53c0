"""What a run of :func:`provenance.sign.tag_jsonl` hands every task: the tagger and the fixed
choices (:class:`Job`), and what a signed task gives back (:class:`Done`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import orjson

from provenance.limits import DEFAULT_LIMITS
from provenance.manifest import Contribution
from provenance.sign import reference

if TYPE_CHECKING:
    from provenance.sign.parallel import Commit
    from provenance.sign.tagger import Tagger


@dataclass(frozen=True)
class Job:
    """What every worker of :func:`tag_jsonl` needs: the tagger and the fixed choices."""

    tagger: Tagger
    source: str
    batch_size: int | None
    generated_at: datetime | None
    contributions: tuple[Contribution, ...] | None
    replace: bool
    sidecar: str | None
    max_line: int = DEFAULT_LIMITS.max_record_bytes
    """Longest output line, the record with its manifest (the longest line a reader takes)."""
    spool: str | None = None
    """Folder where workers leave their output for the parent to copy (None: return it)."""
    commit: Commit | None = None
    """When set, workers write their output into the output file themselves, in input order."""
    optional: frozenset[str] = frozenset()
    """Pointers of ``contributions`` that a record may lack."""
    time_field: str | None = None
    """The record member holding its generation time, when each record gives its own."""
    strategies: frozenset[str] = frozenset()
    """The fast strategies to use (:mod:`provenance.sign.strategies`)."""

    @property
    def per_record(self) -> bool:
        """Whether each record is read whole for its manifest: parts are checked against it, or
        its time is read from it."""
        return self.contributions is not None or self.time_field is not None


@dataclass
class Done:
    """A signed task: output lines (or the spool file holding them), sidecar lines, the record
    count, or the error met."""

    records: int = 0
    output: bytes = b""
    sidecar: bytes = b""
    spooled: str | None = None
    error: tuple[str, str, int, str | None] | None = None
    """(error class name, message, line, hint) of the first input error."""
    unattributed: dict[str, int] = field(default_factory=dict)
    """Top-level members that no ``--parts`` entry covers: pointer → records."""


def batch_tail(job: Job, root: bytes, size: int, now: datetime) -> tuple[bytes, bytes]:
    """What every record of a signed batch ends with after its audit path (its envelope, or the
    sidecar reference; the manifest and the line closed), and the batch's sidecar line (empty
    when the envelopes are embedded)."""
    envelope = job.tagger.batch_envelope(root, size, now)
    if job.sidecar is None:
        return b',"dsse":' + orjson.dumps(envelope) + b"}}}\n", b""
    tail = (
        b',"sidecar":'
        + orjson.dumps(job.sidecar)
        + b',"root":"'
        + root.hex().encode("ascii")
        + b'"}}}\n'
    )
    line = reference.sidecar_line(root, size, envelope)
    return tail, orjson.dumps(line) + b"\n"
