"""Signing one task of JSONL lines in this process: what every worker of
:func:`provenance.sign.tag_jsonl` runs.

Each record's output line is its input bytes with ``_provenance`` added as the last member
(:func:`provenance.sign.reference.signed_line`); blank lines are dropped. With every strategy off, a
task runs the reference path: each line is parsed strictly (:func:`canonical.parse_record`),
digested, given its own predicate and statement, signed, and its manifest serialised. Three
strategies of :mod:`provenance.sign.strategies` are chosen here, once per task, never per record:

* ``native_reader`` replaces the strict parse and the content digest (reference step 1) by
  :func:`canonical.parse_and_digest`, and, when every record shares one predicate, by
  :func:`canonical.scan_line`, which gives the digest and the id without building the record. Both
  decline to the reference path for any line the native reader does not take (and always when the
  native module is absent or ``PROVENANCE_NATIVE=0``); ``scan_line`` is not asked for a record
  that has a manifest.
* ``shared_predicate`` replaces building each record's predicate (reference step 2) by one
  predicate and its canonical bytes for the whole task, or one per distinct set of parts, times and
  unattributed members; it declines when records carry part digests (each predicate is then the
  record's own).
* ``line_bytes`` replaces serialising each manifest (reference steps 3 and 7 and
  :func:`reference.signed_line`) by writing the manifest's bytes around the base64 statement,
  signature and audit path; it never declines (the layout is fixed).

``canonical_fast`` (:mod:`provenance.sign.canonical_fast`) writes predicate and statement bytes, and
``native_batch`` (:mod:`provenance.sign.native_batch`) is tried first on a batch-mode task whose
records share a predicate.
"""

from __future__ import annotations

import binascii
import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

import orjson

from provenance import canonical, dsse, merkle
from provenance.errors import InputError, MalformedJSONError, ProvenanceError
from provenance.manifest import PAYLOAD_TYPE, Contribution, RecordPredicate
from provenance.record import PROVENANCE_KEY
from provenance.sign import native_batch, reference
from provenance.sign.canonical_fast import canonical_bytes, statement_bytes
from provenance.sign.job import Done, Job, batch_tail
from provenance.sign.reference import (
    derived_id,
    line_head,
    record_parts,
    record_time,
    unattributed_parts,
    usable_id,
)
from provenance.sign.strategies import (
    CANONICAL_FAST,
    LINE_BYTES,
    NATIVE_BATCH,
    NATIVE_READER,
    SHARED_PREDICATE,
)
from provenance.sign.tasks import Task, too_long

__all__ = ["TASK_BYTES", "canonical_bytes", "shared_predicate", "sign_task"]

TASK_BYTES: Final = 2 << 20
"""Input bytes signed as one task (whole batches in batch mode): what one worker of
:func:`provenance.sign.tag_jsonl` takes at a time."""


class _Unsigned:
    """One input record, stated but not yet signed: its output bytes up to where the manifest
    member goes (:func:`reference.line_head`), and its statement."""

    __slots__ = ("head", "statement")

    def __init__(self, body: bytes, empty: bool, statement: bytes) -> None:
        self.head = line_head(body, empty)
        self.statement = statement


_SHARING: Final = frozenset((SHARED_PREDICATE, NATIVE_BATCH))
"""The strategies that use one predicate for a whole task."""


def sign_task(job: Job, task: Task) -> Done:
    """Parse, state, sign and serialise one task's records: natively when the ``native_batch``
    strategy takes the whole task, else here."""
    try:
        on = job.strategies
        now = job.tagger.clock()
        shared = shared_predicate(job, now) if on & _SHARING else None
        data = task.read(job.source)
        done = None
        if shared is not None and job.batch_size is not None and NATIVE_BATCH in on:
            done = native_batch.sign(job, data, shared[1], now)
        if done is None:
            counts: dict[str, int] = {}
            if SHARED_PREDICATE not in on:
                shared = None
            stated = _state_task(job, task.first_line, data, shared, now, counts)
            done = _sign_records(job, stated, now)
            done.unattributed = counts
        if len(done.output) > job.max_line:
            _check_lengths(job, task.first_line, data, done.output)
        return done
    except ProvenanceError as exc:
        return Done(error=(type(exc).__name__, exc.message, exc.line or 0, exc.hint))


