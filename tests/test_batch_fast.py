"""The fast paths of signing and verification give the verdicts and bytes of the reference paths.

* joint inclusion proofs (the tree rebuilt over a run of leaves) against the walk of each record's
  own audit path, on tampered inputs;
* statements read from known canonical bytes against the strict parser and the manifest model;
* parallel verification (spans read by the workers) against verification in one process;
* the file tagger (shared predicate bytes, several workers) against the SDK's statements;
* orjson-based canonical bytes and content digests against the reference RFC 8785 code;
* batch envelopes in a sidecar file next to the data.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provenance import canonical, dsse, scan
from provenance.errors import InputError, MalformedJSONError
from provenance.keys import PrivateKeySigner
from provenance.manifest import Generator
from provenance.native import lib as _native
from provenance.sign import RecordDraft, Tagger, content_digest, tag_jsonl
from provenance.sign import lines as tagging
from provenance.sources.base import RawRecord
from provenance.trust import TrustedKey, TrustStore
from provenance.verify import RecordResult, Verifier
from tests.conftest import chat_records, read_jsonl, write_jsonl
from tests.markers import needs_native
from tests.oracles import canonical_b64, expected_batch_fields

SIGNED_AT = datetime(2024, 6, 1, 9, 0, tzinfo=UTC)
GENERATED_AT = datetime(2024, 5, 31, 18, 30, tzinfo=UTC)
SIGNER = PrivateKeySigner.generate(name="gen")
OTHER = PrivateKeySigner.generate(name="other")
TRUST = TrustStore(keys=(TrustedKey("gen", SIGNER.verifying_key()),))
_b64 = _native.b64decode
_parse_canonical = Verifier(TRUST).statement_json
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Record = dict[str, Any]


def tagger(signer: PrivateKeySigner = SIGNER, **options: Any) -> Tagger:
    return Tagger(
        signer,
        provider="openai",
        model="gpt-4o",
        service="api",
        organization="acme",
        clock=lambda: SIGNED_AT,
        **options,
    )


def batched(n: int, size: int) -> list[Record]:
    """``n`` records signed in batches of ``size``, as independent copies."""
    records = chat_records(n)
    out: list[Record] = []
    for start in range(0, n, size):
        out.extend(tagger().tag_batch(records[start : start + size]))
    return [orjson.loads(orjson.dumps(r)) for r in out]


def prov(record: Record) -> Any:
    return record["_provenance"]


def reference(records: list[Record]) -> list[RecordResult]:
    """Each record verified alone, by a fresh verifier: the walk of its own audit path."""
    out = []
    for number, record in enumerate(records, 1):
        raw = RawRecord("f.jsonl", number, orjson.dumps(record))
        out.append(Verifier(TRUST, now=SIGNED_AT).verify(raw))
    return out


def fast(records: list[Record], details: bool = True) -> list[Any]:
    items = []
    for number, record in enumerate(records, 1):
        parsed, digest = canonical.parse_and_digest(orjson.dumps(record))
        items.append((number, parsed, digest))
    return Verifier(TRUST, now=SIGNED_AT).verify_many("f.jsonl", items, details=details)


def warmed() -> Verifier:
    """A verifier that has read a batch of the same generation run, so it holds the statement
    prefix the native reader matches statements with (as a scan has after its first block)."""
    verifier = Verifier(TRUST, now=SIGNED_AT)
    warm = [orjson.dumps(r) for r in batched(3, 3)]
    assert all(r.ok for r in verifier.verify_many("w.jsonl", native_items(warm, None)))
    assert verifier.statement_prefix() is not None
    return verifier


def native_items(lines: list[bytes], prefix: bytes | None) -> list[tuple[int, Any, str]]:
    return [(n, *canonical.view_and_digest(line, prefix)) for n, line in enumerate(lines, 1)]


def fast_native(records: list[Record], details: bool = True) -> list[Any]:
    """:func:`fast` through the reader a scan uses: the native batch lane and the statement
    prefix of a verifier that has read the same generation run before."""
    verifier = warmed()
    lines = [orjson.dumps(r) for r in records]
    items = native_items(lines, verifier.statement_prefix())
    return verifier.verify_many("f.jsonl", items, details=details)


def verdicts(results: list[Any]) -> list[tuple[str, str, str | None]]:
    return [(r.status.value, r.reason, r.record_id) for r in results]


def _path_changed(records: list[Record]) -> None:
    prov(records[5])["batch"]["path"][1] = hashlib.sha256(b"forged").hexdigest()


def _path_upper_case(records: list[Record]) -> None:
    batch = prov(records[2])["batch"]
    batch["path"] = [p.upper() for p in batch["path"]]


def _path_shortened(records: list[Record]) -> None:
    prov(records[9])["batch"]["path"].pop()


def _path_longer(records: list[Record]) -> None:
    prov(records[0])["batch"]["path"].append("00" * 32)


def _path_not_hex(records: list[Record]) -> None:
    prov(records[4])["batch"]["path"][0] = "zz" * 32


def _first_and_last_paths_forged(records: list[Record]) -> None:
    # the two paths a joint proof borrows nodes from
    prov(records[0])["batch"]["path"][-1] = "11" * 32
    prov(records[7])["batch"]["path"][-1] = "11" * 32


def _index_changed(records: list[Record]) -> None:
    prov(records[3])["batch"]["index"] = 4


def _index_boolean(records: list[Record]) -> None:
    prov(records[1])["batch"]["index"] = True


def _index_out_of_range(records: list[Record]) -> None:
    prov(records[6])["batch"]["index"] = 99


def _size_changed(records: list[Record]) -> None:
    prov(records[3])["batch"]["size"] = 9


def _statement_swapped(records: list[Record]) -> None:
    prov(records[2])["statement"], prov(records[3])["statement"] = (
        prov(records[3])["statement"],
        prov(records[2])["statement"],
    )


def _records_swapped(records: list[Record]) -> None:
    records[2], records[5] = records[5], records[2]


def _content_changed(records: list[Record]) -> None:
    records[4]["score"] = 42


def _manifest_moved(records: list[Record]) -> None:
    records[6]["_provenance"] = copy.deepcopy(records[5]["_provenance"])


def _duplicate(records: list[Record]) -> None:
    records.insert(3, copy.deepcopy(records[1]))


def _moved_to_other_batch(records: list[Record]) -> None:
    prov(records[1])["batch"]["dsse"] = copy.deepcopy(prov(records[9])["batch"]["dsse"])


def _signature_broken(records: list[Record]) -> None:
    for record in records[8:]:
        sig = prov(record)["batch"]["dsse"]["signatures"][0]
        raw = bytearray(base64.b64decode(sig["sig"]))
        raw[0] ^= 1
        sig["sig"] = base64.b64encode(bytes(raw)).decode()


def _junk_signature_after_clean_copy(records: list[Record]) -> None:
    prov(records[5])["batch"]["dsse"]["signatures"].append(5)


def _statement_not_canonical_base64(records: list[Record]) -> None:
    text = prov(records[3])["statement"]
    prov(records[3])["statement"] = text[:12] + "\n" + text[12:]


def _statement_urlsafe_alphabet(records: list[Record]) -> None:
    text = prov(records[3])["statement"]
    prov(records[3])["statement"] = text.replace("+", "-").replace("/", "_")


def _dropped(records: list[Record]) -> None:
    del records[3:5]


TAMPERINGS: dict[str, Callable[[list[Record]], None]] = {
    f.__name__.strip("_"): f
    for f in (
        _path_changed,
        _path_upper_case,
        _path_shortened,
        _path_longer,
        _path_not_hex,
        _first_and_last_paths_forged,
        _index_changed,
        _index_boolean,
        _index_out_of_range,
        _size_changed,
        _statement_swapped,
        _records_swapped,
        _content_changed,
        _manifest_moved,
        _duplicate,
        _moved_to_other_batch,
        _signature_broken,
        _junk_signature_after_clean_copy,
        _statement_not_canonical_base64,
        _statement_urlsafe_alphabet,
        _dropped,
    )
}


STILL_VALID = {
    "dropped",  # filtering a signed file is legitimate
    "duplicate",  # a second copy is caught when the file is scanned, not record by record
    "path_upper_case",  # hex is read in either case
    "records_swapped",  # records may be reordered
    "statement_urlsafe_alphabet",  # DSSE allows either base64 alphabet
}


@pytest.mark.parametrize("reader", [fast, fast_native], ids=["parsed", "native"])
@pytest.mark.parametrize("name", sorted(TAMPERINGS))
def test_joint_proofs_give_the_verdicts_of_the_walk(
    name: str, reader: Callable[..., list[Any]]
) -> None:
    records = batched(11, 8)
    TAMPERINGS[name](records)
    expected = reference(records)
    assert any(not r.ok for r in expected) == (name not in STILL_VALID)
    assert verdicts(reader(records)) == verdicts(expected)
    short = reader(records, details=False)
    assert [getattr(r, "status", None) for r in short if isinstance(r, RecordResult)] == [
        r.status for r in expected if not r.ok
    ]


@needs_native
def test_untampered_batches_are_proven_jointly_not_walked(monkeypatch: pytest.MonkeyPatch) -> None:
    records = batched(40, 16)

    def no_walk(*args: Any) -> Any:
        raise AssertionError("a record of a whole run was walked alone")

    monkeypatch.setattr(Verifier, "inclusion", no_walk)
    results = fast(records)
    assert all(r.ok for r in results)
    assert [(r.batch.index, r.batch.size) for r in results[16:19]] == [(0, 16), (1, 16), (2, 16)]


def test_an_envelope_changed_in_place_after_a_verify_is_checked_again() -> None:
    records = batched(6, 6)
    verifier = Verifier(TRUST, now=SIGNED_AT)
    items = [
        (n, r, canonical.parse_and_digest(orjson.dumps(r))[1]) for n, r in enumerate(records, 1)
    ]
    assert all(r.ok for r in verifier.verify_many("f.jsonl", items))
    signature = prov(records[1])["batch"]["dsse"]["signatures"][0]
    signature["sig"] = base64.b64encode(OTHER.sign(b"other")).decode("ascii")
    again = verifier.verify_many("f.jsonl", items[1:])
    expected = reference(records)[1:]
    assert [r.status for r in expected] == ["bad-signature", "ok", "ok", "ok", "ok"]
    assert [(r.status, r.reason) for r in again] == [(r.status, r.reason) for r in expected]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13])
def test_every_run_of_a_batch_is_proven(size: int) -> None:
    records = batched(size, size)
    for first in range(size):
        for last in range(first, size):
            assert all(r.ok for r in fast(records[first : last + 1]))


def test_fast_manifest_equals_the_manifest_model() -> None:
    records = batched(6, 3)
    strict = reference(records)
    quick = fast(records)
    assert [r.manifest for r in quick] == [r.manifest for r in strict]
    assert [r.manifest.predicate.signed_at for r in quick if r.manifest] == [SIGNED_AT] * 6


def _per_record(n: int = 4) -> list[Record]:
    return [tagger().tag(r, generated_at=GENERATED_AT) for r in chat_records(n)]


def _resign(record: Record, statement: bytes) -> None:
    record["_provenance"]["dsse"] = tagger().envelope(statement)


def test_a_known_predicate_with_a_duplicate_key_is_still_malformed() -> None:
    records = _per_record()
    payload = dsse.b64decode(prov(records[1])["dsse"]["payload"], "payload")
    forged = payload.replace(b'"organization":"acme"', b'"organization":"acme","organization":"x"')
    assert forged != payload
    _resign(records[1], forged)
    assert verdicts(fast(records)) == verdicts(reference(records))
    assert fast(records)[1].status.value == "malformed"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b'"signed_at":"2024-06-01T09:00:00Z"', b'"signed_at":"2024-13-01T09:00:00Z"'),
        (b'"signed_at":"2024-06-01T09:00:00Z"', b'"signed_at":"2024-06-01T09:00:00"'),
        (b'"signed_at":"2024-06-01T09:00:00Z"', b'"signed_at":"2024-06-01T10:00:00+01:00"'),
        (b'"name":"r1"', b'"name":"r\\u0031"'),
        (b'"name":"r1"', b'"name":1'),
        (b'"predicate":{', b'"predicate": {'),
        (b'"sha256":"', b'"sha512":"'),
        (b'"role":"response"', b'"role":"respondent"'),
    ],
)
def test_statements_read_from_bytes_agree_with_the_strict_path(old: bytes, new: bytes) -> None:
    records = _per_record()
    payload = dsse.b64decode(prov(records[1])["dsse"]["payload"], "payload")
    assert old in payload
    _resign(records[1], payload.replace(old, new))
    assert verdicts(fast(records)) == verdicts(reference(records))
    assert [r.manifest for r in fast(records)] == [r.manifest for r in reference(records)]


@pytest.mark.parametrize("tail", ["digest", "name-key", "end", "name-quote"])
def test_statements_sharing_the_last_prefix_agree_with_the_strict_path(tail: str) -> None:
    """Records after the first of a run are read from their digest and name only; a change
    there is judged as the strict path judges it (a statement need not be canonical to be
    valid: only the digest change fails)."""
    records = _per_record()
    payload = dsse.b64decode(prov(records[2])["dsse"]["payload"], "payload")
    at = payload.index(b'"sha256":"') + len(b'"sha256":"')
    changed = {
        "digest": payload[:at]
        + (b"0" if payload[at : at + 1] != b"0" else b"1")
        + payload[at + 1 :],
        "name-key": payload.replace(b'"},"name":', b'"}, "name":'),
        "end": payload + b" ",
        "name-quote": payload.replace(b'"},"name":"', b'"},"name":"\\"'),
    }[tail]
    assert changed != payload
    _resign(records[2], changed)
    assert verdicts(fast(records)) == verdicts(reference(records))
    assert [r.manifest for r in fast(records)] == [r.manifest for r in reference(records)]
    assert [r.record_id for r in fast(records)] == [r.record_id for r in reference(records)]
    expected = "content-mismatch" if tail == "digest" else "ok"
    assert fast(records)[2].status.value == expected


def test_signer_checks_are_repeated_when_the_verifier_time_moves() -> None:
    """Records of one batch skip signer checks that just passed, but not once the verifier's
    time has moved past the key's revocation."""
    revoked = TrustStore(
        keys=(TrustedKey("gen", SIGNER.verifying_key(), revoked_at=SIGNED_AT + timedelta(days=1)),)
    )
    items = []
    for number, record in enumerate(batched(6, 6), 1):
        parsed, digest = canonical.parse_and_digest(orjson.dumps(record))
        items.append((number, parsed, digest))
    verifier = Verifier(revoked, now=SIGNED_AT)
    assert {r.status.value for r in verifier.verify_many("f.jsonl", items[:3])} == {"ok"}
    verifier.now = SIGNED_AT + timedelta(days=2)
    later = verifier.verify_many("f.jsonl", items[3:])
    assert {r.status.value for r in later} == {"revoked-signer"}


