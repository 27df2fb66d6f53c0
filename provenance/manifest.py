"""The manifest: an in-toto Statement v1 about one record.

A manifest names the record (subject: record id + SHA-256 content digest) and, in its predicate, every
model that wrote a part of it (a *contribution*: generator, terms, time, JSON Pointer of the part and
its role), the parents it was made from, the generation parameters and the SDK that signed it. A record
written by one model has one contribution whose pointer is ``""`` (the whole record, RFC 6901).

The classes are frozen and round-trip through ``from_dict``/``to_dict``; fields this version does not
know are kept in ``extra`` and written back, so a newer manifest survives an older tool. Verification
never re-serialises these objects: it checks the signed payload bytes (see ``provenance.dsse``).

Spec: https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as dt_time
from typing import Any

from provenance.errors import InputError, ProvenanceError, shown
from provenance.limits import DEFAULT_LIMITS

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://provenance.dev/record/v1"
BATCH_PREDICATE_TYPE = "https://provenance.dev/batch/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
UNATTRIBUTED_PARTS = "unattributed_parts"
"""Predicate member listing, as JSON Pointers, the top-level members of a record that no
contribution covers (written by the tagger; an audit reviews each as a part of unknown source)."""

ROLES = frozenset(
    {"response", "prompt", "judgement", "rewrite", "translation", "label", "system", "other"}
)
"""Roles a contribution can play in a record."""

SERVICES_DOC = (
    "'api' (the provider's API), 'app' (the provider's consumer app), 'self-hosted' (weights run by "
    "the generating organisation), or the name of a third-party host"
)

JsonDict = dict[str, Any]


class ManifestError(ProvenanceError):
    """A manifest whose structure is invalid (status ``malformed``)."""

    exit_code = 1


def _require(d: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in d:
        raise ManifestError(f"{where}: missing field '{key}'")
    value = d[key]
    if not isinstance(value, kind):
        raise ManifestError(f"{where}: field '{key}' has the wrong type")
    return value


def _optional(d: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = d.get(key)
    if value is not None and not isinstance(value, kind):
        raise ManifestError(f"{where}: field '{key}' has the wrong type")
    return value


def _extra(d: Mapping[str, Any], known: frozenset[str]) -> JsonDict:
    return {k: v for k, v in d.items() if k not in known}


def _put(out: JsonDict, key: str, value: Any) -> None:
    if value is not None:
        out[key] = value


def parse_time(text: str, where: str = "time") -> datetime:
    """Parse an RFC 3339 timestamp (``Z`` or an offset) into an aware UTC datetime."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise ManifestError(f"{where}: '{text}' is not an RFC 3339 timestamp") from exc
    if value.tzinfo is None:
        raise ManifestError(f"{where}: '{text}' has no time zone; write it in UTC with 'Z'")
    return value.astimezone(UTC)


TIMES_ACCEPTED = "an RFC 3339 time like 2024-05-01T12:00:00Z, or a date like 2024-05-01"
"""What :func:`parse_when` accepts, as said to whoever wrote something else."""


def parse_when(text: str, where: str) -> datetime:
    """Parse a time a person wrote (a command-line option, a trust store, a parts file): an RFC
    3339 time with ``Z`` or an offset, or a date, which means its first instant in UTC.

    Signed manifests take :func:`parse_time`, which accepts the RFC 3339 form only. A value of
    neither form raises :class:`~provenance.errors.InputError` (no verdict) naming ``where``, the
    value as given and the forms accepted.
    """
    value = text.strip()
    problem, hint = "is not a date or time", f"give {TIMES_ACCEPTED}"
    try:
        if len(value) == 10 and value[4:5] == "-" and value[7:8] == "-":
            return datetime.combine(date.fromisoformat(value), dt_time(), UTC)
        if len(value) > 10:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
            if parsed.tzinfo is not None:
                return parsed.astimezone(UTC)
            problem = "has no time zone"
            hint = "add Z for UTC (2024-05-01T12:00:00Z) or an offset like +02:00"
    except ValueError:
        pass
    raise InputError(f"{where}: '{shown(text)}' {problem}", hint=hint)


