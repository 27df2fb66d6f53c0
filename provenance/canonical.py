"""Strict JSON parsing and RFC 8785 (JCS) canonical bytes for records.

A record's content digest is SHA-256 over the JCS canonical bytes of the record without its
top-level ``_provenance`` key. Records are parsed strictly (no duplicate keys, no NaN or Infinity,
no integer a JavaScript reader would round, no lone surrogate, valid UTF-8 only) so that every
reader of a record sees the same value, and therefore the same digest.

Two paths compute the same thing:

* the reference path (:func:`parse_record`, :func:`canonicalize`, :func:`content_digest`), written
  from the specifications with the standard library;
* :func:`parse_and_digest`, used by the verifier on large files. It parses and serialises with
  ``orjson`` and only keeps that result when cheap checks on the bytes prove it equal to the
  reference one; otherwise it runs the reference path.

Specs: RFC 8785 https://www.rfc-editor.org/rfc/rfc8785 ,
RFC 8259 https://www.rfc-editor.org/rfc/rfc8259 ,
ECMAScript Number::toString
https://tc39.es/ecma262/#sec-numeric-types-number-tostring
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any, Final

import orjson

from provenance.errors import MalformedJSONError
from provenance.limits import DEFAULT_LIMITS

__all__ = [
    "MAX_SAFE_INTEGER",
    "PROVENANCE_KEY",
    "MalformedJSONError",
    "canonicalize",
    "content_digest",
    "parse_and_digest",
    "parse_json",
    "parse_record",
]

PROVENANCE_KEY: Final = "_provenance"
"""Top-level key that holds a record's manifest; it is left out of the content digest."""

MAX_SAFE_INTEGER: Final = 2**53 - 1
"""Largest integer an IEEE-754 double holds exactly (RFC 8785 §3.2.2.3, RFC 7493 §2.2)."""

_MAX_DEPTH: Final = DEFAULT_LIMITS.max_json_depth
_SAFE_INT_DIGITS: Final = len(str(MAX_SAFE_INTEGER))
_SHOWN_CHARS: Final = 40

# RFC 8785 §3.2.2.2: only '"', '\' and U+0000..U+001F are escaped; five controls have short forms
# and the rest are written \u00xx with lowercase hex.
_ESCAPES: Final[dict[str, str]] = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
    **{chr(c): f"\\u{c:04x}" for c in range(0x20) if chr(c) not in "\b\t\n\f\r"},
}
_NEEDS_ESCAPE: Final = re.compile('["\\\\\x00-\x1f]')
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_HIGH_BMP_OR_ASTRAL: Final = re.compile("[\ue000-\U0010ffff]")

# Fast-path guards over the raw line (see parse_and_digest): a run of 16 digits may be an integer
# beyond 2**53 - 1 (which orjson accepts up to 64 bits, or silently turns into a float), and an
# escaped colon would upset the colon count that proves there are no duplicate keys.
_RAW_RISK: Final = re.compile(rb"[0-9]{16}|\\u003[aA]")
# Fast-path triggers over orjson's compact output: a number token with a fraction or exponent
# (orjson writes floats unlike ECMAScript), or a UTF-8 lead byte of U+E000..U+10FFFF (where
# orjson's code point key order can differ from JCS's UTF-16 order).
_BODY_CARE: Final = re.compile(rb"[:,\[]-?[0-9]+[.e]|[\xee-\xf4]")
_BODY_HIGH: Final = re.compile(rb"[\xee-\xf4]")


class _UseReference(Exception):
    """Internal signal: the fast serialisation cannot be trusted for this value."""


# ---------------------------------------------------------------------------------------------
# Strict parsing


def _show(text: str) -> str:
    """A JSON-quoted, shortened form of ``text`` for messages (safe for lone surrogates)."""
    shown = json.dumps(text[:_SHOWN_CHARS])
    return shown if len(text) <= _SHOWN_CHARS else shown[:-1] + '..."'


def _object_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise MalformedJSONError(f"duplicate key {_show(key)} in a JSON object")
            seen.add(key)
    return obj


