"""The SDK: sign a manifest onto every generated record.

>>> from provenance import Tagger
>>> from provenance.keys import PrivateKeySigner
>>> tagger = Tagger(PrivateKeySigner.generate(), provider="openai", model="gpt-4o",
...                 service="api", organization="acme")
>>> record = tagger.tag({"id": "r1", "prompt": "Say hi", "completion": "Hi!"})
>>> sorted(record["_provenance"])
['dsse']

Records written by several models are built part by part with :class:`RecordDraft` and signed once
complete. In batch mode (``Tagger.writer(path, batch_size=N)``) one signature covers the Merkle root of
N manifests and every record carries its leaf index, the tree size and its audit path, with the batch
envelope itself or (``sidecar=True``) a reference to it in the signed batch sidecar next to the file.

:func:`tag_jsonl` signs a whole JSONL file on every core; it is what ``provenance tag`` runs.
"""

from __future__ import annotations

import binascii
import fcntl
import hashlib
import io
import os
import re
import shutil
import stat
import tempfile
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import IO, Any, Final

import orjson

from provenance import __version__, canonical, dsse, merkle
from provenance.errors import InputError, MalformedJSONError, ProvenanceError
from provenance.keys import Signer
from provenance.limits import DEFAULT_LIMITS
from provenance.manifest import (
    BATCH_PREDICATE_TYPE,
    PAYLOAD_TYPE,
    STATEMENT_TYPE,
    UNATTRIBUTED_PARTS,
    Contribution,
    Generator,
    Parent,
    RecordPredicate,
    TermsRef,
    build_statement,
    format_time,
    parse_when,
    past_limits,
)
from provenance.native import lib as _native
from provenance.record import (
    PROVENANCE_KEY,
    SIDECAR_SUFFIX,
    canonical_statement,
    part_digest,
    resolve_pointer,
    statement_head,
)

SDK = {"name": "provenance", "version": __version__}

TASK_BYTES: Final = 2 << 20
"""Input bytes handed to one worker at a time by :func:`tag_jsonl` (whole batches in batch mode)."""
INLINE_BYTES: Final = 4 << 20
"""Inputs smaller than this are signed in this process: starting workers would cost more."""

_PASSTHROUGH: Final = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)
# A number token with a fraction or an exponent in orjson's compact output (orjson writes floats
# unlike ECMAScript), or a UTF-8 lead byte from U+E000 up (where orjson's key order may differ from
# RFC 8785's UTF-16 order). Either sends a value to the reference canonicaliser.
_JCS_DOUBT: Final = re.compile(rb"[:,\[]-?[0-9]+[.eE]|[\xee-\xff]")


def _now() -> datetime:
    return datetime.now(UTC)


def canonical_bytes(value: Any) -> bytes:
    """``canonical.canonicalize(value)``, computed by orjson when that is provably the same.

    orjson's sorted compact output is RFC 8785 for objects with ``str`` keys below U+E000, strings
    (same escapes), integers within ±(2**53 - 1) (``OPT_STRICT_INTEGER``), booleans and null. It is
    kept only when it holds no float token and no character from U+E000 up, and when it parses back
    equal to ``value`` (which rules out what orjson writes but the reference refuses: NaN, UUIDs,
    enums, tuples); anything else, and any orjson refusal, goes to the reference.
    """
    try:
        data = orjson.dumps(
            value, option=orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER | _PASSTHROUGH
        )
    except orjson.JSONEncodeError:
        return canonical.canonicalize(value)
    if _JCS_DOUBT.search(data) is not None or orjson.loads(data) != value:
        return canonical.canonicalize(value)
    return data


def content_digest(content: Mapping[str, Any]) -> str:
    """``canonical.content_digest(content)``, through the strict fast path when it is provably
    the same: orjson writes the record, :func:`canonical.parse_and_digest` reads it back, and the
    result is kept only when what was read equals ``content``."""
    try:
        data = orjson.dumps(content, option=orjson.OPT_STRICT_INTEGER | _PASSTHROUGH)
        parsed, digest = canonical.parse_and_digest(data)
    except (orjson.JSONEncodeError, MalformedJSONError):
        return canonical.content_digest(content)
    if parsed != content:
        return canonical.content_digest(content)
    return digest


def prompt_parent(prompt: Any, name: str | None = None) -> Parent:
    """A parent entry for the prompt a record was generated from (its digest, not its text)."""
    data = prompt.encode("utf-8") if isinstance(prompt, str) else canonical_bytes(prompt)
    return Parent(kind="prompt", name=name, digest=hashlib.sha256(data).hexdigest())


