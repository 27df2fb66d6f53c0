"""Strict JSON parsing and RFC 8785 (JCS) canonical bytes for records.

A record's content digest is SHA-256 over the JCS canonical bytes of the record without its
top-level ``_provenance`` key. Records are parsed strictly (no duplicate keys, no NaN or Infinity,
no integer a JavaScript reader would round, no lone surrogate, valid UTF-8 only) so that every
reader of a record sees the same value, and therefore the same digest.

Two paths compute the same thing:

* the reference path (:func:`parse_record`, :func:`canonicalize`, :func:`content_digest`), written
  from the specifications with the standard library;
* :func:`parse_and_digest` and :func:`view_and_digest`, used on large files. A native reader
  (``provenance/_native.c``) checks the line and writes the canonical bytes of its content in one
  pass, or declines and the reference path runs. Property tests hold the two paths equal.

Specs: RFC 8785 https://www.rfc-editor.org/rfc/rfc8785 ,
RFC 8259 https://www.rfc-editor.org/rfc/rfc8259 ,
ECMAScript Number::toString
https://tc39.es/ecma262/#sec-numeric-types-number-tostring
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final, overload

import orjson

from provenance.errors import MalformedJSONError
from provenance.limits import DEFAULT_LIMITS
from provenance.native import lib as _native

__all__ = [
    "MAX_SAFE_INTEGER",
    "PROVENANCE_KEY",
    "BatchFields",
    "MalformedJSONError",
    "RecordView",
    "canonicalize",
    "content_digest",
    "parse_and_digest",
    "parse_json",
    "parse_record",
    "scan_line",
    "view_and_digest",
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
    if math.isinf(value):
        raise MalformedJSONError(f"number {token[:_SHOWN_CHARS]} overflows to infinity")
    return value


def _parse_constant(token: str) -> Any:
    raise MalformedJSONError(f"{token} is not a JSON number (NaN and Infinity are not allowed)")


def _check_tree(value: Any, max_depth: int, surrogates: bool) -> None:
    """Reject nesting deeper than ``max_depth`` and, if asked, strings with lone surrogates."""
    if surrogates and type(value) is str:
        _check_string(value, "a string")
    if type(value) is not dict and type(value) is not list:
        return
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise MalformedJSONError(
                f"nesting deeper than {max_depth} levels", limit="max_json_depth"
            )
        children: Any = node
        if type(node) is dict:
            children = node.values()
            if surrogates:
                for key in node:
                    _check_string(key, "an object key")
        for child in children:
            kind = type(child)
            if kind is dict or kind is list:
                stack.append((child, depth + 1))
            elif surrogates and kind is str:
                _check_string(child, "a string")


def _check_string(text: str, where: str) -> None:
    found = _SURROGATE.search(text)
    if found is not None:
        raise MalformedJSONError(
            f"lone surrogate U+{ord(found.group()):04X} in {where} ({_show(text)})"
        )


def _decode_error(exc: json.JSONDecodeError, what: str) -> MalformedJSONError:
    # A record is one line of its file: the file's line is named by the caller, so the position
    # here is the column inside the record, never "line 1".
    place = f"column {exc.colno}" if exc.lineno == 1 else f"line {exc.lineno}, column {exc.colno}"
    where = f"{place} of {what}"
    if not exc.doc.strip(" \t\r\n"):
        return MalformedJSONError("empty input: no JSON value")
    if exc.msg == "Extra data":
        return MalformedJSONError(f"trailing data after the JSON value ({where})")
    if exc.pos >= len(exc.doc.rstrip(" \t\r\n")) or exc.msg.startswith("Unterminated string"):
        return MalformedJSONError(f"truncated JSON: the input ends inside a value ({where})")
    return MalformedJSONError(f"invalid JSON: {exc.msg.removesuffix(' at')} ({where})")


def parse_json(
    data: bytes | str, *, max_depth: int = _MAX_DEPTH, what: str = "the JSON text"
) -> Any:
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
        raise _decode_error(exc, what) from None
    except RecursionError:
        raise MalformedJSONError(
            f"nesting deeper than {max_depth} levels", limit="max_json_depth"
        ) from None
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
    value = parse_json(line, what="the record")
    if type(value) is not dict:
        kind = _KIND_NAMES.get(type(value), type(value).__name__)
        raise MalformedJSONError(f"record is not a JSON object (got {kind})")
    return value


# ---------------------------------------------------------------------------------------------
# RFC 8785 canonical form


def _es6_number(value: float) -> str:
    """``value`` as ECMAScript's Number::toString writes it (RFC 8785 §3.2.2.3)."""
    if not math.isfinite(value):
        raise MalformedJSONError(f"{value!r} has no JSON form (RFC 8785 §3.2.2.3)")
    if value == 0:
        return "0"  # -0 too
    # repr() gives the shortest digits that round-trip, nearest to the value on ties: the same
    # digits ECMAScript picks. Only the layout differs.
    text = repr(value)
    if "e" not in text:
        # repr writes 1e-4 <= |value| < 1e16 without an exponent, as ECMAScript does, but keeps
        # a ".0" on integral values.
        return text[:-2] if text.endswith(".0") else text
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


def read_record(line: bytes) -> tuple[dict[str, Any], str]:
    """The reference reader: one JSONL record parsed strictly, and its content digest.
    :func:`parse_and_digest` and :func:`view_and_digest` give the same, faster."""
    record = parse_record(line)
    return record, content_digest(record)


# ---------------------------------------------------------------------------------------------
# Fast path