def _report(path: Path, workers: int) -> dict[str, Any]:
    verifier = Verifier(TRUST, now=SIGNED_AT)
    partial: scan.ScanPartial[None] = scan.scan_paths([path], verifier, workers=workers)
    return scan.report_from(partial, [path], False).to_dict()


def test_workers_give_the_report_of_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = batched(300, 64)
    records[10]["score"] = 7
    prov(records[200])["batch"]["path"][0] = "00" * 32
    records.insert(250, copy.deepcopy(records[3]))  # a duplicate leaf, far from the original
    lines = [orjson.dumps(r) for r in records]
    lines.insert(120, b'{"id": "bad", "id": 1}')
    lines.insert(40, b"")
    path = tmp_path / "data.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    monkeypatch.setattr(scan, "CHUNK_BYTES", 20_000)
    one = _report(path, 1)
    two = _report(path, 2)
    assert one == two
    assert one["counts"] == {"bad-proof": 2, "content-mismatch": 1, "invalid-record": 1, "ok": 298}
    assert [f["line"] for f in one["failures"] if f["line"]] == [11, 122, 203]


def test_every_line_of_a_file_split_in_spans_is_read_once(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    lines = [b'{"n":%d,"pad":"%s"}' % (i, b"x" * (i % 37)) for i in range(500)]
    path.write_bytes(b"\n".join(lines))
    for size in (1, 50, 999, 10**6):
        read = b"".join(s.chunk().data + b"\n" for s in scan.spans(path, size))
        assert read.split(b"\n")[:-1] == lines


def _tag_file(
    tmp_path: Path, source: Path, workers: int, *, to_file: bool = False, **options: Any
) -> bytes:
    """The file tagger's output, into memory or (``to_file``) into a regular file, which workers
    write into themselves."""
    if not to_file:
        out = io.BytesIO()
        tag_jsonl(tagger(), source, out, workers=workers, generated_at=GENERATED_AT, **options)
        return out.getvalue()
    path = tmp_path / f"tagged-{workers}.jsonl"
    with path.open("wb") as handle:
        handle.write(b"")
        tag_jsonl(tagger(), source, handle, workers=workers, generated_at=GENERATED_AT, **options)
        assert handle.tell() == path.stat().st_size
    return path.read_bytes()


@pytest.mark.parametrize("to_file", [False, True], ids=["memory", "file"])
@pytest.mark.parametrize("batch_size", [None, 1, 7, 64])
def test_file_tagger_writes_the_sdk_statements_on_any_number_of_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_size: int | None, to_file: bool
) -> None:
    records = chat_records(150)
    records[3]["id"] = 3
    records[5]["extra"] = {"é": [1.5, -0.0, 1e21], "\ue000": "x", "\U0001f600": None}
    records[7]["id"] = 'q"uote\\ \u00e9 \U0001f600'
    records[9]["id"] = 1234567890123456  # 16 digits: the native reader leaves it to the reference
    records[11] = {"meta": {"id": "nested"}, "id": "top-11", "_id": 1}
    source = write_jsonl(tmp_path / "in.jsonl", records)
    monkeypatch.setattr(tagging, "TASK_BYTES", 7 * 1024)
    inline = _tag_file(tmp_path, source, 1, batch_size=batch_size)
    pooled = _tag_file(tmp_path, source, 2, batch_size=batch_size, to_file=to_file)
    assert pooled == inline
    signed = [orjson.loads(line) for line in inline.splitlines()]
    assert len(signed) == 150
    for record, original in zip(signed, records, strict=True):
        assert {k: v for k, v in record.items() if k != "_provenance"} == original
        if batch_size is None:
            payload = dsse.b64decode(record["_provenance"]["dsse"]["payload"], "payload")
        else:
            payload = dsse.b64decode(record["_provenance"]["statement"], "statement")
        assert payload == tagger().statement_for(original, generated_at=GENERATED_AT)
    out = tmp_path / "out.jsonl"
    out.write_bytes(pooled)
    assert _report(out, 1)["counts"] == {"ok": 150}