def format_time(value: datetime) -> str:
    """Format an aware datetime as RFC 3339 UTC with a ``Z`` suffix."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: give a time zone")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Generator:
    """The model that produced a part of a record, as the caller asked for it and as it answered."""

    provider: str
    """Organisation whose model it is (``openai``, ``meta``, ``google`` …), lower case."""
    model: str
    """Model identifier as requested (``gpt-4o``, ``meta-llama/Llama-3.1-8B-Instruct``)."""
    model_returned: str | None = None
    """Model identifier the service reported back (``gpt-4o-2024-08-06``), when it differs."""
    revision: str | None = None
    """Weights revision or system fingerprint, when known."""
    service: str | None = None
    """Where the model ran: see ``SERVICES_DOC``."""
    extra: JsonDict = field(default_factory=dict, compare=False)

    _KNOWN = frozenset({"provider", "model", "model_returned", "revision", "service"})

    @property
    def effective_model(self) -> str:
        """The most specific model identifier known: as returned, else as requested."""
        return self.model_returned or self.model

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "generator") -> Generator:
        if not isinstance(d, Mapping):
            raise ManifestError(f"{where}: must be an object")
        return cls(
            provider=_require(d, "provider", str, where),
            model=_require(d, "model", str, where),
            model_returned=_optional(d, "model_returned", str, where),
            revision=_optional(d, "revision", str, where),
            service=_optional(d, "service", str, where),
            extra=_extra(d, cls._KNOWN),
        )

    def to_dict(self) -> JsonDict:
        out: JsonDict = {"provider": self.provider, "model": self.model}
        _put(out, "model_returned", self.model_returned)
        _put(out, "revision", self.revision)
        _put(out, "service", self.service)
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class TermsRef:
    """The terms a model was used under: ``<provider>/<document>@<version>``, and the SHA-256 of the
    terms document when the signer knew it."""

    id: str
    digest: str | None = None
    extra: JsonDict = field(default_factory=dict, compare=False)

    _KNOWN = frozenset({"id", "digest"})

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | str, where: str = "terms") -> TermsRef:
        if isinstance(d, str):
            return cls(id=d)
        if not isinstance(d, Mapping):
            raise ManifestError(f"{where}: must be an object or a string")
        return cls(
            id=_require(d, "id", str, where),
            digest=_optional(d, "digest", str, where),
            extra=_extra(d, cls._KNOWN),
        )

    def to_dict(self) -> JsonDict:
        out: JsonDict = {"id": self.id}
        _put(out, "digest", self.digest)
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class Contribution:
    """One model's part of a record: what it wrote (JSON Pointer), in which role, under which terms."""

    generator: Generator
    pointer: str = ""
    """RFC 6901 JSON Pointer of the part this model produced; ``""`` is the whole record."""
    role: str = "response"
    """One of ``ROLES``."""
    terms: TermsRef | None = None
    """Terms in force when the part was generated; resolved from the model catalog when absent."""
    generated_at: datetime | None = None
    """When the part was generated (UTC). Picks the version of the terms in force."""
    response_id: str | None = None
    """The service's id for the response, when it gave one."""
    part_digest: str | None = None
    """Hex SHA-256 of the canonical form of the part alone, so its author can be shown without the
    rest of the record."""
    extra: JsonDict = field(default_factory=dict, compare=False)

    _KNOWN = frozenset(
        {"generator", "pointer", "role", "terms", "generated_at", "response_id", "part_digest"}
    )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "contribution") -> Contribution:
        if not isinstance(d, Mapping):
            raise ManifestError(f"{where}: must be an object")
        pointer = _optional(d, "pointer", str, where) or ""
        if pointer and not pointer.startswith("/"):
            raise ManifestError(f"{where}: pointer '{pointer}' must be '' or start with '/'")
        role = _optional(d, "role", str, where) or "response"
        if role not in ROLES:
            raise ManifestError(f"{where}: role '{role}' is not one of {sorted(ROLES)}")
        terms_raw = d.get("terms")
        generated = _optional(d, "generated_at", str, where)
        part = _optional(d, "part_digest", Mapping, where)
        part_hex = None
        if part is not None:
            part_hex = _require(part, "sha256", str, f"{where}.part_digest")
        return cls(
            generator=Generator.from_dict(
                _require(d, "generator", Mapping, where), f"{where}.generator"
            ),
            pointer=pointer,
            role=role,
            terms=None if terms_raw is None else TermsRef.from_dict(terms_raw, f"{where}.terms"),
            generated_at=None
            if generated is None
            else parse_time(generated, f"{where}.generated_at"),
            response_id=_optional(d, "response_id", str, where),
            part_digest=part_hex,
            extra=_extra(d, cls._KNOWN),
        )

    def to_dict(self) -> JsonDict:
        out: JsonDict = {
            "pointer": self.pointer,
            "role": self.role,
            "generator": self.generator.to_dict(),
        }
        if self.terms is not None:
            out["terms"] = self.terms.to_dict()
        if self.generated_at is not None:
            out["generated_at"] = format_time(self.generated_at)
        _put(out, "response_id", self.response_id)
        if self.part_digest is not None:
            out["part_digest"] = {"sha256": self.part_digest}
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class Parent:
    """Something a record was made from: a prompt, a seed record, a dataset."""

    kind: str
    """``prompt``, ``record``, ``dataset`` or ``model``."""
    name: str | None = None
    digest: str | None = None
    """Hex SHA-256 of the parent's content (canonical form for JSON, raw bytes otherwise)."""
    extra: JsonDict = field(default_factory=dict, compare=False)

    _KNOWN = frozenset({"kind", "name", "digest"})

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "parent") -> Parent:
        if not isinstance(d, Mapping):
            raise ManifestError(f"{where}: must be an object")
        digest = _optional(d, "digest", Mapping, where)
        return cls(
            kind=_require(d, "kind", str, where),
            name=_optional(d, "name", str, where),
            digest=None if digest is None else _require(digest, "sha256", str, f"{where}.digest"),
            extra=_extra(d, cls._KNOWN),
        )

    def to_dict(self) -> JsonDict:
        out: JsonDict = {"kind": self.kind}
        _put(out, "name", self.name)
        if self.digest is not None:
            out["digest"] = {"sha256": self.digest}
        out.update(self.extra)
        return out