@dataclass
class RecordDraft:
    """A record being built by several models, part by part.

    >>> from provenance.manifest import Generator
    >>> draft = RecordDraft({"prompt": "2+2?"})
    >>> draft.set("/chosen", "4", generator=Generator("openai", "gpt-4o"), role="response")
    >>> draft.set("/score", 9, generator=Generator("anthropic", "claude-3-5-sonnet-20241022"),
    ...           role="judgement")
    >>> [c.pointer for c in draft.contributions]
    ['/chosen', '/score']
    """

    record: dict[str, Any]
    contributions: list[Contribution] = field(default_factory=list)

    def set(
        self,
        pointer: str,
        value: Any,
        *,
        generator: Generator,
        role: str = "response",
        terms: TermsRef | str | None = None,
        generated_at: datetime | None = None,
        response_id: str | None = None,
    ) -> None:
        """Put ``value`` at the top-level or nested ``pointer`` and record who wrote it."""
        _assign(self.record, pointer, value)
        self.add(
            pointer,
            generator=generator,
            role=role,
            terms=terms,
            generated_at=generated_at,
            response_id=response_id,
        )

    def add(
        self,
        pointer: str,
        *,
        generator: Generator,
        role: str = "response",
        terms: TermsRef | str | None = None,
        generated_at: datetime | None = None,
        response_id: str | None = None,
    ) -> None:
        """Record that the part already at ``pointer`` was written by ``generator``."""
        self.contributions.append(
            Contribution(
                generator=generator,
                pointer=pointer,
                role=role,
                terms=TermsRef(terms) if isinstance(terms, str) else terms,
                generated_at=generated_at or _now(),
                response_id=response_id,
            )
        )


def _assign(record: dict[str, Any], pointer: str, value: Any) -> None:
    if not pointer.startswith("/"):
        raise InputError(f"pointer '{pointer}' must start with '/'")
    *parents, last = pointer[1:].split("/")
    target: Any = resolve_pointer(record, "/" + "/".join(parents)) if parents else record
    last = last.replace("~1", "/").replace("~0", "~")
    if isinstance(target, list):
        if last == "-":
            target.append(value)
        else:
            target[int(last)] = value
    else:
        target[last] = value