def _parse_int(token: str) -> int:
    # JSON integers have no leading zeros, so more digits than 2**53 - 1 means out of range; the
    # length test also keeps int() away from huge digit strings.
    digits = len(token) - (token[0] == "-")
    if digits <= _SAFE_INT_DIGITS:
        value = int(token)
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return value
    raise MalformedJSONError(
        f"integer {token[:_SHOWN_CHARS]} is outside the IEEE-754 safe range "
        f"[-(2**53-1), 2**53-1]; carry it as a string",
        hint="write large integers as JSON strings",
    )


def _parse_float(token: str) -> float:
    value = float(token)
    if value in (float("inf"), float("-inf")):
        raise MalformedJSONError(f"number {token[:_SHOWN_CHARS]} overflows to infinity")
    return value


def _parse_constant(token: str) -> Any:
    raise MalformedJSONError(f"{token} is not a JSON number (NaN and Infinity are not allowed)")


def _check_tree(value: Any, max_depth: int, surrogates: bool) -> None:
    """Reject nesting deeper than ``max_depth`` and, if asked, strings with lone surrogates."""
    if surrogates and type(value) is str:
        _check_string(value, "string")
    if type(value) is not dict and type(value) is not list:
        return
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise MalformedJSONError(f"nesting deeper than {max_depth} levels")
        children: Any = node
        if type(node) is dict:
            children = node.values()
            if surrogates:
                for key in node:
                    _check_string(key, "object key")
        for child in children:
            kind = type(child)
            if kind is dict or kind is list:
                stack.append((child, depth + 1))
            elif surrogates and kind is str:
                _check_string(child, "string")


def _check_string(text: str, where: str) -> None:
    found = _SURROGATE.search(text)
    if found is not None:
        raise MalformedJSONError(
            f"lone surrogate U+{ord(found.group()):04X} in a {where} ({_show(text)})"
        )


def _decode_error(exc: json.JSONDecodeError) -> MalformedJSONError:
    where = f"line {exc.lineno}, column {exc.colno}"
    if exc.msg == "Extra data":
        return MalformedJSONError(f"trailing data after the JSON value ({where})")
    if exc.pos >= len(exc.doc.rstrip(" \t\r\n")) or exc.msg.startswith("Unterminated string"):
        return MalformedJSONError(f"truncated JSON: the input ends inside a value ({where})")
    return MalformedJSONError(f"invalid JSON: {exc.msg} ({where})")


def parse_json(data: bytes | str, *, max_depth: int = _MAX_DEPTH) -> Any:
    """Parse one JSON text (RFC 8259) strictly, in the I-JSON subset (RFC 7493).

    Rejected with :class:`MalformedJSONError`: invalid UTF-8, lone surrogates (escaped or not),
    duplicate object keys at any depth, ``NaN``/``Infinity``/``-Infinity``, integers beyond
    ±(2**53 - 1), numbers that overflow to infinity, nesting deeper than ``max_depth`` and anything
    after the value but whitespace. Numbers with a fraction or an exponent become ``float``; other
    numbers become ``int``.
    """
    if isinstance(data, str):
        text = data
        surrogates = True
    else:
        raw = bytes(data)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedJSONError(
                f"invalid UTF-8 at byte {exc.start} ({exc.reason})",
                hint="records must be UTF-8 encoded",
            ) from None
        # Decoded UTF-8 holds no surrogates; only \uD800..\uDFFF escapes can make one.
        surrogates = b"\\ud" in raw or b"\\uD" in raw
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object_hook,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
        )
    except json.JSONDecodeError as exc:
        raise _decode_error(exc) from None
    except RecursionError:
        raise MalformedJSONError(f"nesting deeper than {max_depth} levels") from None
    _check_tree(value, max_depth, surrogates)
    return value