@needs_native
def test_file_tagger_reads_plain_records_without_building_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records without a manifest are stated from the native reader's digest and id alone."""
    source = write_jsonl(tmp_path / "in.jsonl", chat_records(20))
    expected = _tag_file(tmp_path, source, 1)

    def unused(line: bytes) -> Any:
        raise AssertionError("the full parse ran")

    monkeypatch.setattr(canonical, "parse_and_digest", unused)
    again = _tag_file(tmp_path, source, 1)
    assert [orjson.loads(line)["id"] for line in again.splitlines()] == [
        orjson.loads(line)["id"] for line in expected.splitlines()
    ]
    assert len(again.splitlines()) == 20


def test_file_tagger_names_the_line_of_a_bad_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [orjson.dumps(r) for r in chat_records(40)]
    lines[33] = b'{"id": "x", "id": "y"}'
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    monkeypatch.setattr(tagging, "TASK_BYTES", 2 * 1024)
    for workers in (1, 2):
        with pytest.raises(MalformedJSONError) as caught:
            _tag_file(tmp_path, source, workers, batch_size=4)
        assert (caught.value.source, caught.value.line) == (str(source), 34)
    lines[33] = orjson.dumps(tagger().tag(chat_records(34)[33]))
    source.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(InputError) as already:
        _tag_file(tmp_path, source, 2, batch_size=4)
    assert already.value.line == 34 and "already has a manifest" in already.value.message
    replaced = _tag_file(tmp_path, source, 2, batch_size=4, replace_existing=True)
    assert len(replaced.splitlines()) == 40


