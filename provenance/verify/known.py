"""Strategy ``known-statements``: a statement read by its bytes when its predicate is known.

Replaces step 5 of the reference path (:meth:`Reference.statement`: strict parse, in-toto
Statement and record predicate validation) for a statement whose bytes are exactly the canonical
layout the tagger writes (:data:`provenance.record.STATEMENT_HEAD` PREDICATE
:data:`~provenance.record.STATEMENT_MID` DIGEST :data:`~provenance.record.NAME_KEY` NAME
:data:`~provenance.record.STATEMENT_END`) and whose predicate (up to a final plain ``signed_at``
string, or as a whole) was parsed strictly and validated before by the reference step. Only the
subject (record id and digest) and the signing time are read from the bytes.

Declines (the reference step runs) when the bytes differ from that layout anywhere, when the
subject digest is not the record's content digest (the reference step then reads the statement
and step 8 gives ``content-mismatch``), when the name is not a plain JSON string, when the
``signed_at`` text is not plainly a time the manifest model accepts, or when the predicate bytes
were never validated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import orjson

from provenance.manifest import PREDICATE_TYPE, Manifest, ManifestError, parse_time
from provenance.record import NAME_KEY, STATEMENT_END, STATEMENT_HEAD, STATEMENT_MID
from provenance.verify.facts import PredicateFacts, StatementFacts

CACHE_ENTRIES: Final = 4096
"""Most batch envelopes, sidecars and predicates a strategy remembers (oldest dropped first)."""

_SIGNED_AT: Final = b',"signed_at":"'
_TIME_TEXT: Final = re.compile(rb"[0-9A-Za-z:.+\-]{1,64}\Z")
_SORTED: Final = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER


def bounded_put(cache: dict[Any, Any], key: Any, value: Any) -> None:
    """Remember ``value``, dropping the oldest entry once :data:`CACHE_ENTRIES` are held."""
    if len(cache) >= CACHE_ENTRIES:
        del cache[next(iter(cache))]
    cache[key] = value


@dataclass
class KnownStatements:
    """Predicates validated before, by their canonical bytes, and the statement prefix last read
    (records of one generation run share every byte before the subject digest)."""

    heads: dict[bytes, PredicateFacts] = field(default_factory=dict)
    """Predicate bytes up to a final ``signed_at`` member → its facts."""
    wholes: dict[bytes, PredicateFacts] = field(default_factory=dict)
    """Whole predicate bytes → its facts."""
    last_time: tuple[bytes, tuple[str, datetime]] | None = None
    last_head: tuple[bytes, PredicateFacts] | None = None
    last_prefix: tuple[bytes, PredicateFacts, datetime | None, str | None] | None = None
    """The bytes before the subject digest of the statement last read here, and its facts."""

    def prefix(self) -> bytes | None:
        """The statement prefix last read, for the native reader to match."""
        return None if self.last_prefix is None else self.last_prefix[0]

    def read(
        self, payload: bytes, digest: str, known: tuple[str, bytes] | None = None
    ) -> StatementFacts | None:
        """The statement's facts, or None to decline (see the module doc). A JSON string cannot
        hold an unescaped quote, so the ``MID`` found last and the ``signed_at`` member found last
        are the statement's own. ``known`` is what the native reader matched (``native-layout``):
        the record id and the prefix object it matched, when that is still the last prefix."""
        last_prefix = self.last_prefix
        if last_prefix is not None:
            if known is not None and known[1] is last_prefix[0]:
                return StatementFacts(known[0], digest, *last_prefix[1:])
            if payload.startswith(last_prefix[0]):
                name = _tail(payload, len(last_prefix[0]), digest)
                if name is not None:
                    return StatementFacts(name, digest, *last_prefix[1:])
        if not payload.startswith(STATEMENT_HEAD) or not payload.endswith(STATEMENT_END):
            return None
        mid = payload.rfind(STATEMENT_MID)
        if mid < 0:
            return None
        start = mid + len(STATEMENT_MID)
        name = _tail(payload, start, digest)
        if name is None:
            return None
        first = len(STATEMENT_HEAD)
        signed_text: str | None = None
        facts: PredicateFacts | None = None
        cut = payload.rfind(_SIGNED_AT, first, mid)
        signed_at: datetime | None = None
        if cut >= 0 and payload.endswith(b'"}', first, mid):
            last = self.last_head
            if (
                last is not None
                and cut - first == len(last[0])
                and payload.startswith(last[0], first)
            ):
                facts = last[1]
            else:
                head = payload[first:cut]
                facts = self.heads.get(head)
                if facts is not None:
                    self.last_head = (head, facts)
            if facts is not None:
                stamp = self._time(payload[cut + len(_SIGNED_AT) : mid - 2])
                if stamp is None:
                    return None
                signed_text, signed_at = stamp
        if facts is None:
            facts = self.wholes.get(payload[first:mid])
            if facts is None:
                return None
            signed_text = facts.data.get("signed_at")
            signed_at = facts.predicate.signed_at
        self.last_prefix = (payload[:start], facts, signed_at, signed_text)
        return StatementFacts(name, digest, facts, signed_at, signed_text)

    def _time(self, stamp: bytes) -> tuple[str, datetime] | None:
        """A ``signed_at`` value read from statement bytes, checked as the manifest model checks
        it; None when it is not plainly a time (the reference step then gives the verdict)."""
        last = self.last_time
        if last is not None and last[0] == stamp:
            return last[1]
        if _TIME_TEXT.match(stamp) is None:
            return None
        text = stamp.decode("ascii")
        try:
            value = (text, parse_time(text, "predicate.signed_at"))
        except ManifestError:
            return None
        self.last_time = (stamp, value)
        return value

    def learn(self, payload: bytes, data: Any, manifest: Manifest) -> PredicateFacts:
        """The facts of a statement the reference step validated; remembered when the statement
        bytes are exactly the canonical layout, so that :meth:`read` finds them again."""
        predicate = manifest.statement.predicate
        facts = PredicateFacts.of(manifest.predicate, predicate)
        if not isinstance(data, dict) or set(data) != {
            "_type",
            "predicate",
            "predicateType",
            "subject",
        }:
            return facts
        subject = data["subject"]
        if (
            data["predicateType"] != PREDICATE_TYPE
            or len(subject) != 1
            or type(subject[0]) is not dict
            or set(subject[0]) != {"digest", "name"}
            or type(subject[0]["digest"]) is not dict
            or set(subject[0]["digest"]) != {"sha256"}
        ):
            return facts
        try:
            body = orjson.dumps(data["predicate"], option=_SORTED)
            again = (
                STATEMENT_HEAD
                + body
                + STATEMENT_MID
                + orjson.dumps(subject[0]["digest"]["sha256"])[1:-1]
                + NAME_KEY
                + orjson.dumps(subject[0]["name"])
                + STATEMENT_END
            )
        except orjson.JSONEncodeError:
            return facts
        if again != payload:
            return facts
        signed = predicate.get("signed_at")
        if type(signed) is str and max(predicate) == "signed_at":
            tail = _SIGNED_AT + orjson.dumps(signed)[1:] + b"}"
            if body.endswith(tail) and _TIME_TEXT.match(signed.encode("utf-8")) is not None:
                bounded_put(self.heads, body[: -len(tail)], facts)
                return facts
        bounded_put(self.wholes, body, facts)
        return facts


def _tail(payload: bytes, start: int, digest: str) -> str | None:
    """The name of a statement whose bytes from ``start`` are ``DIGEST NAME_KEY NAME END``
    with ``digest`` and a JSON string as the name; None otherwise."""
    name_at = start + 64 + len(NAME_KEY)
    if (
        payload[start + 64 : name_at] != NAME_KEY
        or payload[start : start + 64] != digest.encode("ascii")
        or not payload.endswith(STATEMENT_END)
    ):
        return None
    try:
        name = orjson.loads(payload[name_at : -len(STATEMENT_END)])
    except orjson.JSONDecodeError:
        return None
    return name if type(name) is str else None