_KIND_NAMES: Final[dict[type, str]] = {
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


def parse_record(line: bytes) -> dict[str, Any]:
    """Parse one JSONL line strictly (see :func:`parse_json`) and require a JSON object."""
    value = parse_json(line)
    if type(value) is not dict:
        kind = _KIND_NAMES.get(type(value), type(value).__name__)
        raise MalformedJSONError(f"record is not a JSON object (got {kind})")
    return value


# ---------------------------------------------------------------------------------------------
# RFC 8785 canonical form


def _es6_number(value: float) -> str:
    """``value`` as ECMAScript's Number::toString writes it (RFC 8785 §3.2.2.3)."""
    if value != value or value in (float("inf"), float("-inf")):
        raise MalformedJSONError(f"{value!r} has no JSON form (RFC 8785 §3.2.2.3)")
    if value == 0:
        return "0"  # -0 too
    # repr() gives the shortest digits that round-trip, nearest to the value on ties: the same
    # digits ECMAScript picks. Only the layout differs.
    text = repr(value)
    sign = ""
    if text[0] == "-":
        sign, text = "-", text[1:]
    mantissa, _, exponent = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    # value = 0.DIGITS × 10**point
    point = len(whole) + (int(exponent) if exponent else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k = len(digits)
    if k <= point <= 21:
        body = digits + "0" * (point - k)
    elif 0 < point <= 21:
        body = digits[:point] + "." + digits[point:]
    elif -6 < point <= 0:
        body = "0." + "0" * -point + digits
    else:
        power = point - 1
        exp = f"e+{power}" if power >= 0 else f"e-{-power}"
        body = (digits[0] + "." + digits[1:] if k > 1 else digits) + exp
    return sign + body


def _quote(text: str) -> str:
    if _NEEDS_ESCAPE.search(text) is None:
        return '"' + text + '"'
    return '"' + _NEEDS_ESCAPE.sub(_escape_match, text) + '"'


def _escape_match(match: re.Match[str]) -> str:
    return _ESCAPES[match.group()]


def _utf16_key(item: tuple[str, Any]) -> bytes:
    # RFC 8785 §3.2.3: members are sorted by the UTF-16 code units of their names. Big-endian
    # UTF-16 bytes compare in the same order as the code units.
    return item[0].encode("utf-16-be", "surrogatepass")


def _write(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_quote(value))
    elif isinstance(value, int):
        number = int(value)
        if not -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER:
            raise MalformedJSONError(
                f"integer {number} is outside the IEEE-754 safe range; carry it as a string"
            )
        out.append(str(number))
    elif isinstance(value, float):
        out.append(_es6_number(float(value)))
    elif isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise MalformedJSONError(f"object key {key!r} is not a string")
        out.append("{")
        first = True
        for key, item in sorted(value.items(), key=_utf16_key):
            if not first:
                out.append(",")
            first = False
            out.append(_quote(key))
            out.append(":")
            _write(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise MalformedJSONError(f"a value of type {type(value).__name__} has no JSON form")


def canonicalize(value: Any) -> bytes:
    """The RFC 8785 (JCS) canonical UTF-8 bytes of a JSON value.

    Accepts ``None``, ``bool``, ``str``, ``int`` within ±(2**53 - 1), finite ``float``, mappings
    with ``str`` keys and lists or tuples. Anything else, non-finite floats, unsafe integers and
    strings with lone surrogates raise :class:`MalformedJSONError`.
    """
    out: list[str] = []
    try:
        _write(value, out)
    except RecursionError:
        raise MalformedJSONError("value is nested too deeply (or contains itself)") from None
    text = "".join(out)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        raise MalformedJSONError(
            f"lone surrogate U+{code:04X} cannot be encoded as UTF-8"
        ) from None


def _content(record: Mapping[str, Any]) -> Mapping[str, Any]:
    if PROVENANCE_KEY not in record:
        return record
    return {key: value for key, value in record.items() if key != PROVENANCE_KEY}


def content_digest(record: Mapping[str, Any]) -> str:
    """Hex SHA-256 of the canonical bytes of ``record`` without its top-level ``_provenance``."""
    return hashlib.sha256(canonicalize(_content(record))).hexdigest()


# ---------------------------------------------------------------------------------------------
# Fast path


def _reference(line: bytes) -> tuple[dict[str, Any], str]:
    record = parse_record(line)
    return record, content_digest(record)


def _depth(value: Any) -> int:
    """Deepest nesting of arrays and objects in a parsed value (a scalar is 0)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        kind = type(node)
        if kind is dict:
            node = node.values()
        elif kind is not list:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in node)
    return deepest


def _jcs_ready(value: Any, check_keys: bool) -> Any:
    """``value`` with each float replaced by its ECMAScript text as an ``orjson.Fragment``.

    Containers without floats are shared, not copied. With ``check_keys``, raises
    :class:`_UseReference` when an object key holds a character from U+E000 up, where orjson's key
    order (code points) may differ from JCS's (UTF-16 code units).
    """
    kind = type(value)
    if kind is float:
        return orjson.Fragment(_es6_number(value))
    if kind is dict:
        if check_keys and _HIGH_BMP_OR_ASTRAL.search("".join(value)) is not None:
            raise _UseReference
        changed: dict[str, Any] = {}
        for key, item in value.items():
            kind = type(item)
            if kind is float or kind is dict or kind is list:
                new = _jcs_ready(item, check_keys)
                if new is not item:
                    changed[key] = new
        return {**value, **changed} if changed else value
    if kind is list:
        items = [_jcs_ready(item, check_keys) for item in value]
        if any(new is not old for new, old in zip(items, value, strict=True)):
            return items
    return value


def parse_and_digest(line: bytes) -> tuple[dict[str, Any], str]:
    """Parse one JSONL record strictly and compute its content digest, fast.

    Returns what ``(parse_record(line), content_digest(parse_record(line)))`` returns and raises
    :class:`MalformedJSONError` wherever that would. orjson parses and serialises; its result is
    used only when these checks prove it is the reference result, else the reference path runs:

    * orjson rejects NaN, Infinity, invalid UTF-8, lone surrogates, trailing data and nesting past
      1024; any orjson error runs the reference path, which gives the message.
    * No run of 16 ASCII digits in the line: every integer then has at most 15 digits, so it is in
      the safe range and orjson reads it as an exact ``int``.
    * Colon count: with no ``\\u003a`` escape in the line, the line holds one ``:`` per member plus
      the colons inside strings. orjson writes ``:`` unescaped, so its output of the parsed record
      has the same count unless a duplicate key dropped a member (each dropped member takes away
      at least its own colon).
    * Depth: fewer than ``max_json_depth`` brackets cannot nest deeper; otherwise the parsed value
      (now known to hold every member) is measured.
    * Serialisation: orjson's ``OPT_SORT_KEYS`` output equals JCS for strings, integers, booleans
      and null (same escapes, checked for every code point by the tests). Floats are written
      as ECMAScript does through ``orjson.Fragment``; keys with characters from U+E000 up, where
      code point order and UTF-16 order can disagree, go through :func:`canonicalize`.
    """
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return _reference(line)
    if type(record) is not dict or _RAW_RISK.search(line) is not None:
        return _reference(line)
    content = record
    colons = 0
    if PROVENANCE_KEY in record:
        content = record.copy()
        colons = 1 + orjson.dumps(content.pop(PROVENANCE_KEY)).count(b":")
    body = orjson.dumps(content, option=orjson.OPT_SORT_KEYS)
    if body.count(b":") + colons != line.count(b":"):
        return _reference(line)
    if line.count(b"[") + line.count(b"{") > _MAX_DEPTH and _depth(record) > _MAX_DEPTH:
        return _reference(line)
    if _BODY_CARE.search(body) is not None:
        body = _careful_body(content, body)
    return record, hashlib.sha256(body).hexdigest()


def _careful_body(content: dict[str, Any], body: bytes) -> bytes:
    check_keys = _BODY_HIGH.search(body) is not None
    try:
        ready = _jcs_ready(content, check_keys)
    except _UseReference:
        return canonicalize(content)
    if ready is content:
        return body
    return orjson.dumps(ready, option=orjson.OPT_SORT_KEYS)