def test_file_tagger_reads_compressed_input(tmp_path: Path) -> None:
    import gzip

    records = chat_records(30)
    source = tmp_path / "in.jsonl.gz"
    source.write_bytes(gzip.compress(b"".join(orjson.dumps(r) + b"\n" for r in records)))
    out = tmp_path / "out.jsonl"
    out.write_bytes(_tag_file(tmp_path, source, 2, batch_size=8))
    assert _report(out, 1)["counts"] == {"ok": 30}


def test_sidecar_batches_verify_and_a_record_alone_needs_its_sidecar(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    with tagger().writer(path, batch_size=4, sidecar=True) as writer:
        for record in chat_records(10):
            writer.write(record)
    sidecar = tmp_path / "data.jsonl.batches"
    assert len(sidecar.read_bytes().splitlines()) == 3
    records = read_jsonl(path)
    batch = prov(records[0])["batch"]
    assert set(batch) == {"index", "size", "path", "sidecar", "root"}
    assert batch["sidecar"] == "data.jsonl.batches"
    assert _report(path, 1)["counts"] == {"ok": 10}
    write_jsonl(tmp_path / "one.jsonl", [records[6]])
    assert _report(tmp_path / "one.jsonl", 1)["counts"] == {"ok": 1}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write_jsonl(elsewhere / "one.jsonl", [records[6]])
    alone = _report(elsewhere / "one.jsonl", 1)
    assert alone["counts"] == {"malformed": 1}
    assert "not next to the data file" in alone["failures"][0]["reason"]


def test_sidecar_tampering_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    out = io.BytesIO()
    source = write_jsonl(tmp_path / "in.jsonl", chat_records(12))
    with (tmp_path / "data.jsonl.batches").open("wb") as side:
        tag_jsonl(tagger(), source, out, batch_size=5, sidecar=("data.jsonl", side))
    path.write_bytes(out.getvalue())
    assert _report(path, 1)["counts"] == {"ok": 12}
    lines = (tmp_path / "data.jsonl.batches").read_bytes().splitlines()
    entry = orjson.loads(lines[1])
    entry["dsse"]["signatures"][0]["sig"] = base64.b64encode(bytes(64)).decode()
    lines[1] = orjson.dumps(entry)
    other = orjson.loads(lines[2])
    other["root"] = orjson.loads(lines[0])["root"]
    lines[2] = orjson.dumps(other)
    (tmp_path / "data.jsonl.batches").write_bytes(b"\n".join(lines) + b"\n")
    report = _report(path, 1)
    assert report["counts"] == {"bad-proof": 2, "bad-signature": 5, "ok": 5}


def test_multi_model_records_sign_and_verify_through_the_fast_paths(tmp_path: Path) -> None:
    signer = tagger(part_digests=True)
    draft = RecordDraft({"id": "pref-1"})
    draft.set("/prompt", "Why?", generator=Generator("openai", "gpt-4o"), role="prompt")
    draft.set("/chosen", "Because.", generator=Generator("meta", "llama"))
    draft.set("/score", 0.5, generator=Generator("anthropic", "claude"), role="judgement")
    records = [signer.sign_draft(draft) for _ in range(3)]
    records[2]["chosen"] = "No."
    trust = TrustStore(keys=(TrustedKey("gen", SIGNER.verifying_key()),))
    items = [(n, *canonical.parse_and_digest(orjson.dumps(r))) for n, r in enumerate(records, 1)]
    results = Verifier(trust).verify_many("f", items)
    assert [r.status.value for r in results] == ["ok", "ok", "content-mismatch"]
    assert [r.manifest for r in results[:2]] == [
        Verifier(trust).verify(RawRecord("f", 1, orjson.dumps(r))).manifest for r in records[:2]
    ]


def test_records_without_an_id_get_one_derived_from_their_content(tmp_path: Path) -> None:
    records = chat_records(3)
    del records[1]["id"]
    source = write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / "out.jsonl"
    out.write_bytes(_tag_file(tmp_path, source, 1, batch_size=2))
    partial: scan.ScanPartial[None] = scan.scan_paths([out], Verifier(TRUST), workers=1)
    assert partial.counts == {"ok": 3}
    statement = orjson.loads(base64.b64decode(prov(read_jsonl(out)[1])["statement"]))
    digest = statement["subject"][0]["digest"]["sha256"]
    assert statement["subject"][0]["name"] == f"sha256:{digest[:16]}"


# ---- canonical bytes and digests ----------------------------------------------------------------

KEYS = st.text(max_size=4) | st.sampled_from(["\ue000", "\U0001f600", "a", "é", "\x7f"])
FLOATS = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [0.0, -0.0, 1.0, 1e21, 1e-7, 5e-324, 1e16, 0.1]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | FLOATS
    | st.text(max_size=8)
    | st.sampled_from(["\u2028", "\x00", '"', "\\", "\U0010ffff"])
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=20,
)


