"""Tests for provenance.canonical: strict parsing, RFC 8785 canonical bytes, content digests and
the orjson fast path, which must agree with the reference path on every input."""

from __future__ import annotations

import hashlib
import json
import random
import struct
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import orjson
import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provenance.canonical import (
    MAX_SAFE_INTEGER,
    PROVENANCE_KEY,
    MalformedJSONError,
    RecordView,
    canonicalize,
    content_digest,
    parse_and_digest,
    parse_json,
    parse_record,
    scan_line,
    view_and_digest,
)
from tests.markers import needs_native

VECTORS = Path(__file__).parent / "vectors" / "jcs"
HEAVY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ------------------------------------------------------------------------------------------------
# Strategies

SPECIAL_CHARS = [
    "\x00", "\x08", "\x1f", "\x7f", '"', "\\", "/", ":", "{", "[", ",", ".", "e", "0", "\u0085",
    "\u2028", "\ue000", "\uff0c", "\ufeff", "\uffff", "\U0001f600", "\U00010000", "\U0010ffff",
]  # fmt: skip
CHARS = st.characters(codec="utf-8") | st.sampled_from(SPECIAL_CHARS)
TEXTS = st.text(CHARS, max_size=12) | st.sampled_from(["x.0,", "1e+16]", "-6}", "a:b", "[{"])
KEYS = st.text(CHARS, max_size=5) | st.sampled_from(["_provenance", "a", "\ue000", "\U0001f600"])
SPECIAL_FLOATS = [
    0.0, -0.0, 1.0, -1.0, 100.0, 0.5, 0.1, 1e-5, 1e-6, 1.5e-6, 1e-7, 1e15, 1e16, 1e20, 1e21,
    9007199254740992.0, 5e-324, 1.7976931348623157e308, 2.0**64, 2.0**63, 1e300,
]  # fmt: skip
FLOATS = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(SPECIAL_FLOATS)
INTS = st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER) | st.sampled_from(
    [0, -1, 6, -6, MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER, 10**15, 10**15 - 1]
)
SCALARS = st.none() | st.booleans() | INTS | FLOATS | TEXTS
VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=16,
)
MANIFESTS = st.dictionaries(st.sampled_from(["payloadType", "payload", "signatures"]), VALUES)
RECORDS = st.dictionaries(KEYS, VALUES, max_size=6)