def _check_lengths(job: Job, first_line: int, data: bytes, output: bytes) -> None:
    """Refuse the first signed line longer than ``job.max_line`` bytes, naming the input line
    it came from (output lines are the input's lines that are not blank, in order)."""
    index = at = 0
    while at < len(output):
        end = output.find(b"\n", at)
        end = len(output) if end < 0 else end
        if end - at > job.max_line:
            break
        index, at = index + 1, end + 1
    else:
        return
    number = first_line
    for line in data.split(b"\n"):
        if line and not line.isspace():
            if index == 0:
                break
            index -= 1
        number += 1
    raise too_long(job.source, number, job.max_line, end - at)


def shared_predicate(job: Job, now: datetime) -> tuple[RecordPredicate, bytes] | None:
    """The predicate every record of a task signed ``now`` shares, with its canonical bytes; None
    when each record has its own (part digests, parts or a time per record)."""
    tagger = job.tagger
    if tagger.part_digests or job.per_record:
        return None
    contributions = tagger._parts({}, job.contributions, job.generated_at or now, None, None)
    predicate = tagger._predicate(contributions, (), None, now)
    return predicate, _predicate_encoder(job)(predicate.to_dict())


def _predicate_encoder(job: Job) -> Callable[[Any], bytes]:
    """How predicates are written: by ``canonical_fast`` when the job uses it, else by the
    reference canonicaliser."""
    return canonical_bytes if CANONICAL_FAST in job.strategies else canonical.canonicalize


def _reference_parse(line: bytes) -> tuple[dict[str, Any], str]:
    """Reference step 1 on an input line: the record, strictly parsed, and its content digest."""
    record = canonical.parse_record(line)
    return record, reference.content_digest(reference.content_of(record))


def _reference_statement(
    record_id: str, digest: str, predicate: RecordPredicate, predicate_bytes: bytes
) -> bytes:
    return reference.record_statement(record_id, digest, predicate)


def _state_task(
    job: Job,
    first_line: int,
    data: bytes,
    shared: tuple[RecordPredicate, bytes] | None,
    now: datetime,
    counts: dict[str, int],
) -> list[_Unsigned]:
    """Parse every record of a task's ``data`` and write its statement; only the bytes are
    kept. ``shared`` is :func:`shared_predicate` (None: a predicate per record); ``counts``
    receives the members no part covers (:func:`unattributed_parts`), with the number of
    records."""
    on = job.strategies
    predicates: dict[Any, tuple[RecordPredicate, bytes]] = {}
    tagger = job.tagger
    generated_at = job.generated_at or now
    records: list[_Unsigned] = []
    number = first_line - 1
    native = NATIVE_READER in on
    parse = canonical.parse_and_digest if native else _reference_parse
    scan = canonical.scan_line if native and shared is not None else None
    state = statement_bytes if CANONICAL_FAST in on else _reference_statement
    encode = _predicate_encoder(job)
    cache = SHARED_PREDICATE in on and not tagger.part_digests
    id_field = tagger.id_field
    for line in data.split(b"\n"):
        number += 1
        if not line or line.isspace():
            continue
        line = line.rstrip()
        scanned = scan(line, id_field) if scan is not None else None
        if scanned is not None and scanned[1] < 0:
            # No manifest, one predicate for all: the native reader gives the digest and the id
            # without building the record.
            content, _, _, start, end = scanned
            body, empty, digest = line, content == b"{}", _sha256(content).hexdigest()
            name = _record_name(orjson.loads(line[start:end]) if start >= 0 else None, digest)
        else:
            try:
                record, digest = parse(line)
            except MalformedJSONError as exc:
                raise exc.at(job.source, number) from None
            body = line
            if PROVENANCE_KEY in record:
                if not job.replace:
                    raise InputError(
                        "record already has a manifest",
                        source=job.source,
                        line=number,
                        hint="pass --replace to sign it again",
                    )
                record = reference.content_of(record)
                body = orjson.dumps(record)
            empty, name = not record, tagger.record_id(record, digest)
        if shared is None:
            # A predicate per record (part digests, parts or a time per record, or no shared
            # predicate): the whole record was read above (the native reader was not asked).
            when = (
                generated_at
                if job.time_field is None
                else record_time(record, job.time_field, job.source, number)
            )
            chosen: tuple[Contribution, ...] | None = None
            unattributed: tuple[str, ...] = ()
            if job.contributions is not None:
                chosen = record_parts(
                    record, job.contributions, job.optional, when, job.source, number
                )
                unattributed = unattributed_parts(record, chosen, id_field)
                for pointer in unattributed:
                    counts[pointer] = counts.get(pointer, 0) + 1
            key = (None if chosen is None else tuple(c.pointer for c in chosen), when, unattributed)
            known = predicates.get(key) if cache else None
            if known is None:
                parts = tagger._parts(record, chosen, when, None, None)
                predicate = tagger._predicate(parts, (), None, now, unattributed)
                known = (predicate, encode(predicate.to_dict()))
                if cache:
                    predicates[key] = known
            statement = state(name, digest, *known)
        else:
            statement = state(name, digest, *shared)
        records.append(_Unsigned(body, empty, statement))
    return records