@SETTINGS
@given(st.dictionaries(KEYS, VALUES, max_size=6))
def test_canonical_bytes_equal_the_reference(value: dict[str, Any]) -> None:
    assert tagging.canonical_bytes(value) == canonical.canonicalize(value)
    assert content_digest(value) == canonical.content_digest(value)


@pytest.mark.parametrize(
    "value",
    [
        {"a": (1, 2)},
        {"a": float("nan")},
        {"a": 2**60},
        {"a": datetime(2024, 1, 1, tzinfo=UTC)},
        {1: "x"},
        {"a": "\ud800"},
    ],
)
def test_canonical_bytes_refuse_what_the_reference_refuses(value: dict[Any, Any]) -> None:
    try:
        expected: bytes | type[Exception] = canonical.canonicalize(value)
    except MalformedJSONError:
        expected = MalformedJSONError
    try:
        got: bytes | type[Exception] = tagging.canonical_bytes(value)
    except MalformedJSONError:
        got = MalformedJSONError
    assert got == expected


def test_every_code_point_is_written_as_rfc_8785_writes_it() -> None:
    points = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    for start in range(0, len(points), 4096):
        text = "".join(map(chr, points[start : start + 4096]))
        assert tagging.canonical_bytes({"k": text}) == canonical.canonicalize({"k": text})