def past_limits(contributions: int, parents: int) -> tuple[str, int, int] | None:
    """The first of a manifest's contributions and parents that is past its limit
    (``Limits.max_contributions``, ``Limits.max_parents``), as ``(name, count, limit)``, or None.
    The reader refuses such a manifest and the tagger never writes one."""
    for name, count, most in (
        ("contributions", contributions, DEFAULT_LIMITS.max_contributions),
        ("parents", parents, DEFAULT_LIMITS.max_parents),
    ):
        if count > most:
            return name, count, most
    return None


@dataclass(frozen=True)
class RecordPredicate:
    """What is claimed about one record."""

    contributions: tuple[Contribution, ...]
    organization: str | None = None
    """The organisation (account holder) that ran the generation: contract terms bind it."""
    parents: tuple[Parent, ...] = ()
    parameters: JsonDict = field(default_factory=dict)
    signed_at: datetime | None = None
    sdk: JsonDict = field(default_factory=dict)
    extra: JsonDict = field(default_factory=dict, compare=False)

    _KNOWN = frozenset(
        {"contributions", "organization", "parents", "parameters", "signed_at", "sdk"}
    )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "predicate") -> RecordPredicate:
        if not isinstance(d, Mapping):
            raise ManifestError(f"{where}: must be an object")
        contribs = _require(d, "contributions", list, where)
        if not contribs:
            raise ManifestError(f"{where}: names no contribution")
        parents = _optional(d, "parents", list, where) or []
        past = past_limits(len(contribs), len(parents))
        if past is not None:
            name, count, most = past
            raise ManifestError(f"{where}: names {count} {name}, more than the limit of {most}")
        signed = _optional(d, "signed_at", str, where)
        return cls(
            contributions=tuple(
                Contribution.from_dict(c, f"{where}.contributions[{i}]")
                for i, c in enumerate(contribs)
            ),
            organization=_optional(d, "organization", str, where),
            parents=tuple(
                Parent.from_dict(p, f"{where}.parents[{i}]") for i, p in enumerate(parents)
            ),
            parameters=dict(_optional(d, "parameters", Mapping, where) or {}),
            signed_at=None if signed is None else parse_time(signed, f"{where}.signed_at"),
            sdk=dict(_optional(d, "sdk", Mapping, where) or {}),
            extra=_extra(d, cls._KNOWN),
        )

    def to_dict(self) -> JsonDict:
        out: JsonDict = {"contributions": [c.to_dict() for c in self.contributions]}
        _put(out, "organization", self.organization)
        if self.parents:
            out["parents"] = [p.to_dict() for p in self.parents]
        if self.parameters:
            out["parameters"] = self.parameters
        if self.signed_at is not None:
            out["signed_at"] = format_time(self.signed_at)
        if self.sdk:
            out["sdk"] = self.sdk
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class Subject:
    name: str
    digest: Mapping[str, str]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "subject") -> Subject:
        if not isinstance(d, Mapping):
            raise ManifestError(f"{where}: must be an object")
        digest = _require(d, "digest", Mapping, where)
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in digest.items()):
            raise ManifestError(f"{where}.digest: algorithm names and values must be strings")
        return cls(name=_require(d, "name", str, where), digest=dict(digest))

    def to_dict(self) -> JsonDict:
        return {"name": self.name, "digest": dict(self.digest)}

    @property
    def sha256(self) -> str:
        """The SHA-256 digest; a subject with only weaker digests is rejected."""
        value = self.digest.get("sha256")
        if value is None:
            raise ManifestError(
                f"subject '{self.name}' has no sha256 digest "
                f"(only {sorted(self.digest)}); weaker digests are not accepted"
            )
        return value


