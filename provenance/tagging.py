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
N manifests and every record carries its leaf index, the tree size and its audit path.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from provenance import __version__, canonical, dsse, merkle
from provenance.errors import InputError
from provenance.keys import Signer
from provenance.manifest import (
    BATCH_PREDICATE_TYPE,
    PAYLOAD_TYPE,
    STATEMENT_TYPE,
    Contribution,
    Generator,
    Parent,
    RecordPredicate,
    TermsRef,
    build_statement,
    format_time,
)
from provenance.verification import PROVENANCE_KEY, part_digest, resolve_pointer

SDK = {"name": "provenance", "version": __version__}


def _now() -> datetime:
    return datetime.now(UTC)


def prompt_parent(prompt: Any, name: str | None = None) -> Parent:
    """A parent entry for the prompt a record was generated from (its digest, not its text)."""
    data = prompt.encode("utf-8") if isinstance(prompt, str) else canonical.canonicalize(prompt)
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

    # ---- building manifests -----------------------------------------------------------------

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
        if contributions is None:
            generator = self.generator
            if model_returned:
                generator = replace(generator, model_returned=model_returned)
            contributions = [
                Contribution(
                    generator=generator,
                    pointer="",
                    role="response",
                    terms=self.terms,
                    generated_at=generated_at or self.clock(),
                    response_id=response_id,
                )
            ]
        if self.part_digests:
            contributions = [
                replace(c, part_digest=part_digest(resolve_pointer(content, c.pointer)))
                for c in contributions
            ]
        predicate = RecordPredicate(
            contributions=tuple(contributions),
            organization=self.organization,
            parents=tuple(parents),
            parameters=dict(parameters if parameters is not None else self.parameters),
            signed_at=self.clock(),
            sdk=SDK,
        )
        statement = build_statement(
            self.record_id(record), canonical.content_digest(content), predicate
        )
        return canonical.canonicalize(statement)

    def record_id(self, record: Mapping[str, Any]) -> str:
        value = record.get(self.id_field)
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
        return uuid.uuid4().hex

    # ---- per-record signing -----------------------------------------------------------------

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
        envelope = dsse.sign(PAYLOAD_TYPE, payload, [self.signer])
        out = {k: v for k, v in record.items() if k != PROVENANCE_KEY}
        out[PROVENANCE_KEY] = {"dsse": envelope.to_dict()}
        return out

    def sign_draft(self, draft: RecordDraft, *, parents: Iterable[Parent] = ()) -> dict[str, Any]:
        """Sign a record built part by part; every part's author is named in the manifest."""
        if not draft.contributions:
            raise InputError("the draft has no contributions; use set() or add() first")
        return self.tag(draft.record, parents=parents, contributions=draft.contributions)

    # ---- batch signing ----------------------------------------------------------------------

    def tag_batch(
        self, records: Sequence[Mapping[str, Any]], statements: Sequence[bytes] | None = None
    ) -> list[dict[str, Any]]:
        """Sign ``records`` under one envelope over the Merkle root of their manifests."""
        if not records:
            return []
        payloads = (
            list(statements) if statements is not None else [self.statement_for(r) for r in records]
        )
        leaves = [merkle.leaf_hash(p) for p in payloads]
        root = merkle.root_from_leaf_hashes(leaves)
        proofs = merkle.inclusion_proofs(leaves)
        batch_statement = {
            "_type": STATEMENT_TYPE,
            "subject": [{"name": f"batch:{root.hex()[:32]}", "digest": {"sha256": root.hex()}}],
            "predicateType": BATCH_PREDICATE_TYPE,
            "predicate": {
                "tree_size": len(records),
                "signed_at": format_time(self.clock()),
                "organization": self.organization,
                "sdk": SDK,
            },
        }
        envelope = dsse.sign(
            PAYLOAD_TYPE, canonical.canonicalize(batch_statement), [self.signer]
        ).to_dict()
        size = len(records)
        out = []
        for index, (record, payload, proof) in enumerate(
            zip(records, payloads, proofs, strict=True)
        ):
            tagged = {k: v for k, v in record.items() if k != PROVENANCE_KEY}
            tagged[PROVENANCE_KEY] = {
                "statement": dsse.b64encode(payload),
                "batch": {
                    "index": index,
                    "size": size,
                    "path": [p.hex() for p in proof],
                    "dsse": envelope,
                },
            }
            out.append(tagged)
        return out

    # ---- streaming ----------------------------------------------------------------------------

    @contextmanager
    def writer(self, path: str | Path, *, batch_size: int | None = None) -> Iterator[RecordWriter]:
        """Stream signed records to a JSONL file (``.gz``/``.zst`` compress).

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

        with open_binary_write(Path(path)) as handle:
            w = RecordWriter(self, handle, batch_size)
            yield w
            w.flush()


class RecordWriter:
    """Writes signed records as JSONL, one manifest each, batching signatures when asked."""

    def __init__(self, tagger: Tagger, handle: IO[bytes], batch_size: int | None) -> None:
        if batch_size is not None and batch_size < 1:
            raise InputError("batch size must be at least 1")
        self.tagger = tagger
        self.handle = handle
        self.batch_size = batch_size
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
            self._emit(self.tagger.tag_batch(self._pending, self._statements))
            self._pending, self._statements = [], []

    def _emit(self, records: list[dict[str, Any]]) -> None:
        self.handle.write(b"".join(orjson.dumps(r) + b"\n" for r in records))
        self.count += len(records)