@needs_native
@SETTINGS
@given(st.binary(max_size=40), st.text(alphabet="ABCDab01+/=-_ \n", max_size=12))
def test_fast_base64_accepts_only_what_the_strict_decoder_accepts(data: bytes, text: str) -> None:
    for candidate in (base64.b64encode(data).decode(), text):
        fast_value = _b64(candidate)
        if fast_value is not None:
            assert fast_value == dsse.b64decode(candidate, "x")
    assert _b64(base64.b64encode(data).decode()) == data


B64_TEXT = st.text(alphabet="ABCDQgwAEIMab01+/=-_ \n\u00e9\x00", max_size=16)


@needs_native
@SETTINGS
@given(st.binary(max_size=64), B64_TEXT, st.integers(0, 3), st.sampled_from("=A/+_\u00e9"))
def test_native_base64_is_the_strict_canonical_decoder(
    data: bytes, text: str, at: int, char: str
) -> None:
    encoded = base64.b64encode(data).decode()
    changed = encoded[: len(encoded) - 1 - at] + char + encoded[len(encoded) - at :]
    for candidate in (encoded, text, changed, encoded + "=", encoded + "AA==", "=" + encoded[1:]):
        assert _b64(candidate) == canonical_b64(candidate), candidate
    assert _b64(encoded) == data


@needs_native
@pytest.mark.parametrize("value", [None, 4, b"AAAA", ["AAAA"], "", "AA==", "AB==", "AAE=", "AAA="])
def test_native_base64_edge_values(value: Any) -> None:
    assert _b64(value) == canonical_b64(value)


def test_other_signer_in_batch_is_untrusted(tmp_path: Path) -> None:
    records = chat_records(5)
    signed = tagger(OTHER).tag_batch(records)
    results = fast([orjson.loads(orjson.dumps(r)) for r in signed])
    assert {r.status.value for r in results} == {"untrusted-signer"}


@SETTINGS
@given(VALUES, st.integers(0, 40), st.sampled_from([b"", b" ", b'"a":1,', b"1", b"\\u0041", b"]"]))
def test_statement_bytes_parse_as_the_strict_parser_parses_them(
    value: Any, at: int, insert: bytes
) -> None:
    text = orjson.dumps({"a": value, "b": [value]}, option=orjson.OPT_SORT_KEYS)
    for payload in (text, text[:at] + insert + text[at:], text.replace(b"}", b',"a":0}', 1)):
        try:
            expected: Any = canonical.parse_json(payload)
        except MalformedJSONError:
            expected = MalformedJSONError
        try:
            got: Any = _parse_canonical(payload)
        except MalformedJSONError:
            got = MalformedJSONError
        assert got == expected
        assert type(got) is type(expected)


# ---- the native batch lane ------------------------------------------------------------------


def _check_native(line: bytes, prefix: bytes | None) -> tuple[Any, ...] | None:
    """The native reader's answer on ``line`` agrees with the reference wherever it answers."""
    try:
        record, digest = canonical.parse_and_digest(line)
    except MalformedJSONError:
        assert canonical.scan_line(line) is None
        return None
    view, fast_digest = canonical.view_and_digest(line, prefix)
    assert fast_digest == digest
    assert view.get("_provenance") == record.get("_provenance")
    fields = getattr(view, "batch", None)
    if fields is None:
        return None
    expected = expected_batch_fields(record.get("_provenance"))
    assert expected is not None, line
    *values, envelope, known = fields
    assert tuple(values) == expected[:5]
    assert (envelope if isinstance(envelope, tuple) else orjson.loads(envelope)) == expected[5]
    if known is not None:
        name, matched = known
        statement = values[0]
        assert matched is prefix and prefix is not None
        assert statement.startswith(prefix)
        assert statement[len(prefix) : len(prefix) + 64] == digest.encode()
        assert orjson.loads(statement)["subject"][0]["name"] == name
    return tuple(fields)