class Tagger:
    """Signs manifests for records written by one generator (or, with drafts, by several).

    The defaults given here (provider, model, service, terms, organisation) describe the generator;
    :meth:`tag` can override the per-response facts (model as returned, time, response id).
    """

    def __init__(
        self,
        signer: Signer,
        *,
        provider: str,
        model: str,
        service: str | None = None,
        terms: TermsRef | str | None = None,
        organization: str | None = None,
        model_returned: str | None = None,
        revision: str | None = None,
        id_field: str = "id",
        parameters: Mapping[str, Any] | None = None,
        clock: Callable[[], datetime] = _now,
        part_digests: bool = False,
    ) -> None:
        self.signer = signer
        self.generator = Generator(
            provider=provider.lower(),
            model=model,
            model_returned=model_returned,
            revision=revision,
            service=service,
        )
        self.terms = TermsRef(terms) if isinstance(terms, str) else terms
        self.organization = organization
        self.id_field = id_field
        self.parameters = dict(parameters or {})
        self.clock = clock
        self.part_digests = part_digests
        self._keyid: str | None = None

    @property
    def keyid(self) -> str:
        """The signer's key id (computed once)."""
        if self._keyid is None:
            self._keyid = self.signer.keyid
        return self._keyid

    # ---- building manifests -----------------------------------------------------------------

    def _contributions(
        self,
        contributions: Sequence[Contribution] | None,
        generated_at: datetime | None,
        model_returned: str | None,
        response_id: str | None,
    ) -> Sequence[Contribution]:
        if contributions is not None:
            return contributions
        generator = self.generator
        if model_returned:
            generator = replace(generator, model_returned=model_returned)
        return [
            Contribution(
                generator=generator,
                pointer="",
                role="response",
                terms=self.terms,
                generated_at=generated_at or self.clock(),
                response_id=response_id,
            )
        ]

    def _predicate(
        self,
        contributions: Sequence[Contribution],
        parents: Iterable[Parent],
        parameters: Mapping[str, Any] | None,
        signed_at: datetime,
        unattributed: Sequence[str] = (),
    ) -> RecordPredicate:
        contributions, parents = tuple(contributions), tuple(parents)
        past = past_limits(len(contributions), len(parents))
        if past is not None:
            name, count, most = past
            raise InputError(
                f"{count} {name}, more than the {most} a manifest may name (Limits.max_{name})"
            )
        return RecordPredicate(
            contributions=contributions,
            organization=self.organization,
            parents=parents,
            parameters=dict(parameters if parameters is not None else self.parameters),
            signed_at=signed_at,
            sdk=SDK,
            extra={UNATTRIBUTED_PARTS: list(unattributed)} if unattributed else {},
        )

    def statement_for(
        self,
        record: Mapping[str, Any],
        *,
        contributions: Sequence[Contribution] | None = None,
        parents: Iterable[Parent] = (),
        generated_at: datetime | None = None,
        model_returned: str | None = None,
        response_id: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> bytes:
        """The canonical statement bytes for ``record`` (what is signed)."""
        content = {k: v for k, v in record.items() if k != PROVENANCE_KEY}
        parts = self._parts(content, contributions, generated_at, model_returned, response_id)
        unattributed = unattributed_parts(content, parts, self.id_field)
        predicate = self._predicate(parts, parents, parameters, self.clock(), unattributed)
        digest = content_digest(content)
        return self._statement_bytes(self.record_id(record, digest), digest, predicate)

    def _parts(
        self,
        content: Mapping[str, Any],
        contributions: Sequence[Contribution] | None,
        generated_at: datetime | None,
        model_returned: str | None,
        response_id: str | None,
    ) -> Sequence[Contribution]:
        """The contributions of a record with ``content``, with part digests when asked for."""
        parts = self._contributions(contributions, generated_at, model_returned, response_id)
        if not self.part_digests:
            return parts
        return [
            replace(c, part_digest=part_digest(resolve_pointer(content, c.pointer))) for c in parts
        ]

    def _statement_bytes(
        self,
        record_id: str,
        digest: str,
        predicate: RecordPredicate,
        predicate_bytes: bytes | None = None,
    ) -> bytes:
        """The canonical statement of a record; ``predicate_bytes``, when given, are the
        canonical bytes of ``predicate``, computed once for many records."""
        name = _json_string(record_id)
        if name is None:
            return canonical.canonicalize(build_statement(record_id, digest, predicate))
        if predicate_bytes is None:
            predicate_bytes = canonical_bytes(predicate.to_dict())
        return canonical_statement(predicate_bytes, digest, name)

    def record_id(self, record: Mapping[str, Any], digest: str | None = None) -> str:
        """The record's id field, or for a record without one an id derived from its content
        (see :func:`derived_id`); ``digest`` is its content digest when already known."""
        value = record.get(self.id_field)
        if _usable_id(value):
            return str(value)
        if digest is None:
            digest = content_digest({k: v for k, v in record.items() if k != PROVENANCE_KEY})
        return derived_id(digest)

    # ---- per-record signing -----------------------------------------------------------------

    def envelope(self, payload: bytes) -> dict[str, Any]:
        """The DSSE envelope (as JSON) signing ``payload`` as an in-toto statement."""
        sig = self.signer.sign(dsse.pae(PAYLOAD_TYPE, payload))
        return {
            "payloadType": PAYLOAD_TYPE,
            "payload": dsse.b64encode(payload),
            "signatures": [{"keyid": self.keyid or "", "sig": dsse.b64encode(sig)}],
        }

    def tag(
        self,
        record: Mapping[str, Any],
        *,
        parents: Iterable[Parent] = (),
        generated_at: datetime | None = None,
        model_returned: str | None = None,
        response_id: str | None = None,
        contributions: Sequence[Contribution] | None = None,
    ) -> dict[str, Any]:
        """Return a copy of ``record`` with a signed per-record manifest under ``_provenance``."""
        payload = self.statement_for(
            record,
            contributions=contributions,
            parents=parents,
            generated_at=generated_at,
            model_returned=model_returned,
            response_id=response_id,
        )
        out = {k: v for k, v in record.items() if k != PROVENANCE_KEY}
        out[PROVENANCE_KEY] = {"dsse": self.envelope(payload)}
        return out

    def sign_draft(self, draft: RecordDraft, *, parents: Iterable[Parent] = ()) -> dict[str, Any]:
        """Sign a record built part by part; every part's author is named in the manifest."""
        if not draft.contributions:
            raise InputError("the draft has no contributions; use set() or add() first")
        return self.tag(draft.record, parents=parents, contributions=draft.contributions)

    # ---- batch signing ----------------------------------------------------------------------

    def batch_envelope(self, root: bytes, size: int, signed_at: datetime) -> dict[str, Any]:
        """The envelope signing a batch statement over the Merkle ``root`` of ``size`` leaves."""
        batch_statement = {
            "_type": STATEMENT_TYPE,
            "subject": [{"name": f"batch:{root.hex()[:32]}", "digest": {"sha256": root.hex()}}],
            "predicateType": BATCH_PREDICATE_TYPE,
            "predicate": {
                "tree_size": size,
                "signed_at": format_time(signed_at),
                "organization": self.organization,
                "sdk": SDK,
            },
        }
        return self.envelope(canonical.canonicalize(batch_statement))

    def tag_batch(
        self, records: Sequence[Mapping[str, Any]], statements: Sequence[bytes] | None = None
    ) -> list[dict[str, Any]]:
        """Sign ``records`` under one envelope over the Merkle root of their manifests."""
        return self.sign_batch(records, statements)[0]

    def sign_batch(
        self,
        records: Sequence[Mapping[str, Any]],
        statements: Sequence[bytes] | None = None,
        *,
        sidecar: str | None = None,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Sign ``records`` as one batch; returns the signed records and the batch envelope.

        With ``sidecar`` (the name of the sidecar file next to the data file) each record names
        the envelope by that file and the batch root instead of carrying it, and the second value
        is the sidecar line to write; else it is None.
        """
        if not records:
            return [], None
        payloads = (
            list(statements) if statements is not None else [self.statement_for(r) for r in records]
        )
        levels = merkle.tree_levels([hashlib.sha256(b"\x00" + p).digest() for p in payloads])
        root = levels[-1][0]
        size = len(records)
        envelope = self.batch_envelope(root, size, self.clock())
        paths = merkle.level_paths(levels, _hex_step, _NO_STEPS)
        reference: dict[str, Any] = (
            {"dsse": envelope} if sidecar is None else {"sidecar": sidecar, "root": root.hex()}
        )
        out = []
        for index, (record, payload, path) in enumerate(zip(records, payloads, paths, strict=True)):
            tagged = {k: v for k, v in record.items() if k != PROVENANCE_KEY}
            tagged[PROVENANCE_KEY] = {
                "statement": dsse.b64encode(payload),
                "batch": {"index": index, "size": size, "path": path, **reference},
            }
            out.append(tagged)
        line = None if sidecar is None else {"root": root.hex(), "size": size, "dsse": envelope}
        return out, line

    # ---- streaming ----------------------------------------------------------------------------

    @contextmanager
    def writer(
        self, path: str | Path, *, batch_size: int | None = None, sidecar: bool = False
    ) -> Iterator[RecordWriter]:
        """Stream signed records to a JSONL file (``.gz``/``.zst`` compress).

        With ``batch_size`` and ``sidecar``, the batch envelopes go to ``<path>.batches`` next to
        the file, which each record names, instead of into every record.

        >>> import tempfile, os
        >>> from provenance.keys import PrivateKeySigner
        >>> tagger = Tagger(PrivateKeySigner.generate(), provider="meta",
        ...                 model="meta-llama/Llama-3.1-8B-Instruct", service="self-hosted")
        >>> out = os.path.join(tempfile.mkdtemp(), "data.jsonl")
        >>> with tagger.writer(out, batch_size=2) as w:
        ...     for i in range(3):
        ...         w.write({"id": i, "text": "hello"})
        >>> sum(1 for _ in open(out))
        3
        """
        from provenance.sources.jsonl import open_binary_write

        target = Path(path)
        if sidecar and batch_size is None:
            raise InputError("a batch sidecar needs a batch size")
        with open_binary_write(target) as handle:
            if not sidecar:
                w = RecordWriter(self, handle, batch_size)
                yield w
                w.flush()
                return
            with sidecar_path(target).open("wb") as side:
                w = RecordWriter(self, handle, batch_size, sidecar=(target.name, side))
                yield w
                w.flush()


def sidecar_path(path: Path) -> Path:
    """Where the batch sidecar of the data file ``path`` lives."""
    return path.with_name(path.name + SIDECAR_SUFFIX)


class RecordWriter:
    """Writes signed records as JSONL, one manifest each, batching signatures when asked."""

    def __init__(
        self,
        tagger: Tagger,
        handle: IO[bytes],
        batch_size: int | None,
        *,
        sidecar: tuple[str, IO[bytes]] | None = None,
    ) -> None:
        if batch_size is not None and batch_size < 1:
            raise InputError("batch size must be at least 1")
        self.tagger = tagger
        self.handle = handle
        self.batch_size = batch_size
        self.sidecar = sidecar
        self.count = 0
        self._pending: list[Mapping[str, Any]] = []
        self._statements: list[bytes] = []

    def write(self, record: Mapping[str, Any], **facts: Any) -> None:
        """Sign and write one record; ``facts`` are passed to :meth:`Tagger.tag`."""
        if self.batch_size is None:
            self._emit([self.tagger.tag(record, **facts)])
            return
        self._pending.append(record)
        self._statements.append(self.tagger.statement_for(record, **facts))
        if len(self._pending) >= self.batch_size:
            self.flush()

    def write_draft(self, draft: RecordDraft, *, parents: Iterable[Parent] = ()) -> None:
        self.write(draft.record, contributions=draft.contributions, parents=parents)

    def flush(self) -> None:
        if self._pending:
            name = None if self.sidecar is None else self.sidecar[0] + SIDECAR_SUFFIX
            records, line = self.tagger.sign_batch(self._pending, self._statements, sidecar=name)
            self._emit(records)
            if self.sidecar is not None and line is not None:
                self.sidecar[1].write(orjson.dumps(line) + b"\n")
            self._pending, self._statements = [], []

    def _emit(self, records: list[dict[str, Any]]) -> None:
        lines = [orjson.dumps(r) for r in records]
        most = DEFAULT_LIMITS.max_record_bytes
        for index, line in enumerate(lines):
            if len(line) > most:
                raise InputError(
                    f"record {self.count + index + 1} is {len(line)} bytes once signed, longer "
                    f"than the {most} bytes of the longest line 'provenance verify' reads "
                    "(Limits.max_record_bytes)"
                )
        self.handle.write(b"".join(line + b"\n" for line in lines))
        self.count += len(lines)


# ---- whole files, on every core ---------------------------------------------------------------


def _json_string(text: str) -> bytes | None:
    """The RFC 8785 form of a string (orjson escapes as RFC 8785 does), or None for a string
    that has none (a lone surrogate)."""
    try:
        return orjson.dumps(text)
    except orjson.JSONEncodeError:
        return None


@dataclass(frozen=True)
class _Job:
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
    commit: _Commit | None = None
    """When set, workers write their output into the output file themselves, in input order."""
    optional: frozenset[str] = frozenset()
    """Pointers of ``contributions`` that a record may lack."""
    time_field: str | None = None
    """The record member holding its generation time, when each record gives its own."""

    @property
    def per_record(self) -> bool:
        """Whether each record is read whole for its manifest: parts are checked against it, or
        its time is read from it."""
        return self.contributions is not None or self.time_field is not None


class _Commit:
    """Workers' output written straight into a regular output file, in input order.

    A worker whose task is signed waits until every earlier task has taken its place in the file,
    takes the next one (the bytes after them) and writes there (``pwrite``), so the output is
    written once, by the workers, one at a time while the others go on signing. Tasks are
    numbered from 0 in input order and workers take them in that order, so the task a worker
    waits for is already being signed. The parent sets :meth:`abort` when it stops early; a
    waiting worker then gives up.
    """

    def __init__(self, context: Any, fd: int, base: int) -> None:
        self.fd = fd
        self.base = base
        self._ready = context.Condition()
        self._next = context.RawValue("q", 0)
        self._offset = context.RawValue("q", 0)
        self._stopped = context.RawValue("b", 0)
        self.writing = context.Lock()
        """Held while a worker writes: writers of one file contend for it in the kernel, so
        one writes at a time while the others sign."""

    @property
    def written(self) -> int:
        """Bytes placed so far."""
        return int(self._offset.value)

    def place(self, number: int, size: int) -> int | None:
        """The file offset for task ``number``'s ``size`` bytes, once every earlier task has its
        place; None when the run was aborted."""
        with self._ready:
            while self._next.value != number:
                if self._stopped.value:
                    return None
                self._ready.wait(0.2)
            offset = int(self._offset.value)
            self._offset.value = offset + size
            self._next.value = number + 1
            self._ready.notify_all()
        return self.base + offset

    def abort(self) -> None:
        with self._ready:
            self._stopped.value = 1
            self._ready.notify_all()


def _direct_output(output: IO[bytes]) -> tuple[int, int] | None:
    """The descriptor and position of ``output`` when workers can write into it themselves: a
    plain, uncompressed regular file, not in append mode (flushed here); else None."""
    if not isinstance(output, io.BufferedWriter | io.FileIO):
        return None
    try:
        fd = output.fileno()
        if not stat.S_ISREG(os.fstat(fd).st_mode) or fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND:
            return None
        output.flush()
        return fd, output.tell()
    except OSError:
        return None


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        sent = os.pwrite(fd, view, offset)
        view, offset = view[sent:], offset + sent


@dataclass
class _Task:
    """Whole lines of the input, starting at line ``first_line`` (1-based): bytes ``start`` to
    ``end`` of the (uncompressed) source file, or ``data`` itself."""

    number: int
    first_line: int
    start: int = 0
    end: int = 0
    data: bytes | None = None
    error: InputError | None = None
    """Set on the task that ends the input early: why (a line too long, unreadable data)."""

    def read(self, source: str) -> bytes:
        from provenance.scan import Span

        return self.data if self.data is not None else Span(source, self.start, self.end).read()


@dataclass
class _Done:
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


class _Unsigned:
    """One input record, stated but not yet signed: its output bytes up to where the manifest
    member goes, and its statement."""

    __slots__ = ("head", "statement")

    def __init__(self, body: bytes, empty: bool, statement: bytes) -> None:
        # The output line is the input bytes with ``_provenance`` added as the last member (as
        # the only one when the record is empty).
        self.head = b"{" if empty else body[:-1] + b","
        self.statement = statement


def _sign_task(job: _Job, task: _Task) -> _Done:
    """Parse, state, sign and serialise one task's records: in batch mode with one predicate for
    every record, natively when every record of the task allows it (see
    :func:`provenance.canonical.tag_batch`), else here."""
    try:
        now = job.tagger.clock()
        shared = _shared_predicate(job, now)
        data = task.read(job.source)
        done = None
        if job.batch_size is not None and shared is not None:
            done = _sign_natively(job, data, shared[1], now)
        if done is None:
            counts: dict[str, int] = {}
            stated = _state_task(job, task.first_line, data, shared, now, counts)
            done = _sign_records(job, stated, now)
            done.unattributed = counts
        if len(done.output) > job.max_line:
            _check_lengths(job, task.first_line, data, done.output)
        return done
    except ProvenanceError as exc:
        return _Done(error=(type(exc).__name__, exc.message, exc.line or 0, exc.hint))


def _check_lengths(job: _Job, first_line: int, data: bytes, output: bytes) -> None:
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


def _shared_predicate(job: _Job, now: datetime) -> tuple[RecordPredicate, bytes] | None:
    """The predicate every record of a task signed ``now`` shares, with its canonical bytes; None
    when each record has its own (part digests)."""
    tagger = job.tagger
    if tagger.part_digests or job.per_record:
        return None
    contributions = tagger._parts({}, job.contributions, job.generated_at or now, None, None)
    predicate = tagger._predicate(contributions, (), None, now)
    return predicate, canonical_bytes(predicate.to_dict())


def _sign_natively(job: _Job, data: bytes, predicate: bytes, now: datetime) -> _Done | None:
    """Batch-sign a task's lines in native code (the same bytes as :func:`_state_task` and
    :func:`_sign_records`), or None when a record must be read in Python."""
    side: list[bytes] = []

    def finish(root: bytes, size: int) -> bytes:
        tail, line = _batch_tail(job, root, size, now)
        side.append(line)
        return tail

    assert job.batch_size is not None
    signed = canonical.tag_batch(
        data, job.tagger.id_field, statement_head(predicate), job.batch_size, finish
    )
    if signed is None:
        return None
    return _Done(signed[1], signed[0], b"".join(side))


def _batch_tail(job: _Job, root: bytes, size: int, now: datetime) -> tuple[bytes, bytes]:
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
    return tail, orjson.dumps({"root": root.hex(), "size": size, "dsse": envelope}) + b"\n"


def _state_task(
    job: _Job,
    first_line: int,
    data: bytes,
    shared: tuple[RecordPredicate, bytes] | None,
    now: datetime,
    counts: dict[str, int],
) -> list[_Unsigned]:
    """Parse every record of a task's ``data`` and write its statement; only the bytes are
    kept. ``shared`` is :func:`_shared_predicate`; ``counts`` receives the members no part
    covers (:func:`unattributed_parts`), with the number of records."""
    predicates: dict[Any, tuple[RecordPredicate, bytes]] = {}
    tagger = job.tagger
    generated_at = job.generated_at or now
    records: list[_Unsigned] = []
    number = first_line - 1
    parse, scan, id_field = canonical.parse_and_digest, canonical.scan_line, tagger.id_field
    for line in data.split(b"\n"):
        number += 1
        if not line or line.isspace():
            continue
        line = line.rstrip()
        scanned = scan(line, id_field) if shared is not None else None
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
                record = {k: v for k, v in record.items() if k != PROVENANCE_KEY}
                body = orjson.dumps(record)
            empty, name = not record, tagger.record_id(record, digest)
        if shared is None:
            # Part digests, parts or a time per record: the whole record was read above (the
            # native reader was not asked).
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
            known = None if tagger.part_digests else predicates.get(key)
            if known is None:
                parts = tagger._parts(record, chosen, when, None, None)
                predicate = tagger._predicate(parts, (), None, now, unattributed)
                known = predicates[key] = (predicate, canonical_bytes(predicate.to_dict()))
            statement = tagger._statement_bytes(name, digest, *known)
        else:
            statement = tagger._statement_bytes(name, digest, *shared)
        records.append(_Unsigned(body, empty, statement))
    return records


def _usable_id(value: Any) -> bool:
    """Whether an id field's value names the record: a string or an integer."""
    return isinstance(value, str | int) and not isinstance(value, bool)


def derived_id(digest: str) -> str:
    """The id of a record without one: ``sha256:`` and the first 16 hex digits of its content
    digest. The same content always gets the same id, so tagging it again, in either tagging
    path, names it the same, and ``trace`` or ``explain`` find it by that id."""
    return "sha256:" + digest.removeprefix("sha256:")[:16]


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


def _record_name(value: Any, digest: str) -> str:
    """A record's id: its id field when that is a string or an integer, else one derived from its
    content digest (hex)."""
    return str(value) if _usable_id(value) else derived_id(digest)


def _sign_records(job: _Job, records: list[_Unsigned], now: datetime) -> _Done:
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
        return _Done(len(records), b"".join(out))
    for start in range(0, len(records), job.batch_size):
        batch = records[start : start + job.batch_size]
        levels = merkle.tree_levels([_sha256(b"\x00" + r.statement).digest() for r in batch])
        root = levels[-1][0]
        size = len(batch)
        tail, line = _batch_tail(job, root, size, now)
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
    return _Done(len(records), b"".join(out), b"".join(side))


_sha256 = hashlib.sha256


_WORKER: dict[str, Any] = {}


def _init_worker(job: _Job) -> None:
    from provenance.scan import leave_signals_to_parent, settle_worker_gc

    settle_worker_gc()
    leave_signals_to_parent()
    _WORKER["job"] = job


def _work(task: _Task) -> _Done:
    job: _Job = _WORKER["job"]
    commit = job.commit
    try:
        done = _sign_task(job, task)
    except BaseException:
        if commit is not None:
            commit.place(task.number, 0)
        raise
    if commit is not None:
        at = commit.place(task.number, len(done.output))
        if at is not None and done.output:
            with commit.writing:
                _pwrite_all(commit.fd, done.output, at)
        done.output = b""
    elif job.spool is not None and done.output:
        name = os.path.join(job.spool, f"{task.number}.part")
        with open(name, "wb") as handle:
            handle.write(done.output)
        done.output, done.spooled = b"", name
    return done


_SCAN_BYTES: Final = 1 << 20
"""Bytes read at a time while cutting the input into tasks."""


def _tasks(source: Path | IO[bytes], per_task: int, unit: int, max_line: int) -> Iterator[_Task]:
    """The input as tasks of whole lines, in order: ``per_task`` lines, or fewer once a task
    holds :data:`TASK_BYTES` (cut after a multiple of ``unit`` lines, so a batch is never split).

    A plain regular file is only scanned for line ends here (workers read their own lines); a
    compressed file, a pipe or a stream is read here and its lines handed over. Either way the
    input is read a block at a time and a line longer than ``max_line`` bytes is found without
    holding it: the tasks before it are yielded and then a task carrying the error, which ends
    the input.
    """
    from provenance.sources.jsonl import open_binary

    name = _source_name(source)
    if not isinstance(source, Path):
        yield from _cut(source, name, per_task, unit, max_line, keep=True)
        return
    plain = not source.name.endswith((".gz", ".zst"))
    if plain:
        try:
            handle: IO[bytes] = source.open("rb")
            regular = stat.S_ISREG(os.fstat(handle.fileno()).st_mode)
        except OSError as exc:
            raise InputError(f"cannot open ({exc.strerror})", source=name) from exc
    else:
        handle, regular = open_binary(source), False
    with handle:
        yield from _cut(handle, name, per_task, unit, max_line, keep=not (plain and regular))


def _source_name(source: Path | IO[bytes]) -> str:
    """How messages name the input: its path, or a stream's name (``<stdin>``)."""
    if isinstance(source, Path):
        return str(source)
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else "<stream>"


def _cut(
    handle: IO[bytes], source: str, per_task: int, unit: int, max_line: int, *, keep: bool
) -> Iterator[_Task]:
    """:func:`_tasks` on an open input: byte ranges of it, or (``keep``) the bytes themselves.

    Offsets count from where the input starts. Every line is checked while it is read: a line
    within one block is shorter than the block, which is at most ``max_line + 1`` bytes; a line
    running over blocks is measured at each block it reaches.
    """
    size = max(1, min(_SCAN_BYTES, max_line + 1))
    number = 0
    first = 1  # the current task's first line
    taken = 0  # line ends found in the current task
    start = 0  # where the current task starts
    line_start = 0  # where the line under way starts
    position = 0  # where the block starts
    need: int | None = None  # line ends left to the current task's end, once that is fixed
    pieces: list[bytes] = []  # with ``keep``: the current task's bytes before this block
    while True:
        try:
            block = handle.read(size)
        except InputError:
            raise
        except Exception as exc:  # OSError, EOFError, zlib's and zstd's own errors
            yield _Task(number, first + taken, error=_read_error(exc, source, first + taken))
            return
        if not block:
            break
        first_end = block.find(b"\n")
        reach = position + (first_end if first_end >= 0 else len(block))
        if reach - line_start > max_line:
            # The tasks before the line go first, so that an error in them is named first.
            if line_start > start:
                data = b"".join(pieces)[: line_start - 1 - start] if keep else None
                yield _Task(number, first, start, line_start - 1, data)
                number += 1
            line = first + taken
            yield _Task(number, line, error=too_long(source, line, max_line))
            return
        at = -1  # where in the block the last task ended
        while True:
            if need is None:
                # Once the task holds TASK_BYTES, it ends at the next line end closing a unit.
                full = start + TASK_BYTES - 1 - position
                if full < len(block):
                    end = block.find(b"\n", max(at + 1, full))
                    if end >= 0:
                        ends = block.count(b"\n", at + 1, end) + 1
                        need = min(per_task - taken, ends + (-(taken + ends)) % unit)
            count = need if need is not None else per_task - taken
            cut, left = _native.line_end(block, at + 1, count)
            if cut < 0:
                taken += count - left
                if need is not None:
                    need = left
                break
            data = None
            if keep:
                pieces.append(block[at + 1 : cut])
                data = b"".join(pieces)
                pieces = []
            yield _Task(number, first, start, position + cut, data)
            number += 1
            first += taken + count
            taken, need = 0, None
            start = position + cut + 1
            at = cut
        if keep:
            pieces.append(block[at + 1 :])
        last_end = block.rfind(b"\n")
        if last_end >= 0:
            line_start = position + last_end + 1
        position += len(block)
    if position > start:
        yield _Task(number, first, start, position, b"".join(pieces) if keep else None)


def too_long(
    source: str, line: int, max_line: int, signed: int | None = None, what: str = "line"
) -> InputError:
    """The error for a line (or a Parquet or datasets record, ``what``) that no reader takes:
    longer than ``max_line`` bytes as it stands, or once ``signed`` (its length with the
    manifest)."""
    what = f"{what} longer than {max_line} bytes"
    if signed is not None:
        what += f" once signed ({signed} bytes with its manifest)"
    return InputError(
        what,
        source=source,
        line=line,
        hint=f"'provenance verify' reads lines of at most {max_line} bytes, a record's "
        "manifest included (Limits.max_record_bytes)",
    )


def _read_error(exc: Exception, source: str, line: int) -> InputError:
    """An input that stops being readable at ``line`` (:func:`~provenance.sources.jsonl.read_error`);
    any other exception goes on."""
    from provenance.sources.jsonl import read_error

    error = read_error(exc, source, line)
    if error is None:
        raise exc
    return error


def _spool_root() -> str | None:
    """A memory-backed folder for the workers' output when the system has one (the output is
    then written to disk once, by the parent), else the default temporary folder."""
    shm = "/dev/shm"  # noqa: S108 - a tmpfs, private to this run by the random folder name
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None


def _size(task: _Task) -> int:
    return len(task.data) if task.data is not None else task.end - task.start


def _append(output: IO[bytes], name: str) -> None:
    """Append the spool file ``name`` to ``output`` and remove it (a copy in the kernel when
    ``output`` is a plain file)."""
    with open(name, "rb") as part:
        size = os.fstat(part.fileno()).st_size
        copied = 0
        if isinstance(output, io.BufferedWriter) and hasattr(os, "copy_file_range"):
            output.flush()
            try:
                while copied < size:
                    sent = os.copy_file_range(part.fileno(), output.fileno(), size - copied)
                    if sent == 0:
                        break
                    copied += sent
            except OSError:
                pass
        if copied < size:
            part.seek(copied)
            shutil.copyfileobj(part, output, 1 << 20)
    os.unlink(name)


def _hex_step(node: bytes) -> list[str]:
    """One step of an audit path as records carry it: the node in lower-case hex."""
    return [node.hex()]


_NO_STEPS: Final[list[str]] = []
"""The empty audit path (paths are built with ``+``, never changed in place)."""


def _b64(data: bytes) -> bytes:
    return binascii.b2a_base64(data, newline=False)


def tag_jsonl(
    tagger: Tagger,
    source: Path | IO[bytes],
    output: IO[bytes],
    *,
    batch_size: int | None = None,
    generated_at: datetime | None = None,
    contributions: Sequence[Contribution] | None = None,
    replace_existing: bool = False,
    sidecar: tuple[str, IO[bytes]] | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    max_line: int = DEFAULT_LIMITS.max_record_bytes,
    optional_parts: Collection[str] = (),
    time_field: str | None = None,
    unattributed: dict[str, int] | None = None,
) -> int:
    """Sign every record of the JSONL file ``source`` (plain, .gz or .zst; a pipe, or an open
    binary stream such as ``sys.stdin.buffer``) into ``output``.

    The records are written in input order, each as its input bytes with ``_provenance`` added
    (or, with ``replace_existing``, re-serialised without the manifest it had); blank lines are
    dropped. ``generated_at`` (default: the signing time) and ``contributions`` are as for
    :meth:`Tagger.statement_for`; the signing time is read once per task of a few thousand
    records. In batch mode (``batch_size``) each batch is ``batch_size``
    consecutive records; ``sidecar`` is the data file's final name and the open sidecar file, when
    the batch envelopes go there instead of into every record. Records are signed on ``workers``
    processes (default: every core for large inputs). Returns the number of records.

    With ``contributions``, each record must hold every part they name but those in
    ``optional_parts`` (see :func:`record_parts`), and ``unattributed``, when given, receives the
    top-level members no part covers with their number of records (see
    :func:`unattributed_parts`). With ``time_field``, each record's generation time is read
    from that member (see :func:`record_time`).

    Every line written is one a reader takes: no longer than ``max_line`` bytes (by default
    ``Limits.max_record_bytes``, the longest line ``provenance verify`` reads), strict JSON
    nested no deeper than ``Limits.max_json_depth``. A longer input line is refused while it
    is read, without holding it. Raises the first input error in input order (a line that is
    not strict JSON, too long as it stands or once signed, a record already signed), naming its
    file and line; what was written to ``output`` before is then incomplete.
    """
    from provenance.scan import default_workers

    most = DEFAULT_LIMITS.max_batch_size
    if batch_size is not None and not 1 <= batch_size <= most:
        raise InputError(f"batch size must be between 1 and {most}")
    name = _source_name(source)
    job = _Job(
        tagger,
        name,
        batch_size,
        generated_at,
        None if contributions is None else tuple(contributions),
        replace_existing,
        None if sidecar is None else sidecar[0] + SIDECAR_SUFFIX,
        max_line,
        optional=frozenset(optional_parts),
        time_field=time_field,
    )
    per_task = max(1, TASK_BYTES // 1024)
    if batch_size is not None:
        per_task = batch_size * max(1, per_task // batch_size)
    if workers is None:
        size = source.stat().st_size if isinstance(source, Path) and source.is_file() else 0
        workers = 1 if size < INLINE_BYTES else default_workers()
    tasks = _tasks(source, per_task, batch_size or 1, max_line)
    count = 0
    done_bytes = 0

    def take(done: _Done, size: int) -> None:
        nonlocal count, done_bytes
        if done.error is not None:
            kind, message, line, hint = done.error
            error = MalformedJSONError if kind == MalformedJSONError.__name__ else InputError
            raise error(message, source=name, line=line or None, hint=hint)
        if done.spooled is not None:
            _append(output, done.spooled)
        else:
            output.write(done.output)
        if sidecar is not None and done.sidecar:
            sidecar[1].write(done.sidecar)
        if unattributed is not None:
            for pointer, records in done.unattributed.items():
                unattributed[pointer] = unattributed.get(pointer, 0) + records
        count += done.records
        done_bytes += size
        if progress:
            progress(count, done_bytes)

    if workers <= 1:
        for task in tasks:
            if task.error is not None:
                raise task.error
            take(_sign_task(job, task), _size(task))
        return count
    context = get_context("fork")
    direct = _direct_output(output)
    commit = None if direct is None else _Commit(context, *direct)
    # Named by the process, so that whoever finds one knows whose it is.
    prefix = f"provenance-tag-{os.getpid()}-"
    with tempfile.TemporaryDirectory(prefix=prefix, dir=_spool_root()) as spool:
        job = replace(job, spool=spool, commit=commit)
        window: deque[tuple[Future[_Done], int]] = deque()
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_init_worker, initargs=(job,)
        ) as pool:
            try:
                for task in tasks:
                    if task.error is not None:
                        # The tasks before it are taken first: an error in them comes first.
                        while window:
                            future, size = window.popleft()
                            take(future.result(), size)
                        raise task.error
                    window.append((pool.submit(_work, task), _size(task)))
                    if len(window) >= 2 * workers:
                        future, size = window.popleft()
                        take(future.result(), size)
                while window:
                    future, size = window.popleft()
                    take(future.result(), size)
            except BaseException:
                if commit is not None:
                    commit.abort()
                for future, _ in window:
                    future.cancel()
                raise
    if commit is not None:
        output.seek(commit.base + commit.written)
    return count