@overload
def scan_line(line: bytes) -> tuple[bytes, int, int] | None: ...
@overload
def scan_line(line: bytes, key: str) -> tuple[bytes, int, int, int, int] | None: ...
def scan_line(
    line: bytes, key: str | None = None
) -> tuple[bytes, int, int] | tuple[bytes, int, int, int, int] | None:
    """The native reader on one line: the canonical bytes of the record's content and the span of
    its ``_provenance`` value in ``line`` (``-1, -1`` when absent), and with ``key`` the span of
    that top-level member's value too; or None when the reference path must decide."""
    data = line if type(line) is bytes else bytes(line)
    if key is None:
        return _native.scan(data, _MAX_DEPTH, _es6_number)
    return _native.scan(data, _MAX_DEPTH, _es6_number, key)


def tag_batch(
    data: bytes,
    key: str,
    prefix: bytes,
    batch_size: int,
    finish: Callable[[bytes, int], bytes],
) -> tuple[bytes, int] | None:
    """The native batch tagger on whole JSONL lines (see ``provenance/_native.c``): the signed
    lines and their count, or None when a record must be read in Python."""
    return _native.tag_batch(data, _MAX_DEPTH, _es6_number, key, prefix, batch_size, finish)


def parse_and_digest(line: bytes) -> tuple[dict[str, Any], str]:
    """Parse one JSONL record strictly and compute its content digest, fast.

    Returns what ``(parse_record(line), content_digest(parse_record(line)))`` returns and raises
    :class:`MalformedJSONError` wherever that would. The native reader (``provenance/_native.c``)
    validates the line and writes the canonical bytes of its content in one pass, building no
    Python object; orjson then builds the record. Whatever the native reader does not take (any
    error, and the rare inputs listed in its source) runs the reference path, which gives the
    verdict and the message. A line the native reader accepted is strict JSON without duplicate
    keys or unsafe integers, which orjson reads as the reference does.
    """
    scanned = scan_line(line)
    if scanned is None:
        return read_record(line)
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:  # pragma: no cover - the native reader took the line
        return read_record(line)
    return record, hashlib.sha256(scanned[0]).hexdigest()


_ABSENT: Final = object()
_UNREAD: Final = object()


class RecordView(Mapping[str, Any]):
    """A strictly read record whose ``_provenance`` value is parsed only when asked for and whose
    content is parsed only when something other than ``_provenance`` is asked for (its digest is
    already known).

    ``batch`` holds what the native reader read off a manifest in the exact layout the batch
    tagger writes (see :func:`view_and_digest`), else None.
    """

    __slots__ = ("_line", "_provenance", "_record", "_span", "batch")

    def __init__(
        self,
        line: bytes,
        provenance: Any,
        span: tuple[int, int] = (-1, -1),
        batch: BatchFields | None = None,
    ) -> None:
        self._line = line
        self._provenance = provenance
        self._record: dict[str, Any] | None = None
        self._span = span
        self.batch = batch

    def _whole(self) -> dict[str, Any]:
        if self._record is None:
            self._record = orjson.loads(self._line)
        return self._record

    def _manifest(self) -> Any:
        if self._provenance is _UNREAD:
            start, end = self._span
            self._provenance = orjson.loads(self._line[start:end])
        return self._provenance

    def get(self, key: str, default: Any = None) -> Any:
        if key == PROVENANCE_KEY:
            return default if self._provenance is _ABSENT else self._manifest()
        return self._whole().get(key, default)

    def __getitem__(self, key: str) -> Any:
        if key == PROVENANCE_KEY and self._provenance is not _ABSENT:
            return self._manifest()
        return self._whole()[key]

    def __contains__(self, key: object) -> bool:
        if key == PROVENANCE_KEY:
            return self._provenance is not _ABSENT
        return key in self._whole()

    def __iter__(self) -> Iterator[str]:
        return iter(self._whole())

    def __len__(self) -> int:
        return len(self._whole())

    def __repr__(self) -> str:
        return f"RecordView({self._whole()!r})"


BatchFields = tuple[
    bytes, bytes, int, int, bytes, bytes | tuple[str, str], tuple[str, bytes] | None
]
"""A batch-signed record's manifest as the native reader reads it off the exact layout the batch
tagger writes (``{"statement":…,"batch":{"index":…,"size":…,"path":[…],"dsse":{…}}}``, compact,
lower-case hex, or with ``"sidecar":…,"root":…`` in place of ``"dsse"``), holding what ``orjson``
would parse from those bytes, decoded: the statement (canonical base64 only), its Merkle leaf hash
``SHA-256(0x00 || statement)``, the leaf index, the tree size, the audit path's 32-byte nodes
concatenated, the embedded batch envelope's JSON bytes as they stand in the line (or the sidecar's
name and the root, when the name has no escape); then, when a statement prefix was given and the
statement is that prefix, the record's content digest and an id string with no escapes, that id
and the prefix object (else None)."""


def view_and_digest(line: bytes, prefix: bytes | None = None) -> tuple[Mapping[str, Any], str]:
    """:func:`parse_and_digest` for readers that need only the ``_provenance`` value: the same
    verdict, digest and value, but the record's content becomes Python objects only if asked for
    and the manifest only when it is read (a :class:`RecordView`). When the manifest is exactly
    the batch tagger's layout, the view's ``batch`` holds its fields, decoded natively
    (:data:`BatchFields`; ``prefix`` is the statement prefix to match)."""
    if type(line) is not bytes:
        line = bytes(line)
    scanned = _native.scan_batch(line, _MAX_DEPTH, _es6_number, prefix)
    if scanned is None:
        return read_record(line)
    digest, start, end = scanned[0], scanned[1], scanned[2]
    if start < 0:
        return RecordView(line, _ABSENT), digest
    return RecordView(
        line, _UNREAD, (start, end), scanned[3] if len(scanned) == 4 else None
    ), digest