@needs_native
def test_tagger_output_is_read_by_the_native_batch_lane() -> None:
    """Records as the batch tagger writes them are read natively, statement prefix included:
    the lane is not the reference path in disguise."""
    verifier = warmed()
    prefix = verifier.statement_prefix()
    lines = [orjson.dumps(r) for r in batched(9, 4)]
    for line in lines:
        fields = _check_native(line, prefix)
        assert fields is not None and fields[6] is not None
    side, _ = tagger().sign_batch(chat_records(3), sidecar="data.jsonl.batches")
    for record in side:
        fields = _check_native(orjson.dumps(record), prefix)
        assert fields is not None and fields[5] == (
            "data.jsonl.batches",
            prov(record)["batch"]["root"],
        )
    single = [orjson.dumps(r) for r in batched(1, 1)]
    fields = _check_native(single[0], prefix)
    assert fields is not None and fields[4] == b""  # a batch of one has an empty path
    assert all(r.ok for r in verifier.verify_many("f.jsonl", native_items(lines, prefix)))


DECLINED_LAYOUTS = {
    "white space": (b'{"statement":', b'{ "statement":'),
    "upper-case hex": (b'"path":["', b'"path":["' + b"ABCDEF"),
    "members reordered": (b'{"statement":', b'{"zz":1,"statement":'),
    "extra batch member": (b'"batch":{"index"', b'"batch":{"x":null,"index"'),
    "member after the envelope": (b"}}}}", b'}},"x":1}}'),
    "sidecar name with an escape": (b'"sidecar":"ab.batches"', b'"sidecar":"a\\u0062.batches"'),
    "escaped statement": (b'{"statement":"eyJf', b'{"statement":"\\u0065yJf'),
    "negative index": (b'"index":', b'"index":-'),
    "float size": (b',"path":[', b'.5,"path":['),
    "short path node": (b'"path":["', b'"path":["0'),
}


@pytest.mark.parametrize("name", sorted(DECLINED_LAYOUTS))
def test_other_manifest_layouts_are_read_by_python(name: str) -> None:
    old, new = DECLINED_LAYOUTS[name]
    line = orjson.dumps(batched(3, 3)[1])
    if name.startswith("sidecar"):
        line = orjson.dumps(tagger().sign_batch(chat_records(3), sidecar="ab.batches")[0][1])
    changed = line.replace(old, new, 1)
    if name == "upper-case hex":  # the first node, upper case: still 64 hex digits
        at = line.index(b'"path":["') + 9
        changed = line[:at] + line[at : at + 64].upper() + line[at + 64 :]
    if name == "short path node":
        at = line.index(b'"path":["') + 9
        changed = line[:at] + line[at + 1 :]
    assert changed != line
    assert _check_native(changed, None) is None
    results = [Verifier(TRUST, now=SIGNED_AT).verify(RawRecord("f.jsonl", 1, changed))]
    again = Verifier(TRUST, now=SIGNED_AT).verify_many(
        "f.jsonl", native_items([changed], None), details=True
    )
    assert verdicts(again) == verdicts(results)


@SETTINGS
@given(st.data())
def test_native_batch_lane_agrees_with_orjson_on_changed_manifests(data: st.DataObject) -> None:
    """Bytes of a batch-signed line changed at random: wherever the native reader takes the
    manifest, what it reads is what orjson and the strict decoder read."""
    verifier = warmed()
    prefix = verifier.statement_prefix()
    line = orjson.dumps(batched(5, 5)[data.draw(st.integers(0, 4))])
    start = line.index(b'"_provenance":')
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(start, len(line) - 1))
        edit = data.draw(st.sampled_from(["replace", "insert", "delete"]))
        byte = bytes([data.draw(st.sampled_from(b'0aAf9+/="\\{}[],: x'))])
        if edit == "replace":
            line = line[:at] + byte + line[at + 1 :]
        elif edit == "insert":
            line = line[:at] + byte + line[at:]
        else:
            line = line[:at] + line[at + 1 :]
    _check_native(line, prefix)


# ---- the native batch tagger ----------------------------------------------------------------


def _odd_records() -> list[bytes]:
    """Lines the native tagger takes: ids of every plain kind, white space, line ends, blank
    lines."""
    plain = [orjson.dumps(r) for r in chat_records(12)]
    return [
        *plain[:3],
        b'{"id":0,"x":1}',
        b'{"id":-0,"x":2}',
        b'{"id":-42,"x":3}',
        b'{"id":999999999999999}',
        b'  {"id":"lead space"}  \t',
        b'{"id":"crlf"}\r',
        b"",
        b"   ",
        '{"id":"é ✓ \U0001f600","n":[1.5,-0.0,1e21]}'.encode(),
        b'{"meta":{"id":"nested"},"id":"top"}',
        *plain[3:],
    ]