@dataclass(frozen=True)
class Statement:
    """An in-toto Statement v1 with one subject, parsed from the signed payload bytes."""

    subject: Subject
    predicate_type: str
    predicate: JsonDict
    extra: JsonDict = field(default_factory=dict, compare=False)

    _KNOWN = frozenset({"_type", "subject", "predicateType", "predicate"})

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Statement:
        if not isinstance(d, Mapping):
            raise ManifestError("statement: must be a JSON object")
        if d.get("_type") != STATEMENT_TYPE:
            raise ManifestError(
                f"statement: _type is {d.get('_type')!r}, expected '{STATEMENT_TYPE}'"
            )
        subjects = _require(d, "subject", list, "statement")
        if len(subjects) != 1:
            raise ManifestError(f"statement: must name exactly one subject, names {len(subjects)}")
        return cls(
            subject=Subject.from_dict(subjects[0], "statement.subject[0]"),
            predicate_type=_require(d, "predicateType", str, "statement"),
            predicate=dict(_require(d, "predicate", Mapping, "statement")),
            extra=_extra(d, cls._KNOWN),
        )

    def to_dict(self) -> JsonDict:
        out: JsonDict = {
            "_type": STATEMENT_TYPE,
            "subject": [self.subject.to_dict()],
            "predicateType": self.predicate_type,
            "predicate": self.predicate,
        }
        out.update(self.extra)
        return out

    @property
    def record_id(self) -> str:
        return self.subject.name

    def record_predicate(self) -> RecordPredicate:
        """The predicate as a record manifest; raises if this is not one."""
        if self.predicate_type != PREDICATE_TYPE:
            raise ManifestError(
                f"statement: predicateType is '{self.predicate_type}', expected '{PREDICATE_TYPE}'"
            )
        return RecordPredicate.from_dict(self.predicate)


@dataclass(frozen=True)
class Manifest:
    """A verified record manifest: the statement and its parsed record predicate."""

    statement: Statement
    predicate: RecordPredicate

    @property
    def record_id(self) -> str:
        return self.statement.record_id

    @property
    def content_digest(self) -> str:
        return self.statement.subject.sha256

    @classmethod
    def from_statement(cls, statement: Statement) -> Manifest:
        return cls(statement=statement, predicate=statement.record_predicate())


def build_statement(record_id: str, content_digest: str, predicate: RecordPredicate) -> JsonDict:
    """The statement dict for one record; the caller canonicalises and signs its bytes."""
    return Statement(
        subject=Subject(name=record_id, digest={"sha256": content_digest}),
        predicate_type=PREDICATE_TYPE,
        predicate=predicate.to_dict(),
    ).to_dict()
