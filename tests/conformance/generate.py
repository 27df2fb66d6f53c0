"""Write the conformance cases under ``tests/conformance/cases/``.

Run from the repository root::

    .venv/bin/python -m tests.conformance.generate            # rewrite the committed cases
    .venv/bin/python -m tests.conformance.generate --out DIR  # write them somewhere else

Every key is derived from a fixed seed and every manifest is signed at a fixed time, so Ed25519
cases come out byte-for-byte the same on every run. ECDSA signatures are randomized: cases marked
``randomized`` verify the same way but their signature bytes change.

Each case is a folder with ``records.jsonl``, ``trust.yaml``, an optional ``args.txt`` (extra
``verify`` flags), a one-line ``README.md`` and ``expect.json``: the exit code, the status counts of
``verify --format json`` and every record expected to fail (line, status, record id, and a word its
reason must contain).
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import json
import re
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from provenance import canonical, dsse, merkle
from provenance.keys import PrivateKeySigner
from provenance.manifest import PAYLOAD_TYPE, Contribution, Generator
from provenance.project import save_trust
from provenance.sign import RecordDraft, Tagger
from provenance.trust import TrustedKey, TrustStore

HERE = Path(__file__).resolve().parent
CASES_DIR = HERE / "cases"
README = HERE / "README.md"
TABLE_BEGIN = "<!-- cases:begin (written by generate.py) -->"
TABLE_END = "<!-- cases:end -->"

JsonObj = dict[str, Any]

# ---- fixed keys, time and facts ------------------------------------------------------------


def _ed25519(name: str) -> PrivateKeySigner:
    seed = hashlib.sha256(f"provenance conformance key {name}".encode()).digest()
    return PrivateKeySigner(ed25519.Ed25519PrivateKey.from_private_bytes(seed), name)


GEN = _ed25519("gen")
"""The ordinary trusted signing key."""
SECOND = _ed25519("second")
THIRD = _ed25519("third")
OUTSIDER = _ed25519("outsider")
"""A key that no trust store in the suite trusts."""
ECDSA_KEY = PrivateKeySigner(
    ec.derive_private_key(
        0x5EED_C0DE_0123_4567_89AB_CDEF_FEDC_BA98_7654_3210_0F1E_2D3C_4B5A_6978_8796_A5B4,
        ec.SECP256R1(),
    ),
    "ecdsa",
)

SIGNED_AT = datetime(2024, 6, 1, 9, 0, tzinfo=UTC)
GENERATED_AT = datetime(2024, 5, 31, 18, 30, tzinfo=UTC)
TERMS = "openai/terms-of-use@2024-01-31"


def fixed_clock() -> datetime:
    return SIGNED_AT


def tagger(
    signer: PrivateKeySigner = GEN, *, organization: str = "acme", part_digests: bool = False
) -> Tagger:
    return Tagger(
        signer,
        provider="openai",
        model="gpt-4o",
        service="api",
        terms=TERMS,
        organization=organization,
        model_returned="gpt-4o-2024-05-13",
        clock=fixed_clock,
        part_digests=part_digests,
    )


def trusted(signer: PrivateKeySigner, **scope: Any) -> TrustedKey:
    return TrustedKey(name=signer.name, key=signer.verifying_key(), **scope)


def store(*keys: TrustedKey, threshold: int = 1) -> TrustStore:
    return TrustStore(keys=keys, version=1, threshold=threshold)


# ---- records ---------------------------------------------------------------------------------


def chat(i: int) -> JsonObj:
    return {
        "id": f"r{i}",
        "messages": [
            {"role": "user", "content": f"Question {i}: what is {i} + {i}?"},
            {"role": "assistant", "content": f"It is {2 * i}. ✓"},
        ],
        "score": i % 5,
    }


def tag(i: int, signer: PrivateKeySigner = GEN, *, organization: str = "acme") -> JsonObj:
    return tagger(signer, organization=organization).tag(
        chat(i), generated_at=GENERATED_AT, response_id=f"chatcmpl-{i:04d}"
    )


def tagged(n: int = 3) -> list[JsonObj]:
    return [tag(i) for i in range(n)]


def preference(i: int) -> JsonObj:
    """A record written by four models, signed once with a digest per part."""
    draft = RecordDraft({"id": f"pref-{i}"})
    draft.set(
        "/prompt",
        f"Write a haiku about tide pools (variant {i}).",
        generator=Generator("openai", "gpt-4o", service="api"),
        role="prompt",
        terms=TERMS,
        generated_at=GENERATED_AT,
    )
    draft.set(
        "/chosen",
        "Cold pools hold the sky / a crab rearranges stars / the tide comes to read.",
        generator=Generator("meta", "meta-llama/Llama-3.1-70B-Instruct", service="self-hosted"),
        generated_at=GENERATED_AT,
    )
    draft.set(
        "/rejected",
        "Tide pools are pools of water left by the tide.",
        generator=Generator("mistralai", "mistral-large-2407", service="api"),
        generated_at=GENERATED_AT,
    )
    draft.set(
        "/score",
        8 + i % 2,
        generator=Generator("anthropic", "claude-3-5-sonnet-20241022", service="api"),
        role="judgement",
        generated_at=GENERATED_AT,
    )
    return tagger(part_digests=True).sign_draft(draft)


def batched(n: int = 10, size: int = 4) -> list[JsonObj]:
    """``n`` chat records signed in batches of ``size`` (the last batch may be partial).

    Returned as independent copies: records of one batch no longer share their envelope object.
    """
    signer = tagger()
    records = [chat(i) for i in range(n)]
    out: list[JsonObj] = []
    for start in range(0, n, size):
        out.extend(signer.tag_batch(records[start : start + size]))
    return [orjson.loads(orjson.dumps(r)) for r in out]


def line(record: Any) -> bytes:
    return orjson.dumps(record)


def lines(records: Sequence[Any]) -> list[bytes]:
    return [line(r) for r in records]


# ---- envelopes ---------------------------------------------------------------------------------


def envelope(record: JsonObj) -> JsonObj:
    env: JsonObj = record["_provenance"]["dsse"]
    return env


def payload_of(record: JsonObj) -> bytes:
    return dsse.b64decode(envelope(record)["payload"], "payload")


def statement_of(record: JsonObj) -> JsonObj:
    value: JsonObj = canonical.parse_json(payload_of(record))
    return value


def sign(
    payload: bytes,
    signers: Sequence[PrivateKeySigner] = (GEN,),
    payload_type: str = PAYLOAD_TYPE,
) -> JsonObj:
    return dsse.sign(payload_type, payload, list(signers)).to_dict()


def with_envelope(record: JsonObj, env: JsonObj) -> JsonObj:
    out = copy.deepcopy(record)
    out["_provenance"] = {"dsse": env}
    return out


def resigned(
    record: JsonObj,
    change: Callable[[JsonObj], None],
    signers: Sequence[PrivateKeySigner] = (GEN,),
) -> JsonObj:
    """``record`` with its statement changed by ``change`` and signed again by a trusted key, so
    that only the rule under test can fail."""
    statement = statement_of(record)
    change(statement)
    return with_envelope(record, sign(canonical.canonicalize(statement), signers))


def flip_bit(text: str, byte: int = 10) -> str:
    """Canonical base64 of the decoded bytes with one bit changed."""
    data = bytearray(dsse.b64decode(text, "value"))
    data[byte] ^= 0x01
    return dsse.b64encode(bytes(data))


def sig_entry(signer: PrivateKeySigner, message: bytes, keyid: str | None = None) -> JsonObj:
    return {
        "keyid": signer.keyid if keyid is None else keyid,
        "sig": dsse.b64encode(signer.sign(message)),
    }


# ---- cases -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """A record that must not verify: its line, status, reported id and a word of its reason."""

    line: int
    status: str
    record_id: str | None
    reason: str = ""

    def to_dict(self) -> JsonObj:
        return {
            "line": self.line,
            "status": self.status,
            "record_id": self.record_id,
            "reason_contains": self.reason,
        }


@dataclass
class Built:
    records: list[bytes]
    trust: TrustStore
    failures: list[Failure] = field(default_factory=list)
    args: tuple[str, ...] = ()
    incomplete_batches: int = 0

    def exit_code(self) -> int:
        """The exit code the README prescribes for these outcomes."""
        if any(f.status == "invalid-record" for f in self.failures):
            return 2
        if self.failures:
            return 1
        if self.incomplete_batches and "--require-complete-batches" in self.args:
            return 1
        return 0

    def expect(self) -> JsonObj:
        present = sum(1 for r in self.records if r.strip())
        counts: dict[str, int] = {"ok": present - len(self.failures)}
        for failure in self.failures:
            counts[failure.status] = counts.get(failure.status, 0) + 1
        return {
            "exit": self.exit_code(),
            "statuses": {k: v for k, v in sorted(counts.items()) if v},
            "failures": [f.to_dict() for f in self.failures],
            "incomplete_batches": self.incomplete_batches,
        }


@dataclass(frozen=True)
class Case:
    name: str
    proves: str
    build: Callable[[], Built]
    randomized: bool = False


CASES: list[Case] = []


def case(
    name: str, proves: str, *, randomized: bool = False
) -> Callable[[Callable[[], Built]], Callable[[], Built]]:
    def register(build: Callable[[], Built]) -> Callable[[], Built]:
        if any(c.name == name for c in CASES):
            raise ValueError(f"case {name} is defined twice")
        CASES.append(Case(name, proves, build, randomized))
        return build

    return register


ONLY_GEN = store(trusted(GEN))


def one_bad(bad: JsonObj, status: str, reason: str, record_id: str | None = "r1") -> Built:
    """Three records, r0 and r2 signed as usual and ``bad`` on line 2."""
    good = tagged()
    return Built(
        lines([good[0], bad, good[2]]),
        ONLY_GEN,
        [Failure(2, status, record_id, reason)],
    )


def one_bad_line(bad: bytes, reason: str) -> Built:
    """Three lines, the middle one not strict JSON: no verdict, the others still counted."""
    good = tagged()
    return Built(
        [line(good[0]), bad, line(good[2])],
        ONLY_GEN,
        [Failure(2, "invalid-record", None, reason)],
    )


# ---- must pass ---------------------------------------------------------------------------------


@case("pass-per-record-ed25519", "Records signed one by one with an Ed25519 key verify.")
def _pass_ed25519() -> Built:
    return Built(lines(tagged()), ONLY_GEN)


@case(
    "pass-per-record-ecdsa-p256",
    "Records signed one by one with an ECDSA P-256 key verify.",
    randomized=True,
)
def _pass_ecdsa() -> Built:
    return Built(lines([tag(i, ECDSA_KEY) for i in range(3)]), store(trusted(ECDSA_KEY)))


@case(
    "pass-batch-partial-last",
    "Ten records in batches of 4, 4 and 2 (the last one partial) verify.",
)
def _pass_batch() -> Built:
    return Built(lines(batched()), ONLY_GEN)


@case(
    "pass-batch-record-extracted",
    "One record taken out of a batch-signed file verifies alone (the incomplete batch is only "
    "noted).",
)
def _pass_batch_alone() -> Built:
    return Built(lines([batched()[6]]), ONLY_GEN, incomplete_batches=1)


def _urlsafe(text: str) -> str:
    return base64.urlsafe_b64encode(dsse.b64decode(text, "value")).decode("ascii")


@case(
    "pass-urlsafe-base64",
    "Payload and signatures in the URL-safe base64 alphabet (allowed by DSSE) verify.",
)
def _pass_urlsafe() -> Built:
    out = []
    for record in tagged():
        env = envelope(record)
        env["payload"] = _urlsafe(env["payload"])
        for sig in env["signatures"]:
            sig["sig"] = _urlsafe(sig["sig"])
        out.append(record)
    texts = [envelope(r)["payload"] + envelope(r)["signatures"][0]["sig"] for r in out]
    if not all(re.search("[-_]", t) for t in texts):
        raise ValueError("every record must use a character only the URL-safe alphabet has")
    return Built(lines(out), ONLY_GEN)


@case(
    "pass-unknown-fields-kept",
    "Unknown fields in the statement, predicate, contribution, generator, envelope and signature "
    "(a newer writer) do not stop verification.",
)
def _pass_unknown_fields() -> Built:
    def newer(statement: JsonObj) -> None:
        statement["x_statement_note"] = "written by a newer provenance"
        predicate = statement["predicate"]
        predicate["x_future"] = {"watermark": "synthid-like", "version": 3}
        contribution = predicate["contributions"][0]
        contribution["x_seed"] = 7
        contribution["generator"]["x_region"] = "eu-west"

    out = []
    for record in tagged():
        record = resigned(record, newer)
        env = envelope(record)
        env["x_log_entry"] = {"log": "rekor.example", "index": 12345}
        env["signatures"][0]["x_cert"] = "not a certificate"
        record["_provenance"]["x_sidecar"] = {"note": "kept"}
        out.append(record)
    return Built(lines(out), ONLY_GEN)


@case(
    "pass-multi-model-part-digests",
    "Preference records (prompt, chosen, rejected, score by four models) with a digest per part "
    "verify.",
)
def _pass_multi_model() -> Built:
    return Built(lines([preference(i) for i in range(3)]), ONLY_GEN)


def rich(i: int) -> JsonObj:
    """A record whose canonical form exercises numbers, escapes and key order (RFC 8785)."""
    record = chat(i)
    record["sampling"] = {
        "temperature": 0.7,
        "top_p": 0.95,
        "min_p": 1e-7,
        "budget": 1e21,
        "max_tokens": 100.0,
        "offset": -0.0,
    }
    record["keys"] = {"\ue000 private use": 1, "\U0001f600": 2, "é": 3, "Z": 4, "a": 5}
    record["note"] = "tab\there, bell\u0007, unit\u001f, del\u007f, line sep\u2028, slash /"
    return record


def loose_json(value: Any) -> str:
    """Another valid JSON text for ``value``: keys reversed, spaces and tabs, every non-ASCII
    character escaped, ``/`` escaped, numbers written differently."""
    if isinstance(value, dict):
        members = [f"{loose_json(k)} :\t{loose_json(v)}" for k, v in reversed(value.items())]
        return "{  " + " ,  ".join(members) + "\t}"
    if isinstance(value, list):
        return "[ " + " ,\t".join(loose_json(v) for v in value) + " ]"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=True).replace("/", "\\/")
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, float):
        return format(value, ".17g").replace("e", "E")
    return str(value)


@case(
    "pass-reserialised",
    "Records re-serialised with other key order, whitespace, escapes and number spellings keep "
    "their content digest.",
)
def _pass_reserialised() -> Built:
    signer = tagger()
    out = []
    for i in range(3):
        record = signer.tag(rich(i), generated_at=GENERATED_AT)
        text = loose_json(record).encode("ascii")
        if canonical.parse_record(text) != orjson.loads(line(record)):
            raise ValueError("the re-serialised record is not the same JSON value")
        out.append(text)
    return Built(out, ONLY_GEN)


@case(
    "pass-two-signatures-one-untrusted",
    "An envelope signed by an untrusted key and by a trusted key verifies (threshold 1).",
)
def _pass_two_signatures() -> Built:
    out = [with_envelope(r, sign(payload_of(r), [OUTSIDER, GEN])) for r in tagged()]
    return Built(lines(out), ONLY_GEN)


@case(
    "pass-threshold-2-distinct-keys",
    "With threshold 2, envelopes signed by two distinct trusted keys verify.",
)
def _pass_threshold() -> Built:
    out = [with_envelope(r, sign(payload_of(r), [GEN, SECOND])) for r in tagged()]
    return Built(lines(out), store(trusted(GEN), trusted(SECOND), threshold=2))


@case(
    "pass-keyid-hints-absent-or-wrong",
    "Key ids are only hints: an empty, a missing and a wrong key id still verify with the trusted "
    "key.",
)
def _pass_hints() -> Built:
    records = tagged()
    envelope(records[0])["signatures"][0]["keyid"] = ""
    del envelope(records[1])["signatures"][0]["keyid"]
    envelope(records[2])["signatures"][0]["keyid"] = OUTSIDER.keyid
    return Built(lines(records), ONLY_GEN)


@case(
    "pass-retired-key-signed-before-retirement",
    "A key retired (valid_until) after the records were signed still verifies them.",
)
def _pass_retired() -> Built:
    retired = trusted(
        GEN,
        valid_from=datetime(2024, 1, 1, tzinfo=UTC),
        valid_until=datetime(2024, 7, 1, tzinfo=UTC),
    )
    return Built(lines(tagged()), store(retired, trusted(SECOND)))


@case(
    "pass-crlf-line-endings",
    "A file written with CRLF line endings verifies (the CR is line ending, not content).",
)
def _pass_crlf() -> Built:
    return Built([r + b"\r" for r in lines(tagged())], ONLY_GEN)


# ---- must fail: content --------------------------------------------------------------------------


@case("fail-content-one-byte-changed", "Changing one byte of a record's content is caught.")
def _fail_one_byte() -> Built:
    bad = tag(1)
    bad["messages"][1]["content"] = "It is 3. ✓"
    return one_bad(bad, "content-mismatch", "content digest")


@case(
    "fail-manifest-moved-to-other-record",
    "A valid manifest copied onto another record is caught (reported under the manifest's id).",
)
def _fail_moved() -> Built:
    good = tagged()
    bad = copy.deepcopy(good[1])
    bad["_provenance"] = copy.deepcopy(good[0]["_provenance"])
    return one_bad(bad, "content-mismatch", "content digest", record_id="r0")


@case(
    "fail-line-numbers-count-blank-lines",
    "A changed record after blank lines is named by its physical line number.",
)
def _fail_blank_lines() -> Built:
    good = tagged()
    bad = copy.deepcopy(good[1])
    bad["score"] = 4
    return Built(
        [line(good[0]), b"", b"   ", line(bad), line(good[2])],
        ONLY_GEN,
        [Failure(4, "content-mismatch", "r1", "content digest")],
    )


@case("fail-missing-manifest", "A record without _provenance is reported.")
def _fail_missing() -> Built:
    return one_bad(chat(1), "missing-manifest", "_provenance")


# ---- must fail: signatures and DSSE ------------------------------------------------------------


@case(
    "fail-payload-type-changed",
    "Changing payloadType breaks the signature: PAE binds the type.",
)
def _fail_payload_type() -> Built:
    bad = tag(1)
    envelope(bad)["payloadType"] = "application/json"
    return one_bad(bad, "bad-signature", "signature")


@case(
    "fail-payload-type-resigned",
    "A payloadType other than application/vnd.in-toto+json is refused even when properly signed.",
)
def _fail_payload_type_resigned() -> Built:
    record = tag(1)
    bad = with_envelope(record, sign(payload_of(record), payload_type="application/json"))
    return one_bad(bad, "malformed", "payloadType")


@case(
    "fail-signature-without-pae",
    "A signature over the raw payload instead of its PAE encoding is refused.",
)
def _fail_no_pae() -> Built:
    record = tag(1)
    env = envelope(record)
    env["signatures"] = [sig_entry(GEN, payload_of(record))]
    return one_bad(record, "bad-signature", "signature")


@case(
    "fail-signature-from-other-record",
    "A valid signature copied from another record's envelope does not verify this payload.",
)
def _fail_transplanted() -> Built:
    good = tagged()
    bad = copy.deepcopy(good[1])
    envelope(bad)["signatures"] = copy.deepcopy(envelope(good[0])["signatures"])
    return one_bad(bad, "bad-signature", "signature")


@case("fail-empty-signature-list", "An envelope with an empty signatures list is malformed.")
def _fail_no_signatures() -> Built:
    bad = tag(1)
    envelope(bad)["signatures"] = []
    return one_bad(bad, "malformed", "signatures")


@case(
    "fail-untrusted-key-claims-trusted-keyid",
    "A signature by an untrusted key that carries a trusted key's id is a bad signature.",
)
def _fail_claimed_keyid() -> Built:
    record = tag(1)
    message = dsse.pae(PAYLOAD_TYPE, payload_of(record))
    envelope(record)["signatures"] = [sig_entry(OUTSIDER, message, keyid=GEN.keyid)]
    return one_bad(record, "bad-signature", "signature")


@case("fail-untrusted-signer", "A record signed by a key outside the trust store is refused.")
def _fail_untrusted() -> Built:
    return one_bad(tag(1, OUTSIDER), "untrusted-signer", "trusted")


def _threshold_file(bad: JsonObj) -> Built:
    good = [with_envelope(r, sign(payload_of(r), [GEN, SECOND])) for r in tagged()]
    return Built(
        lines([good[0], bad, good[2]]),
        store(trusted(GEN), trusted(SECOND), threshold=2),
        [Failure(2, "untrusted-signer", "r1", "requires 2")],
    )


@case(
    "fail-threshold-2-same-signature-twice",
    "With threshold 2, one key's signature listed twice counts once.",
)
def _fail_threshold_duplicate() -> Built:
    record = tag(1)
    env = envelope(record)
    env["signatures"] = [env["signatures"][0], dict(env["signatures"][0])]
    return _threshold_file(record)


@case(
    "fail-threshold-2-one-signature",
    "With threshold 2, an envelope signed by one trusted key is refused.",
)
def _fail_threshold_single() -> Built:
    return _threshold_file(tag(1))


# ---- must fail: statement rules (re-signed so only the rule fails) -----------------------------


@case(
    "fail-subject-weak-digest-only",
    "A subject with only md5 and sha1 digests (correct ones, properly signed) is refused.",
)
def _fail_weak_digest() -> Built:
    content = canonical.canonicalize(chat(1))

    def weak(statement: JsonObj) -> None:
        statement["subject"][0]["digest"] = {
            "md5": hashlib.md5(content).hexdigest(),
            "sha1": hashlib.sha1(content).hexdigest(),
        }

    return one_bad(resigned(tag(1), weak), "malformed", "sha256")


@case(
    "fail-statement-wrong-type",
    "A statement whose _type is not https://in-toto.io/Statement/v1 is refused.",
)
def _fail_wrong_type() -> Built:
    def old(statement: JsonObj) -> None:
        statement["_type"] = "https://in-toto.io/Statement/v0.1"

    return one_bad(resigned(tag(1), old), "malformed", "_type")


@case(
    "fail-wrong-predicate-type",
    "A statement with another predicateType (SLSA provenance) is refused.",
)
def _fail_predicate_type() -> Built:
    def slsa(statement: JsonObj) -> None:
        statement["predicateType"] = "https://slsa.dev/provenance/v1"

    return one_bad(resigned(tag(1), slsa), "malformed", "predicateType")


@case("fail-two-subjects", "A statement naming two subjects is refused.")
def _fail_two_subjects() -> Built:
    other = statement_of(tag(0))["subject"][0]

    def two(statement: JsonObj) -> None:
        statement["subject"].append(other)

    return one_bad(resigned(tag(1), two), "malformed", "subject")


@case(
    "fail-statement-duplicate-key",
    "A signed statement with a duplicate JSON key (two 'subject' members) is refused.",
)
def _fail_statement_duplicate() -> Built:
    record = tag(1)
    text = payload_of(record).decode("utf-8")
    fake = json.dumps(statement_of(tag(0))["subject"], separators=(",", ":"))
    forged = text.replace('"subject":', f'"subject":{fake},"subject":', 1)
    if forged == text:
        raise ValueError("no subject member to duplicate")
    return one_bad(with_envelope(record, sign(forged.encode("utf-8"))), "malformed", "duplicate")


@case(
    "fail-per-record-envelope-holds-batch-statement",
    "A per-record envelope carrying a signed batch statement is refused.",
)
def _fail_batch_statement_per_record() -> Built:
    batch_env = batched()[0]["_provenance"]["batch"]["dsse"]
    return one_bad(with_envelope(chat(1), batch_env), "malformed", "predicateType")


# ---- must fail: base64 ---------------------------------------------------------------------------


@case(
    "fail-base64-missing-padding",
    "A signature whose base64 lacks its '=' padding is malformed.",
)
def _fail_no_padding() -> Built:
    bad = tag(1)
    sig = envelope(bad)["signatures"][0]
    sig["sig"] = sig["sig"].rstrip("=")
    return one_bad(bad, "malformed", "base64")


@case(
    "fail-base64-payload-line-wrapped",
    "A payload whose base64 is wrapped with newlines every 76 characters (MIME style) is "
    "malformed.",
)
def _fail_wrapped() -> Built:
    bad = tag(1)
    env = envelope(bad)
    text = env["payload"]
    env["payload"] = "\n".join(text[i : i + 76] for i in range(0, len(text), 76))
    return one_bad(bad, "malformed", "base64")


@case(
    "fail-base64-signature-with-space",
    "A signature whose base64 holds a space is malformed.",
)
def _fail_space() -> Built:
    bad = tag(1)
    sig = envelope(bad)["signatures"][0]
    sig["sig"] = sig["sig"][:44] + " " + sig["sig"][44:]
    return one_bad(bad, "malformed", "base64")


_STD_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


@case(
    "fail-base64-nonzero-padding-bits",
    "A signature whose last base64 character has non-zero padding bits (same bytes, another "
    "encoding) is malformed.",
)
def _fail_padding_bits() -> Built:
    bad = tag(1)
    sig = envelope(bad)["signatures"][0]
    text: str = sig["sig"]
    if not text.endswith("==") or len(dsse.b64decode(text, "sig")) % 3 != 1:
        raise ValueError("expected a signature ending in one byte and '=='")
    value = _STD_ALPHABET.index(text[-3])
    sig["sig"] = text[:-3] + _STD_ALPHABET[value | 0b0001] + "=="
    if base64.b64decode(sig["sig"]) != base64.b64decode(text):
        raise ValueError("the variant must decode to the same bytes")
    return one_bad(bad, "malformed", "padding bits")


@case(
    "fail-base64-mixed-alphabets",
    "A signature mixing the standard and URL-safe base64 alphabets (one '+' or '/' swapped, the "
    "others kept) is malformed.",
)
def _fail_mixed() -> Built:
    bad = tag(1)
    sig = envelope(bad)["signatures"][0]
    text: str = sig["sig"]
    found = re.search(r"[+/]", text)
    if found is None or not re.search(r"[+/]", text[found.end() :]):
        raise ValueError("the signature needs two '+' or '/' characters")
    swapped = {"+": "-", "/": "_"}[found.group()]
    sig["sig"] = text[: found.start()] + swapped + text[found.end() :]
    return one_bad(bad, "malformed", "base64")


# ---- must fail: not strict JSON (no verdict) ---------------------------------------------------


def _bad_r1(old: bytes, new: bytes) -> bytes:
    text = line(tag(1))
    if text.count(old) != 1:
        raise ValueError(f"{old!r} must occur once in the record line")
    return text.replace(old, new)


@case(
    "fail-record-duplicate-key",
    "A record with a duplicate key (two different 'score' values) gets no verdict; the other "
    "records still verify.",
)
def _fail_record_duplicate() -> Built:
    return one_bad_line(_bad_r1(b'"score":1', b'"score":1,"score":4'), "duplicate key")


@case("fail-record-nan", "A record holding NaN gets no verdict; the other records still verify.")
def _fail_nan() -> Built:
    return one_bad_line(_bad_r1(b'"score":1', b'"score":NaN'), "NaN")


@case(
    "fail-record-integer-beyond-2-53",
    "A record holding 2^53+1 gets no verdict; the other records still verify.",
)
def _fail_big_int() -> Built:
    return one_bad_line(_bad_r1(b'"score":1', b'"score":9007199254740993'), "safe range")


@case(
    "fail-record-lone-surrogate",
    "A record holding a lone surrogate escape gets no verdict; the other records still verify.",
)
def _fail_surrogate() -> Built:
    return one_bad_line(_bad_r1(b"It is 2.", b"It is 2.\\ud800"), "surrogate")


@case(
    "fail-record-invalid-utf8",
    "A record holding an invalid UTF-8 byte gets no verdict; the other records still verify.",
)
def _fail_utf8() -> Built:
    return one_bad_line(_bad_r1(b"It is 2.", b"It is 2.\xff"), "UTF-8")


@case(
    "fail-record-truncated-line",
    "A record cut off in the middle gets no verdict; the other records still verify.",
)
def _fail_truncated() -> Built:
    text = line(tag(1))
    return one_bad_line(text[: len(text) // 2], "truncated")


@case(
    "fail-record-is-array",
    "A line holding a JSON array (with a signed record inside) gets no verdict; the other "
    "records still verify.",
)
def _fail_array() -> Built:
    return one_bad_line(line([tag(1)]), "not a JSON object")


# ---- must fail: trust ----------------------------------------------------------------------------


def _second_key_file(
    entry: TrustedKey, status: str, reason: str, organization: str = "acme"
) -> Built:
    """r0 and r2 signed by the ordinary key; r1 by SECOND, trusted as ``entry`` says."""
    records = [tag(0), tag(1, SECOND, organization=organization), tag(2)]
    return Built(lines(records), store(trusted(GEN), entry), [Failure(2, status, "r1", reason)])


@case(
    "fail-revoked-key",
    "A key revoked after it signed fails every record it signed, whatever time they claim.",
)
def _fail_revoked() -> Built:
    entry = trusted(
        SECOND,
        revoked_at=datetime(2024, 9, 1, tzinfo=UTC),
        revoked_reason="key leaked in a public repository",
    )
    return _second_key_file(entry, "revoked-signer", "leaked")


@case(
    "fail-key-outside-validity-window",
    "Records signed before a key's valid_from or after its valid_until are refused.",
)
def _fail_window() -> Built:
    records = [tag(0), tag(1, SECOND), tag(2, THIRD), tag(3)]
    trust = store(
        trusted(GEN),
        trusted(SECOND, valid_until=datetime(2024, 3, 1, tzinfo=UTC)),
        trusted(THIRD, valid_from=datetime(2025, 1, 1, tzinfo=UTC)),
    )
    return Built(
        lines(records),
        trust,
        [
            Failure(2, "expired-signer", "r1", "expired"),
            Failure(3, "expired-signer", "r2", "valid from"),
        ],
    )


@case(
    "fail-key-scoped-to-other-provider",
    "A key trusted only for provider 'meta' cannot sign for an openai model.",
)
def _fail_provider_scope() -> Built:
    return _second_key_file(trusted(SECOND, providers=("meta",)), "untrusted-signer", "provider")


@case(
    "fail-key-scoped-to-other-organization",
    "A key trusted only for organisation 'globex' cannot sign data generated by 'acme'.",
)
def _fail_org_scope() -> Built:
    return _second_key_file(
        trusted(SECOND, organizations=("globex",)), "untrusted-signer", "organisation"
    )


# ---- must fail: records written by several models --------------------------------------------


def _multi_file(bad: JsonObj, status: str, reason: str) -> Built:
    return Built(
        lines([preference(0), bad, preference(2)]),
        ONLY_GEN,
        [Failure(2, status, "pref-1", reason)],
    )


@case(
    "fail-part-digest-mismatch",
    "A properly signed manifest whose /chosen part digest does not match the record is caught "
    "(the whole-record digest matches).",
)
def _fail_part_digest() -> Built:
    record = preference(1)
    wrong = hashlib.sha256(canonical.canonicalize(record["rejected"])).hexdigest()

    def swap(statement: JsonObj) -> None:
        for contribution in statement["predicate"]["contributions"]:
            if contribution["pointer"] == "/chosen":
                contribution["part_digest"] = {"sha256": wrong}

    return _multi_file(resigned(record, swap), "content-mismatch", "/chosen")


@case(
    "fail-part-missing-from-record",
    "A properly signed manifest naming a part the record does not have (/critique) is caught.",
)
def _fail_part_missing() -> Built:
    record = preference(1)

    def extra_part(statement: JsonObj) -> None:
        judge = copy.deepcopy(statement["predicate"]["contributions"][-1])
        judge["pointer"] = "/critique"
        statement["predicate"]["contributions"].append(judge)

    return _multi_file(resigned(record, extra_part), "content-mismatch", "/critique")


@case(
    "fail-contribution-removed",
    "Removing a contribution (the judge) from a signed multi-model manifest breaks the signature.",
)
def _fail_contribution_removed() -> Built:
    record = preference(1)
    statement = statement_of(record)
    statement["predicate"]["contributions"] = [
        c for c in statement["predicate"]["contributions"] if c["role"] != "judgement"
    ]
    envelope(record)["payload"] = dsse.b64encode(canonical.canonicalize(statement))
    return _multi_file(record, "bad-signature", "signature")


@case(
    "fail-part-pointer-non-ascii-digit",
    "A signed manifest whose part pointer uses a non-ASCII digit ('/messages/²') is reported, "
    "not a crash.",
)
def _fail_pointer_digit() -> Built:
    record = chat(1)
    payload = tagger(part_digests=True).statement_for(
        record,
        contributions=[
            Contribution(
                Generator("openai", "gpt-4o", service="api"),
                pointer="/messages/1",
                generated_at=GENERATED_AT,
            )
        ],
    )
    statement: JsonObj = canonical.parse_json(payload)
    statement["predicate"]["contributions"][0]["pointer"] = "/messages/\u00b2"
    bad = with_envelope(record, sign(canonical.canonicalize(statement)))
    return one_bad(bad, "content-mismatch", "/messages/")


# ---- must fail: batch mode -------------------------------------------------------------------


def batch_prov(record: JsonObj) -> JsonObj:
    prov: JsonObj = record["_provenance"]
    return prov


def _batch_file(records: list[JsonObj], failures: list[Failure], incomplete: int = 1) -> Built:
    return Built(lines(records), ONLY_GEN, failures, incomplete_batches=incomplete)


@case(
    "fail-batch-content-changed",
    "Batch mode: changing a record's content is caught.",
)
def _fail_batch_content() -> Built:
    records = batched()
    records[1]["score"] = 4
    return _batch_file(records, [Failure(2, "content-mismatch", "r1", "content digest")])


@case(
    "fail-batch-manifest-moved",
    "Batch mode: a record's statement and proof copied onto another record are caught.",
)
def _fail_batch_moved_manifest() -> Built:
    records = batched()
    records[1]["_provenance"] = copy.deepcopy(records[0]["_provenance"])
    return _batch_file(records, [Failure(2, "content-mismatch", "r0", "content digest")])


@case(
    "fail-batch-record-moved-to-other-batch",
    "Batch mode: a record given another batch's signed envelope does not prove inclusion.",
)
def _fail_batch_other_batch() -> Built:
    records = batched()
    batch_prov(records[1])["batch"]["dsse"] = copy.deepcopy(batch_prov(records[4])["batch"]["dsse"])
    return _batch_file(records, [Failure(2, "bad-proof", "r1", "root")])


@case("fail-batch-leaf-index-changed", "Batch mode: a changed leaf index does not prove inclusion.")
def _fail_batch_index() -> Built:
    records = batched()
    batch_prov(records[1])["batch"]["index"] = 2
    return _batch_file(records, [Failure(2, "bad-proof", "r1", "root")])


@case("fail-batch-tree-size-changed", "Batch mode: a changed tree size does not prove inclusion.")
def _fail_batch_size() -> Built:
    records = batched()
    batch_prov(records[1])["batch"]["size"] = 5
    return _batch_file(records, [Failure(2, "bad-proof", "r1", "batch of 5")])


@case("fail-batch-forged-audit-path", "Batch mode: a forged audit path does not prove inclusion.")
def _fail_batch_path() -> Built:
    records = batched()
    batch_prov(records[1])["batch"]["path"][0] = hashlib.sha256(b"forged").hexdigest()
    return _batch_file(records, [Failure(2, "bad-proof", "r1", "root")])


@case(
    "fail-batch-inner-node-as-leaf",
    "Batch mode: a 64-byte leaf made of two child hashes (an inner node posing as a leaf), with "
    "its parent's audit path, does not prove inclusion.",
)
def _fail_batch_inner_node() -> Built:
    records = batched()
    leaves = [
        merkle.leaf_hash(dsse.b64decode(batch_prov(r)["statement"], "statement"))
        for r in records[:4]
    ]
    batch = batch_prov(records[1])["batch"]
    batch_prov(records[1])["statement"] = dsse.b64encode(leaves[0] + leaves[1])
    batch["index"] = 0
    batch["path"] = [merkle.node_hash(leaves[2], leaves[3]).hex()]
    return _batch_file(records, [Failure(2, "bad-proof", "r1", "inclusion proof")])


@case(
    "fail-batch-dropped-record-required-complete",
    "Batch mode: with --require-complete-batches, a file missing records of two batches fails.",
)
def _fail_batch_dropped() -> Built:
    records = batched()
    del records[5], records[1]
    return Built(
        lines(records), ONLY_GEN, args=("--require-complete-batches",), incomplete_batches=2
    )


@case(
    "fail-batch-same-leaf-twice",
    "Batch mode: the same record twice in a file is caught on its second line.",
)
def _fail_batch_duplicate() -> Built:
    records = batched()
    records.insert(2, copy.deepcopy(records[1]))
    return _batch_file(records, [Failure(3, "bad-proof", "r1", "twice")], incomplete=0)


@case(
    "fail-batch-envelope-signature-broken",
    "Batch mode: a broken batch signature fails every record of that batch and only those.",
)
def _fail_batch_signature() -> Built:
    records = batched()
    for record in records[4:8]:
        sig = batch_prov(record)["batch"]["dsse"]["signatures"][0]
        sig["sig"] = flip_bit(sig["sig"])
    failures = [Failure(n, "bad-signature", f"r{n - 1}", "signature") for n in range(5, 9)]
    return _batch_file(records, failures, incomplete=0)


@case(
    "fail-batch-statement-swapped-for-per-record",
    "Batch mode: a per-record signed statement used as the batch envelope is refused.",
)
def _fail_batch_swapped() -> Built:
    records = batched()
    batch_prov(records[1])["batch"]["dsse"] = envelope(tag(1))
    return _batch_file(records, [Failure(2, "malformed", "r1", "predicateType")])


@case(
    "fail-batch-index-boolean",
    "Batch mode: a leaf index written as JSON true instead of the integer 1 is malformed.",
)
def _fail_batch_bool_index() -> Built:
    records = batched()
    batch_prov(records[1])["batch"]["index"] = True
    return _batch_file(records, [Failure(2, "malformed", "r1", "index")])


@case(
    "fail-batch-envelope-junk-signature-entry",
    "Batch mode: a batch envelope whose signatures list holds a non-object is malformed, even "
    "after a clean copy of the same envelope.",
)
def _fail_batch_junk_signature() -> Built:
    records = batched()
    batch_prov(records[1])["batch"]["dsse"]["signatures"].append(5)
    return _batch_file(records, [Failure(2, "malformed", "r1", "signature 1")])


# ---- writing -----------------------------------------------------------------------------------


def write_case(root: Path, spec: Case) -> None:
    built = spec.build()
    folder = root / spec.name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / "records.jsonl").write_bytes(b"".join(r + b"\n" for r in built.records))
    save_trust(built.trust, folder / "trust.yaml")
    if built.args:
        (folder / "args.txt").write_text(" ".join(built.args) + "\n", encoding="utf-8")
    (folder / "README.md").write_text(spec.proves + "\n", encoding="utf-8")
    (folder / "expect.json").write_text(
        json.dumps(built.expect(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def write_all(root: Path) -> None:
    """Write every case under ``root``, removing case folders that no longer exist."""
    root.mkdir(parents=True, exist_ok=True)
    names = {c.name for c in CASES}
    for folder in root.iterdir():
        if folder.is_dir() and folder.name not in names and (folder / "expect.json").exists():
            shutil.rmtree(folder)
    for spec in CASES:
        write_case(root, spec)


def expectation_summary(expect: JsonObj) -> str:
    statuses = ", ".join(f"{status} {n}" for status, n in expect["statuses"].items())
    extra = ""
    if expect["incomplete_batches"]:
        extra = f"; {expect['incomplete_batches']} incomplete batch(es)"
    return f"{statuses}{extra}"


def readme_table() -> str:
    """The table of cases for ``tests/conformance/README.md``."""
    rows = [
        "| case | exit | statuses | proves |",
        "|---|---|---|---|",
    ]
    for spec in CASES:
        expect = spec.build().expect()
        proves = spec.proves.replace("|", "\\|")
        rows.append(
            f"| `{spec.name}` | {expect['exit']} | {expectation_summary(expect)} | {proves} |"
        )
    return "\n".join(rows)


def update_readme(path: Path = README) -> None:
    text = path.read_text(encoding="utf-8")
    start, end = text.find(TABLE_BEGIN), text.find(TABLE_END)
    if start < 0 or end < start:
        raise ValueError(f"{path}: the case table markers are missing")
    body = f"{TABLE_BEGIN}\n{readme_table()}\n{TABLE_END}"
    path.write_text(text[:start] + body + text[end + len(TABLE_END) :], encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=CASES_DIR, help="folder to write cases to")
    options = parser.parse_args(argv)
    out: Path = options.out
    write_all(out)
    if out.resolve() == CASES_DIR and README.exists():
        update_readme()
    print(f"wrote {len(CASES)} cases to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
