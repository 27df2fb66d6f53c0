"""Strategy ``canonical_fast``: RFC 8785 bytes written by orjson, and statements from a template.

It replaces three reference steps (:mod:`provenance.sign.reference`):

* the canonical bytes of a value (:func:`provenance.canonical.canonicalize`, used for predicates
  and prompts) by :func:`canonical_bytes`, which declines to the reference canonicaliser when
  orjson refuses the value, when its output holds a number with a fraction or an exponent or a
  character from U+E000 up, or when that output does not parse back equal to the value;
* the content digest (:func:`reference.content_digest`) by :func:`content_digest`, which declines
  when orjson refuses the record, when the native reader (or its reference stand-in) refuses
  orjson's output, or when what it reads back differs from the record;
* the record statement (:func:`reference.record_statement`) by :func:`statement_bytes`, which
  fills the fixed layout of :func:`provenance.record.canonical_statement` with the predicate's
  canonical bytes, the digest and the record id, and declines for an id without an RFC 8785
  string (a lone surrogate).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

import orjson

from provenance import canonical
from provenance.errors import MalformedJSONError
from provenance.manifest import RecordPredicate
from provenance.record import canonical_statement
from provenance.sign import reference

_PASSTHROUGH: Final = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)
# A number token with a fraction or an exponent in orjson's compact output (orjson writes floats
# unlike ECMAScript), or a UTF-8 lead byte from U+E000 up (where orjson's key order may differ from
# RFC 8785's UTF-16 order). Either sends a value to the reference canonicaliser.
_JCS_DOUBT: Final = re.compile(rb"[:,\[]-?[0-9]+[.eE]|[\xee-\xff]")


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
        return reference.content_digest(content)
    if parsed != content:
        return reference.content_digest(content)
    return digest


def json_string(text: str) -> bytes | None:
    """The RFC 8785 form of a string (orjson escapes as RFC 8785 does), or None for a string
    that has none (a lone surrogate)."""
    try:
        return orjson.dumps(text)
    except orjson.JSONEncodeError:
        return None


def statement_bytes(
    record_id: str, digest: str, predicate: RecordPredicate, predicate_bytes: bytes
) -> bytes:
    """:func:`reference.record_statement`, from ``predicate_bytes``, the canonical bytes of
    ``predicate`` computed once for many records."""
    name = json_string(record_id)
    if name is None:
        return reference.record_statement(record_id, digest, predicate)
    return canonical_statement(predicate_bytes, digest, name)