@needs_native
@pytest.mark.parametrize("sidecar", [False, True], ids=["embedded", "sidecar"])
@pytest.mark.parametrize("batch_size", [1, 3, 1000])
def test_native_batch_tagger_writes_the_bytes_of_the_python_tagger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_size: int, sidecar: bool
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\n".join(_odd_records()) + b"\n")

    def run() -> tuple[bytes, bytes]:
        out, side = io.BytesIO(), io.BytesIO()
        tag_jsonl(
            tagger(),
            source,
            out,
            batch_size=batch_size,
            generated_at=GENERATED_AT,
            sidecar=("out.jsonl", side) if sidecar else None,
            workers=1,
        )
        return out.getvalue(), side.getvalue()

    natively = run()
    native = canonical.tag_batch
    calls: list[bool] = []

    def counted(*args: Any) -> Any:
        signed = native(*args)
        calls.append(signed is not None)
        return signed

    monkeypatch.setattr(canonical, "tag_batch", counted)
    assert run() == natively
    assert calls == [True]  # the whole task was signed natively
    monkeypatch.setattr(canonical, "tag_batch", lambda *args: None)
    assert run() == natively  # the Python tagger: the same bytes
    lines = natively[0].splitlines()
    assert len(lines) == len([r for r in _odd_records() if r.strip()])
    for line in lines:
        orjson.loads(line)
    if sidecar:
        (tmp_path / "out.jsonl").write_bytes(natively[0])
        (tmp_path / "out.jsonl.batches").write_bytes(natively[1])
        path = tmp_path / "out.jsonl"
    else:
        path = tmp_path / "signed.jsonl"
        path.write_bytes(natively[0])
    assert _report(path, 1)["counts"] == {"ok": len(lines)}


@needs_native
@pytest.mark.parametrize(
    "line",
    [
        b'{"id":"r\\u0032"}',  # an escape: the canonical name is not the bytes as they stand
        b'{"id":1.0}',  # not an integer: a random name
        b'{"id":true}',
        b'{"id":null}',
        b'{"id":1234567890123456}',  # 16 digits: left to the reference reader
        b'{"x":1}',  # no id: a random name
        b"{}",
        b'{"id":"r2","_provenance":{}}',  # a manifest: replaced or refused
        b'{"id":"r2",}',  # not JSON: the reference reader names the error
    ],
)
def test_a_task_with_a_record_the_native_tagger_declines_is_signed_in_python(
    tmp_path: Path, line: bytes
) -> None:
    lines = [orjson.dumps(r) for r in chat_records(4)]
    lines[2] = line
    data = b"\n".join(lines)
    assert canonical.tag_batch(data, "id", b"{", 2, lambda root, size: b"}}}\n") is None
    assert canonical.tag_batch(b"\n".join(lines[:2]), "id", b"{", 2, lambda r, s: b"}}}\n")


@pytest.mark.parametrize("batch_size", [None, 4])
def test_empty_records_are_signed_as_valid_json(tmp_path: Path, batch_size: int | None) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b'{}\n{"id":"a"}\n{ }\n')
    signed = tmp_path / "signed.jsonl"
    signed.write_bytes(_tag_file(tmp_path, source, 1, batch_size=batch_size))
    records = read_jsonl(signed)
    assert [sorted(r) for r in records] == [["_provenance"], ["_provenance", "id"], ["_provenance"]]
    assert _report(signed, 1)["counts"] == {"ok": 3}


def test_workers_writing_into_the_output_file_stop_when_a_task_fails(tmp_path: Path) -> None:
    """A bad line in one task: the error names its line, and no worker is left waiting for the
    place of a task that never comes."""
    lines = [orjson.dumps(r) for r in chat_records(3000)]
    lines[2500] = b'{"id": nope}'
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    with (tmp_path / "out.jsonl").open("wb") as handle, pytest.raises(MalformedJSONError) as err:
        tag_jsonl(tagger(), source, handle, batch_size=100, workers=2)
    assert err.value.line == 2501


@pytest.mark.parametrize("reader", [fast, fast_native], ids=["parsed", "native"])
def test_records_of_one_root_signed_by_other_keys_get_their_own_signer_checks(
    reader: Callable[..., list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two envelopes may sign the same root: each record is held to the keys of its own."""
    records = batched(8, 8)
    statement = dsse.b64decode(prov(records[0])["batch"]["dsse"]["payload"], "payload")
    other = tagger(OTHER).envelope(statement)
    for record in records[3:6]:
        prov(record)["batch"]["dsse"] = copy.deepcopy(other)
    scoped = TrustStore(
        keys=(
            TrustedKey("gen", SIGNER.verifying_key()),
            TrustedKey("other", OTHER.verifying_key(), providers=("anthropic",)),
        )
    )
    monkeypatch.setattr(sys.modules[__name__], "TRUST", scoped)
    expected = reference(records)
    assert [r.status.value for r in expected] == ["ok"] * 3 + ["untrusted-signer"] * 3 + ["ok"] * 2
    assert verdicts(reader(records)) == verdicts(expected)
    short = reader(records, details=False)
    assert [r.status for r in short if isinstance(r, RecordResult)] == [
        r.status for r in expected if not r.ok
    ]
