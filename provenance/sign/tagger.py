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

Every step is a function of :mod:`provenance.sign.reference`; the ``canonical_fast`` strategy
(:mod:`provenance.sign.canonical_fast`) computes canonical bytes and digests when the tagger's
``strategies`` include it. :func:`provenance.sign.tag_jsonl` signs a whole JSONL file on every core;
it is what ``provenance tag`` runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from provenance import canonical
from provenance.errors import InputError
from provenance.keys import Signer
from provenance.limits import DEFAULT_LIMITS
from provenance.manifest import (
    Contribution,
    Generator,
    Parent,
    RecordPredicate,
    TermsRef,
)
from provenance.record import PROVENANCE_KEY, SIDECAR_SUFFIX, part_digest, resolve_pointer
from provenance.sign import reference
from provenance.sign.canonical_fast import canonical_bytes, statement_bytes
from provenance.sign.canonical_fast import content_digest as fast_content_digest
from provenance.sign.strategies import CANONICAL_FAST, chosen


def _now() -> datetime:
    return datetime.now(UTC)


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
    ``strategies`` names the fast strategies it may use (default: all); with none, every record
    is signed by :mod:`provenance.sign.reference` alone, to the same bytes.
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
        strategies: Collection[str] | None = None,
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
        self.strategies = chosen(strategies)
        """The fast strategies this tagger may use (:mod:`provenance.sign.strategies`); none
        runs the reference path alone."""
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
        return reference.record_predicate(
            contributions,
            parents,
            parameters if parameters is not None else self.parameters,
            signed_at,
            self.organization,
            unattributed,
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
        content = reference.content_of(record)
        parts = self._parts(content, contributions, generated_at, model_returned, response_id)
        unattributed = reference.unattributed_parts(content, parts, self.id_field)
        predicate = self._predicate(parts, parents, parameters, self.clock(), unattributed)
        digest = self.content_digest(content)
        return self.statement_bytes(self.record_id(record, digest), digest, predicate)

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

    def content_digest(self, content: Mapping[str, Any]) -> str:
        """:func:`reference.content_digest`, by ``canonical_fast`` when the tagger uses it."""
        if CANONICAL_FAST in self.strategies:
            return fast_content_digest(content)
        return reference.content_digest(content)

    def predicate_bytes(self, predicate: RecordPredicate) -> bytes:
        """The canonical bytes of ``predicate``, by ``canonical_fast`` when the tagger uses it."""
        if CANONICAL_FAST in self.strategies:
            return canonical_bytes(predicate.to_dict())
        return canonical.canonicalize(predicate.to_dict())

    def statement_bytes(self, record_id: str, digest: str, predicate: RecordPredicate) -> bytes:
        """:func:`reference.record_statement`, by ``canonical_fast`` when the tagger uses it."""
        if CANONICAL_FAST in self.strategies:
            return statement_bytes(record_id, digest, predicate, self.predicate_bytes(predicate))
        return reference.record_statement(record_id, digest, predicate)

    def record_id(self, record: Mapping[str, Any], digest: str | None = None) -> str:
        """The record's id field, or for a record without one an id derived from its content
        (see :func:`reference.derived_id`); ``digest`` is its content digest when already
        known."""
        if digest is None and not reference.usable_id(record.get(self.id_field)):
            digest = self.content_digest(reference.content_of(record))
        return reference.record_id(record, self.id_field, digest or "")

    # ---- per-record signing -----------------------------------------------------------------

    def envelope(self, payload: bytes) -> dict[str, Any]:
        """The DSSE envelope (as JSON) signing ``payload`` as an in-toto statement."""
        return reference.envelope(self.signer, self.keyid, payload)

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
        out = reference.content_of(record)
        out[PROVENANCE_KEY] = reference.record_manifest(self.envelope(payload))
        return out

    def sign_draft(self, draft: RecordDraft, *, parents: Iterable[Parent] = ()) -> dict[str, Any]:
        """Sign a record built part by part; every part's author is named in the manifest."""
        if not draft.contributions:
            raise InputError("the draft has no contributions; use set() or add() first")
        return self.tag(draft.record, parents=parents, contributions=draft.contributions)

    # ---- batch signing ----------------------------------------------------------------------

    def batch_envelope(self, root: bytes, size: int, signed_at: datetime) -> dict[str, Any]:
        """The envelope signing a batch statement over the Merkle ``root`` of ``size`` leaves."""
        return reference.batch_envelope(
            self.signer, self.keyid, root, size, signed_at, self.organization
        )

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
        manifests, line = reference.sign_batch(
            self.signer, self.keyid, payloads, self.clock(), self.organization, sidecar
        )
        out = []
        for record, manifest in zip(records, manifests, strict=True):
            tagged = reference.content_of(record)
            tagged[PROVENANCE_KEY] = manifest
            out.append(tagged)
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