def typed(value: Any) -> Any:
    """``value`` with types made explicit, so 1 != 1.0 and 0.0 != -0.0; key order is kept."""
    if isinstance(value, dict):
        return ("object", [(key, typed(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("array", [typed(item) for item in value])
    if isinstance(value, float):
        return ("float", repr(value))
    return (type(value).__name__, value)


def reference(line: bytes) -> tuple[dict[str, Any], str]:
    record = parse_record(line)
    return record, content_digest(record)


def outcome(fn: Any, line: bytes) -> Any:
    try:
        record, digest = fn(line)
    except MalformedJSONError:
        return "rejected"
    return typed(record), digest


def provenance_outcome(fn: Any, line: bytes) -> Any:
    """What a verifier reads: the ``_provenance`` value (typed) and the content digest."""
    try:
        record, digest = fn(line)
    except MalformedJSONError:
        return "rejected"
    return typed(record.get(PROVENANCE_KEY, "absent")), PROVENANCE_KEY in record, digest


def assert_paths_agree(line: bytes) -> None:
    expected = outcome(reference, line)
    assert outcome(parse_and_digest, line) == expected, line
    assert provenance_outcome(view_and_digest, line) == provenance_outcome(reference, line), line
    if expected != "rejected":
        view = view_and_digest(line)[0]
        assert typed(dict(view)) == expected[0], line
        assert len(view) == len(expected[0][1])


# ------------------------------------------------------------------------------------------------
# A JSON writer with the freedom a producer has: key order, whitespace, escapes, number spelling.
# It can also break the text in the ways the strict parser must catch.

WHITESPACE = ["", "", " ", "\n", "\t", "\r\n  "]


class Writer:
    def __init__(self, rnd: random.Random, *, escapes: bool = True) -> None:
        self.rnd = rnd
        self.escapes = escapes

    def space(self) -> str:
        return self.rnd.choice(WHITESPACE)

    def string(self, text: str) -> str:
        out = ['"']
        for char in text:
            code = ord(char)
            if char in '"\\' or code < 0x20 or (self.escapes and self.rnd.random() < 0.2):
                if code > 0xFFFF:
                    high, low = divmod(code - 0x10000, 0x400)
                    out.append(f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04X}")
                else:
                    hexed = f"{code:04x}"
                    out.append("\\u" + (hexed.upper() if self.rnd.random() < 0.5 else hexed))
            else:
                out.append(char)
        out.append('"')
        return "".join(out)

    def number(self, value: float) -> str:
        shortest = format(value, ".17g")
        if "." not in shortest and "e" not in shortest:
            shortest += ".0"  # without it the token is an integer
        spellings = [repr(value), shortest, format(value, ".17e"), repr(value).upper()]
        if value.is_integer() and abs(value) < 1e15:
            spellings.append(f"{int(value)}.000")
            spellings.append(f"{int(value)}e0")
        return self.rnd.choice(spellings)

    def value(self, value: Any) -> str:
        if value is None or isinstance(value, bool | int):
            return json.dumps(value)
        if isinstance(value, float):
            return self.number(value)
        if isinstance(value, str):
            return self.string(value)
        if isinstance(value, list):
            items = [self.space() + self.value(item) + self.space() for item in value]
            return "[" + ",".join(items) + "]" if items else "[" + self.space() + "]"
        members = list(value.items())
        self.rnd.shuffle(members)
        parts = [
            self.space() + self.string(k) + self.space() + ":" + self.space() + self.value(v)
            for k, v in members
        ]
        return "{" + ",".join(parts) + self.space() + "}"


BREAKAGES = [
    "none", "none", "none", "duplicate", "duplicate-escaped-colon", "big-int", "huge-int",
    "nan", "lone-surrogate", "bad-utf8", "deep", "trailing", "truncate", "control-char",
]  # fmt: skip


def broken_line(record: dict[str, Any], rnd: random.Random, breakage: str) -> bytes:
    """``record`` written with ``Writer``, then broken as ``breakage`` says."""
    writer = Writer(rnd)
    text = writer.value(record)
    inner = text[1:-1].strip(" \t\r\n")
    sep = "," if inner else ""
    if breakage == "duplicate" and record:
        key = rnd.choice(list(record))
        twin = writer.string(key) + ":" + writer.value(rnd.choice([1, "x", [], {"k": 1.5}]))
        text = "{" + (twin + "," + inner if rnd.random() < 0.5 else inner + "," + twin) + "}"
    elif breakage == "duplicate-escaped-colon":
        text = '{"a\\u003a":1,"a:":"b:c"' + sep + inner + "}"
    elif breakage == "big-int":
        text = '{"n":' + str(rnd.choice([2**53, -(2**53), 2**63, 2**64 - 1])) + sep + inner + "}"
    elif breakage == "huge-int":
        text = '{"n":' + str(rnd.choice([2**64, -(2**64), 10**25, 10**400])) + sep + inner + "}"
    elif breakage == "nan":
        text = '{"n":' + rnd.choice(["NaN", "Infinity", "-Infinity", "1e400"]) + sep + inner + "}"
    elif breakage == "lone-surrogate":
        text = '{"s":"' + rnd.choice(["\\ud800", "\\udfff", "\\ude00\\ud83d"]) + '"' + sep + inner
        text += "}"
    elif breakage == "deep":
        depth = rnd.choice([127, 128, 129, 300])
        text = '{"d":' + "[" * depth + "]" * depth + sep + inner + "}"
    elif breakage == "trailing":
        text += rnd.choice([" x", "{}", ",", "\x00", "\ufeff"])
    elif breakage == "truncate" and len(text) > 1:
        text = text[: rnd.randrange(1, len(text))]
    elif breakage == "control-char":
        text = '{"s":"a' + rnd.choice(["\t", "\n", "\x00", "\x1f"]) + 'b"' + sep + inner + "}"
    line = text.encode("utf-8")
    if breakage == "bad-utf8":
        cut = rnd.randrange(len(line) + 1)
        bad = rnd.choice([b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80"])
        line = line[:cut] + bad + line[cut:]
    return line


# ------------------------------------------------------------------------------------------------
# RFC 8785 conformance


def vector_names() -> list[str]:
    return sorted(path.name for path in (VECTORS / "input").iterdir())


@pytest.mark.parametrize("name", vector_names())
def test_rfc8785_vectors(name: str) -> None:
    data = (VECTORS / "input" / name).read_bytes()
    expected = (VECTORS / "output" / name).read_bytes()
    assert canonicalize(parse_json(data)) == expected
    assert canonicalize(parse_json(data.decode("utf-8"))) == expected


@needs_native
@pytest.mark.parametrize("name", [n for n in vector_names() if n != "arrays.json"])
def test_rfc8785_vectors_through_the_fast_path(name: str) -> None:
    data = (VECTORS / "input" / name).read_bytes()
    expected = (VECTORS / "output" / name).read_bytes()
    record, digest = parse_and_digest(data)
    assert digest == hashlib.sha256(expected).hexdigest()
    assert typed(record) == typed(parse_record(data))
    # The native reader takes these itself (it declines nothing here) and writes the RFC's bytes.
    assert scan_line(data) == (expected, -1, -1)


# RFC 8785 Appendix B: IEEE-754 bit patterns and their ECMAScript serialisation.
APPENDIX_B = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


@pytest.mark.parametrize(("bits", "text"), APPENDIX_B)
def test_number_serialisation_appendix_b(bits: str, text: str) -> None:
    value = struct.unpack(">d", bytes.fromhex(bits))[0]
    assert canonicalize(value) == text.encode()
    line = b'{"n":' + orjson.dumps(value) + b"}"
    assert parse_and_digest(line)[1] == hashlib.sha256(b'{"n":' + text.encode() + b"}").hexdigest()


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (-0.0, "0"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1e-6, "0.000001"),
        (1e-7, "1e-7"),
        (123e-20, "1.23e-18"),
        (0.1 + 0.2, "0.30000000000000004"),
        (MAX_SAFE_INTEGER, "9007199254740991"),
        (True, "true"),
        (None, "null"),
        ('\u20ac$\x0f\nA\'B"\\\\"/', '"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"'),
        ("\b\t\n\f\r\x00\x1f\x7f", '"\\b\\t\\n\\f\\r\\u0000\\u001f\x7f"'),
        ({"\ue000": 1, "\U0001f600": 2, "a": 3}, '{"a":3,"\U0001f600":2,"\ue000":1}'),
        ((1, [2, {}]), "[1,[2,{}]]"),
    ],
)
def test_canonicalize_examples(value: Any, text: str) -> None:
    assert canonicalize(value) == text.encode("utf-8")


@given(VALUES)
@HEAVY
def test_canonicalize_matches_the_rfc8785_package(value: Any) -> None:
    assert canonicalize(value) == rfc8785.dumps(value)


@given(VALUES, st.randoms(use_true_random=False), st.booleans())
@HEAVY
def test_canonical_bytes_ignore_key_order_whitespace_and_escapes(
    value: Any, rnd: random.Random, escapes: bool
) -> None:
    expected = canonicalize(value)
    text = Writer(rnd, escapes=escapes).value(value)
    assert canonicalize(parse_json(text.encode("utf-8"))) == expected
    assert canonicalize(parse_json(text)) == expected
    indent = rnd.choice([None, 0, 2, "\t"])
    ascii_only = rnd.random() < 0.5
    assert canonicalize(parse_json(json.dumps(value, indent=indent, ensure_ascii=ascii_only))) == (
        expected
    )


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        float("inf"),
        -float("inf"),
        2**53,
        -(2**53),
        {1: "x"},
        {"a": {("t",): 1}},
        {"a": b"bytes"},
        {1, 2},
        object(),
        "\ud800",
        {"\udfff": 1},
    ],
)
def test_canonicalize_rejects(value: Any) -> None:
    with pytest.raises(MalformedJSONError):
        canonicalize(value)


def test_canonicalize_rejects_a_cycle() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(MalformedJSONError, match="nested too deeply"):
        canonicalize(loop)


# ------------------------------------------------------------------------------------------------
# Strict parsing

REJECTIONS = [
    (b'{"a":1,"a":2}', 'duplicate key "a"'),
    (b'{"x":{"y":[{"b":1,"c":0,"b":2}]}}', 'duplicate key "b"'),
    (b'{"_provenance":{},"_provenance":{}}', 'duplicate key "_provenance"'),
    (b'{"a\\u003a":1,"a:":2}', 'duplicate key "a:"'),
    (b'{"a":NaN}', "NaN is not a JSON number"),
    (b'{"a":Infinity}', "Infinity is not a JSON number"),
    (b'{"a":-Infinity}', "-Infinity is not a JSON number"),
    (b'{"a":9007199254740992}', "outside the IEEE-754 safe range"),
    (b'{"a":-9007199254740992}', "carry it as a string"),
    (b'{"a":18446744073709551616}', "outside the IEEE-754 safe range"),
    (b'{"a":1' + b"0" * 5000 + b"}", "outside the IEEE-754 safe range"),
    (b'{"a":1e400}', "overflows to infinity"),
    (b'{"a":-1e400}', "overflows to infinity"),
    (b'{"a":"x\\ud800"}', "lone surrogate U+D800 in a string"),
    (b'{"a":"\\ude00\\ud83d"}', "lone surrogate U+DE00"),
    (b'{"\\udc00":1}', "lone surrogate U+DC00 in an object key"),
    (b'{"a":["\\udbff"]}', "lone surrogate U+DBFF"),
    (b'{"a":"\xff"}', "invalid UTF-8 at byte 6"),
    (b'{"a":"\xed\xa0\x80"}', "invalid UTF-8"),
    (b'{"a":"\xc0\x80"}', "invalid UTF-8"),
    (b'{"a":[1,2', "truncated JSON"),
    (b'{"a":"abc', "truncated JSON"),
    (b'{"a":1} x', "trailing data"),
    (b'{"a":1}{"b":2}', "trailing data"),
    (b"[1,2]", "record is not a JSON object (got array)"),
    (b'"text"', "record is not a JSON object (got string)"),
    (b"null", "record is not a JSON object (got null)"),
    (b"", "empty input"),
    (b'{"a":' + b"[" * 128 + b"]" * 128 + b"}", "nesting deeper than 128 levels"),
    (b"[" * 100_000 + b"]" * 100_000, "nesting deeper than 128 levels"),
    (b'{"a":"\t"}', "invalid JSON: Invalid control character"),
    (b'{"a":01}', "invalid JSON"),
    (b'{"a":1,}', "invalid JSON"),
    (b'\xef\xbb\xbf{"a":1}', "invalid JSON"),
]


@pytest.mark.parametrize(("line", "message"), REJECTIONS)
def test_rejections(line: bytes, message: str) -> None:
    for parse in (parse_record, parse_and_digest):
        with pytest.raises(MalformedJSONError) as caught:
            parse(line)
        assert message in caught.value.message


def test_parse_json_limits() -> None:
    assert parse_json(b"[" * 128 + b"]" * 128) is not None
    assert parse_json(b"[[[]]]", max_depth=3) == [[[]]]
    with pytest.raises(MalformedJSONError, match="nesting deeper than 2 levels"):
        parse_json(b"[[[]]]", max_depth=2)
    assert parse_json(b"[9007199254740991, -9007199254740991]") == [
        MAX_SAFE_INTEGER,
        -MAX_SAFE_INTEGER,
    ]
    assert parse_json('"\\ud83d\\ude00 \U0001f600"') == "\U0001f600 \U0001f600"
    with pytest.raises(MalformedJSONError, match="lone surrogate"):
        parse_json('"\udc00"')


def test_parse_json_number_types() -> None:
    value = parse_json(b"[1, -0, 1.0, 1e2, 1E-2, -0.0, 1e-400]")
    assert typed(value) == typed([1, 0, 1.0, 100.0, 0.01, -0.0, 0.0])


# ------------------------------------------------------------------------------------------------
# Content digest


def test_content_digest_ignores_the_manifest() -> None:
    content = {"id": "r1", "messages": [{"role": "user", "content": "héllo 😀"}], "t": 0.7}
    signed = {**content, PROVENANCE_KEY: {"payload": "AAAA", "signatures": []}}
    expected = hashlib.sha256(canonicalize(content)).hexdigest()
    assert content_digest(content) == content_digest(signed) == expected
    assert parse_and_digest(orjson.dumps(signed))[1] == expected
    first = {PROVENANCE_KEY: {"x": 1}, **content}
    assert parse_and_digest(orjson.dumps(first))[1] == expected


def test_content_digest_keeps_nested_manifest_keys() -> None:
    record = {"a": {PROVENANCE_KEY: 1}}
    assert content_digest(record) == hashlib.sha256(b'{"a":{"_provenance":1}}').hexdigest()
    assert parse_and_digest(orjson.dumps(record))[1] == content_digest(record)


@given(RECORDS, MANIFESTS, st.randoms(use_true_random=False))
@HEAVY
def test_content_digest_changes_with_one_byte_of_content(
    record: dict[str, Any], manifest: dict[str, Any], rnd: random.Random
) -> None:
    record = {**record, "text": "content"}
    line = orjson.dumps({**record, PROVENANCE_KEY: manifest})
    at = line.index(b'"content"') + 1 + rnd.randrange(7)
    changed = line[:at] + bytes([line[at] ^ 0x01]) + line[at + 1 :]
    assert parse_and_digest(changed)[1] != parse_and_digest(line)[1]
    assert content_digest(parse_record(changed)) != content_digest(record)
    assert content_digest(record) == content_digest({**record, PROVENANCE_KEY: manifest})


# ------------------------------------------------------------------------------------------------
# The fast path agrees with the reference path


@given(RECORDS, MANIFESTS, st.booleans(), st.booleans())
@HEAVY
def test_fast_path_on_orjson_lines(
    record: dict[str, Any], manifest: dict[str, Any], signed: bool, newline: bool
) -> None:
    if signed:
        record = {**record, PROVENANCE_KEY: manifest}
    line = orjson.dumps(record) + (b"\n" if newline else b"")
    assert_paths_agree(line)
    content = {k: v for k, v in record.items() if k != PROVENANCE_KEY}
    assert parse_and_digest(line)[1] == hashlib.sha256(rfc8785.dumps(content)).hexdigest()


@given(RECORDS, MANIFESTS, st.randoms(use_true_random=False), st.sampled_from(BREAKAGES))
@HEAVY
def test_fast_path_on_written_and_broken_lines(
    record: dict[str, Any], manifest: dict[str, Any], rnd: random.Random, breakage: str
) -> None:
    if rnd.random() < 0.7:
        record = {**record, PROVENANCE_KEY: manifest}
    assert_paths_agree(broken_line(record, rnd, breakage))


MUTATION_BYTES = b' "\\:,[]{}0123456789.eE+-aNtfnu\x00\x7f\xc3\xa9\xef\xbf\xbf\xf0\x9f\x98\x80\xff'


@given(RECORDS, st.randoms(use_true_random=False))
@HEAVY
def test_fast_path_on_mutated_lines(record: dict[str, Any], rnd: random.Random) -> None:
    line = bytearray(
        orjson.dumps(record) if rnd.random() < 0.5 else broken_line(record, rnd, "none")
    )
    for _ in range(rnd.randint(1, 3)):
        at = rnd.randrange(len(line) + 1)
        byte = rnd.choice(MUTATION_BYTES)
        action = rnd.choice(["insert", "replace", "delete"])
        if action == "insert" or at == len(line):
            line.insert(at, byte)
        elif action == "replace":
            line[at] = byte
        else:
            del line[at]
    assert_paths_agree(bytes(line))


@given(FLOATS, st.randoms(use_true_random=False))
@HEAVY
def test_fast_path_floats_anywhere(value: float, rnd: random.Random) -> None:
    for record in ({"f": value}, {"a": [1, {"b": [value]}], "f": 0.5}, {"f": value, "g": -value}):
        assert_paths_agree(orjson.dumps(record))
        assert_paths_agree(Writer(rnd).value(record).encode())


@given(
    st.integers(1, 40).flatmap(lambda n: st.text("0123456789", min_size=n, max_size=n)),
    st.integers(-340, 320),
    st.sampled_from(["", "-"]),
)
@HEAVY
def test_fast_path_float_spellings(digits: str, exponent: int, sign: str) -> None:
    """Floats not in orjson's own spelling are read by orjson; it must round as Python does."""
    mantissa = (digits[0] + "." + digits[1:]) if len(digits) > 1 else digits
    line = f'{{"f": {sign}{mantissa}e{exponent}}}'.encode()
    assert_paths_agree(line)


def test_fast_path_halfway_floats() -> None:
    # Decimal strings exactly halfway between two doubles, and just off it: round-to-even cases.
    for bits in (0x3FF0000000000000, 0x4340000000000001, 0x0010000000000000, 0x7FEFFFFFFFFFFFFE):
        low = struct.unpack(">d", bits.to_bytes(8, "big"))[0]
        high = struct.unpack(">d", (bits + 1).to_bytes(8, "big"))[0]
        with localcontext() as context:
            context.prec = 1200
            middle = (Decimal(low) + Decimal(high)) / 2
            spellings = [format(middle, "e"), format(middle.next_plus(), "e")]
        for text in spellings:
            assert_paths_agree(('{"f": ' + text + "}").encode())


def test_fast_path_strings_escape_every_code_point_as_jcs() -> None:
    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    assert orjson.dumps(every) == canonicalize(every) == rfc8785.dumps(every)
    assert_paths_agree(orjson.dumps({"s": every}))


def test_fast_path_key_order_is_utf16() -> None:
    keys = ["\ue000", "\uffff", "\U0001f600", "\U00010000", "a", "\u00e9", "\ufb33", "\ud7ff"]
    record = {key: index for index, key in enumerate(keys)}
    nested = {"outer": [record], "😀": "\ue000"}
    for value in (record, nested, {"x": record, PROVENANCE_KEY: {}}):
        assert_paths_agree(orjson.dumps(value))
        assert parse_and_digest(orjson.dumps(value))[1] == content_digest(value)
    assert canonicalize(record).index("\U0001f600".encode()) < canonicalize(record).index(
        "\ue000".encode()
    )


@pytest.mark.parametrize(
    "line",
    [
        b'{"a":"[[[[' + b"[" * 300 + b'","b":1}',
        b'{"a":' + b"[" * 127 + b"]" * 127 + b"}",
        b'{"a" : ' + b"[" * 127 + b"]" * 127 + b"}",
        b'{"a":' + b"[" * 128 + b"]" * 128 + b"}",
        b'{"a":"' + b"{" * 200 + b'","b":"' + b"[" * 200 + b'"}',
        b'{"a":' + b'{"b":[' * 63 + b"1" + b"]}" * 63 + b"}",
        b'{"a":' + b'{"b":[' * 64 + b"1" + b"]}" * 64 + b"}",
        b'{"a":' + b'[{"b":' * 63 + b"{}" + b"}]" * 63 + b"}",
        b'{"a":' + b'[{"b":' * 63 + b"[{}]" + b"}]" * 63 + b"}",
        b'{"_provenance":' + b'{"p":' * 127 + b"[]" + b"}" * 127 + b"}",
        b'{"_provenance":' + b'{"p":' * 126 + b"[]" + b"}" * 126 + b',"x":"' + b"[" * 9 + b'"}',
        b'{"a":"x.0,","b":"1e+16]","c":"-6}","d":1}',
        b'{"a":1.0,"b":[{"c":[2.0,1e16,1.5e-6]}],"d":-0.0}',
        b'{"a":100.0,"b":1e+16,"c":1e-6,"d":[0.5]}',
        b'{"n":9007199254740991,"m":-9007199254740991}',
        b'{"n":9007199254740992}',
        b'{"n":1,"_provenance":{"big":9223372036854775807}}',
        b'{"n":1,"_provenance":{"big":123456789012345678901234567890}}',
        b'{"n":1,"_provenance":{"d":1,"d":2}}',
        b'{"n": 1, "_provenance": {"d": 1, "d": 2}}',
        b'{"a": "x:y", "a": 1}',
        b'{"a\\u003A": 1, "b": "c"}',
        b'{"a": 1.0E+2, "b": 10000000000000000000000000e-25}',
        b'{"x": 1}\r\n',
        b' {"x":1}',
        b'{"x":1}\n\n',
    ],
)
def test_fast_path_edge_lines(line: bytes) -> None:
    assert_paths_agree(line)


def test_fast_path_returns_the_whole_record_in_order() -> None:
    line = b'{"z":1,"_provenance":{"p":true},"a":[1.5,"x"]}'
    record, digest = parse_and_digest(line)
    assert list(record) == ["z", "_provenance", "a"]
    assert record == {"z": 1, PROVENANCE_KEY: {"p": True}, "a": [1.5, "x"]}
    assert digest == hashlib.sha256(b'{"a":[1.5,"x"],"z":1}').hexdigest()


# ------------------------------------------------------------------------------------------------
# The native reader: it takes ordinary records itself, and declines what it must


@needs_native
@given(RECORDS, MANIFESTS, st.booleans())
@HEAVY
def test_native_reader_takes_ordinary_records(
    record: dict[str, Any], manifest: dict[str, Any], signed: bool
) -> None:
    """Records without the few inputs it leaves to the reference are read natively: the fast
    path is not a reference path in disguise."""
    if signed:
        record = {PROVENANCE_KEY: manifest, **record}
    line = orjson.dumps(record)
    content = {k: v for k, v in record.items() if k != PROVENANCE_KEY}
    if any(type(v) is int and abs(v) >= 10**15 for v in _all_values(record)):
        return  # 16 digits: left to the reference
    scanned = scan_line(line)
    assert scanned is not None, line
    body, start, end = scanned
    assert body == rfc8785.dumps(content)
    if PROVENANCE_KEY in record:
        assert orjson.loads(line[start:end]) == record[PROVENANCE_KEY]
    else:
        assert (start, end) == (-1, -1)


def _all_values(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [v for item in value.values() for v in _all_values(item)]
    if isinstance(value, list):
        return [v for item in value for v in _all_values(item)]
    return [value]


@needs_native
@pytest.mark.parametrize(("bits", "text"), APPENDIX_B)
def test_native_reader_numbers_appendix_b(bits: str, text: str) -> None:
    value = struct.unpack(">d", bytes.fromhex(bits))[0]
    for spelling in (repr(value), format(value, ".17e"), repr(value).upper()):
        line = f'{{"f":{spelling}}}'.encode()
        assert scan_line(line) == (f'{{"f":{text}}}'.encode(), -1, -1), spelling


@pytest.mark.parametrize(
    "line",
    [
        b'{"n":1234567890123456}',  # 16 digits: the reference decides
        b'{"a":1,"a":2}',
        b'{"a":{"b":1,"c":2,"b":3}}',
        b'{"_provenance":1,"_provenance":2}',
        b'{"\\u005fprovenance":1,"_provenance":2}',
        b'{"_provenance":{"k":1,"k":1}}',
        b'{"s":"\\ud800"}',
        b'{"s":"\\udc00\\ud800"}',
        b'{"s":"\xed\xa0\x80"}',
        b'{"s":"\xc0\x80"}',
        b'{"s":"\xf4\x90\x80\x80"}',
        b'{"s":"\xff"}',
        b'{"s":"a\tb"}',
        b'{"s":"\\x"}',
        b'{"n":NaN}',
        b'{"n":1e400}',
        b'{"n":01}',
        b'{"n":1.}',
        b'{"n":-}',
        b'{"n":.5}',
        b"[1]",
        b'"x"',
        b"",
        b'{"a":1} x',
        b'{"a":1',
        b'{"a":[1,]}',
        b'{"a":1,}',
        b'{"a" 1}',
        b'{"a":tru}',
        b"\xef\xbb\xbf{}",
        b'{"d":' + b"[" * 128 + b"]" * 128 + b"}",
    ],
)
def test_native_reader_declines(line: bytes) -> None:
    assert scan_line(line) is None
    assert_paths_agree(line)


@needs_native
@pytest.mark.parametrize(
    ("line", "body"),
    [
        (b'{"b":1,"a":2}', b'{"a":2,"b":1}'),
        (b' {\n"a" : [ 1 , 2.50 , -0 , -0.0 , 1E2 ] }\r\n', b'{"a":[1,2.5,0,0,100]}'),
        (b'{"s":"\\u00e9\\/\\u001F\\t\\""}', b'{"s":"\xc3\xa9/\\u001f\\t\\""}'),
        (b'{"\\u0062":1,"a":2}', b'{"a":2,"b":1}'),
        (b'{"z":{"y":1,"x":[{"w":2,"v":3}]},"_provenance":{"p":[1]},"a":null}',
         b'{"a":null,"z":{"x":[{"v":3,"w":2}],"y":1}}'),
        (b'{"_provenance":{}}', b"{}"),
        (b'{"d":' + b"[" * 127 + b"]" * 127 + b"}", b'{"d":' + b"[" * 127 + b"]" * 127 + b"}"),
        (b'{"k":"\\ud83d\\ude00 \xf0\x9f\x98\x80 \\u2028"}',
         b'{"k":"\xf0\x9f\x98\x80 \xf0\x9f\x98\x80 \xe2\x80\xa8"}'),
    ],
)  # fmt: skip
def test_native_reader_writes_canonical_bytes(line: bytes, body: bytes) -> None:
    scanned = scan_line(line)
    assert scanned is not None
    assert scanned[0] == body
    assert_paths_agree(line)


@needs_native
def test_native_reader_gives_the_manifest_span() -> None:
    line = b'{"a":1, "_provenance" : {"p": [1, "x"]} ,"b":2}'
    scanned = scan_line(line)
    assert scanned is not None
    body, start, end = scanned
    assert (body, line[start:end]) == (b'{"a":1,"b":2}', b'{"p": [1, "x"]}')


@given(st.binary(max_size=200))
@HEAVY
def test_native_reader_on_arbitrary_bytes(data: bytes) -> None:
    assert_paths_agree(data)
    assert_paths_agree(b'{"a":' + data + b"}")
    assert_paths_agree(b'{"s":"' + data + b'"}')


@needs_native
def test_record_view_reads_the_content_only_when_asked() -> None:
    line = b'{"id":"r-1","_provenance":{"p":1},"text":"hi"}'
    view, digest = view_and_digest(line)
    assert isinstance(view, RecordView)
    assert digest == content_digest(parse_record(line))
    assert view.get(PROVENANCE_KEY) == {"p": 1}
    assert view[PROVENANCE_KEY] == {"p": 1}
    assert PROVENANCE_KEY in view
    assert view.get("id") == "r-1"
    assert view["text"] == "hi"
    assert list(view) == ["id", PROVENANCE_KEY, "text"]
    bare = view_and_digest(b'{"id":"r-2"}')[0]
    assert PROVENANCE_KEY not in bare
    assert bare.get(PROVENANCE_KEY, "none") == "none"
    with pytest.raises(KeyError):
        bare[PROVENANCE_KEY]


@needs_native
def test_native_reader_gives_the_span_of_a_chosen_member() -> None:
    line = b'{"meta":{"id":"inner"},"id" : "r-7" ,"_provenance":{"p":1},"n":[1]}'
    scanned = scan_line(line, "id")
    assert scanned is not None
    body, start, end, key_start, key_end = scanned
    assert body == b'{"id":"r-7","meta":{"id":"inner"},"n":[1]}'
    assert (line[start:end], line[key_start:key_end]) == (b'{"p":1}', b'"r-7"')
    assert scan_line(b'{"meta":{"id":1}}', "id") == (b'{"meta":{"id":1}}', -1, -1, -1, -1)
    assert scan_line(b'{"\\u0069d":2}', "id") == (b'{"id":2}', -1, -1, 11, 12)
    assert scan_line(b'{"id":1,"id":2}', "id") is None