def _record_name(value: Any, digest: str) -> str:
    """A record's id: its id field when that is a string or an integer, else one derived from its
    content digest (hex)."""
    return str(value) if usable_id(value) else derived_id(digest)


def _hex_step(node: bytes) -> list[str]:
    """One step of an audit path as records carry it: the node in lower-case hex."""
    return [node.hex()]


_NO_STEPS: Final[list[str]] = []
"""The empty audit path (paths are built with ``+``, never changed in place)."""


def _b64(data: bytes) -> bytes:
    return binascii.b2a_base64(data, newline=False)


_sha256 = hashlib.sha256


def _sign_records(job: Job, records: list[_Unsigned], now: datetime) -> Done:
    if LINE_BYTES not in job.strategies:
        return _sign_by_reference(job, records, now)
    tagger = job.tagger
    out: list[bytes | memoryview] = []
    add = out.extend
    side: list[bytes] = []
    if job.batch_size is None:
        keyid = orjson.dumps(tagger.keyid or "")
        head = b'"_provenance":{"dsse":{"payloadType":' + orjson.dumps(PAYLOAD_TYPE)
        middle = b'","signatures":[{"keyid":' + keyid + b',"sig":"'
        for item in records:
            payload = item.statement
            sig = tagger.signer.sign(dsse.pae(PAYLOAD_TYPE, payload))
            add((item.head, head, b',"payload":"', _b64(payload), middle, _b64(sig), b'"}]}}}\n'))
        return Done(len(records), b"".join(out))
    for start in range(0, len(records), job.batch_size):
        batch = records[start : start + job.batch_size]
        levels = merkle.tree_levels([_sha256(b"\x00" + r.statement).digest() for r in batch])
        root = levels[-1][0]
        size = len(batch)
        tail, line = batch_tail(job, root, size, now)
        side.append(line)
        size_text = b',"size":%d,"path":' % size
        for index, (item, path) in enumerate(
            zip(batch, merkle.level_paths(levels, _hex_step, _NO_STEPS), strict=True)
        ):
            add(
                (
                    item.head,
                    b'"_provenance":{"statement":"',
                    _b64(item.statement),
                    b'","batch":{"index":%d' % index,
                    size_text,
                    orjson.dumps(path),
                    tail,
                )
            )
    return Done(len(records), b"".join(out), b"".join(side))


def _sign_by_reference(job: Job, records: list[_Unsigned], now: datetime) -> Done:
    """Reference steps 3 to 7 on stated records, each manifest serialised whole."""
    tagger = job.tagger
    if job.batch_size is None:
        lines = [
            reference.signed_line(
                item.head, reference.record_manifest(tagger.envelope(item.statement))
            )
            for item in records
        ]
        return Done(len(records), b"".join(lines))
    out: list[bytes] = []
    side: list[bytes] = []
    for start in range(0, len(records), job.batch_size):
        batch = records[start : start + job.batch_size]
        manifests, line = reference.sign_batch(
            tagger.signer,
            tagger.keyid,
            [item.statement for item in batch],
            now,
            tagger.organization,
            job.sidecar,
        )
        out.extend(
            reference.signed_line(item.head, manifest)
            for item, manifest in zip(batch, manifests, strict=True)
        )
        if line is not None:
            side.append(orjson.dumps(line) + b"\n")
    return Done(len(records), b"".join(out), b"".join(side))
