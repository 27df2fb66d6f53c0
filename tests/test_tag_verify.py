"""The main job from a user's side: tag a JSONL file, verify it, and see every tampering caught."""

from __future__ import annotations

import base64
import gzip
from pathlib import Path

import orjson
import pytest

from tests.conftest import TAG, Runner, chat_records, read_jsonl, write_jsonl


@pytest.fixture
def signed(project_dir: Path, cli: Runner) -> Path:
    write_jsonl(project_dir / "gen.jsonl", chat_records(20))
    result = cli(
        "tag", "gen.jsonl", "-o", "signed.jsonl", *TAG, "--generated-at", "2024-05-01T12:00:00Z"
    )
    assert result.code == 0, result.err
    assert "signed 20 records" in result.out
    return project_dir / "signed.jsonl"


def test_untampered_file_verifies(signed: Path, cli: Runner) -> None:
    result = cli("verify", signed)
    assert result.code == 0, result.out + result.err
    assert "PASS: 20 records" in result.out


def test_manifest_carries_generator_terms_time_and_sdk(signed: Path) -> None:
    record = read_jsonl(signed)[3]
    prov = record["_provenance"]
    assert isinstance(prov, dict)
    statement = orjson.loads(base64.b64decode(prov["dsse"]["payload"]))
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["subject"][0]["name"] == "r3"
    contribution = statement["predicate"]["contributions"][0]
    assert contribution["generator"] == {"provider": "openai", "model": "gpt-4o", "service": "api"}
    assert contribution["generated_at"] == "2024-05-01T12:00:00Z"
    assert statement["predicate"]["sdk"]["name"] == "provenance"


def _rewrite(path: Path, index: int, change: object) -> None:
    records = read_jsonl(path)
    change(records[index])  # type: ignore[operator]
    write_jsonl(path, records)


def test_changed_content_is_named_with_file_line_and_record(signed: Path, cli: Runner) -> None:
    _rewrite(signed, 4, lambda r: r.update(score=99))
    result = cli("verify", signed)
    assert result.code == 1
    assert f"{signed}:5: record r4 content-mismatch" in result.out
    assert "19 ok" in result.out


def test_manifest_moved_onto_another_record_fails(signed: Path, cli: Runner) -> None:
    records = read_jsonl(signed)
    records[1]["_provenance"] = records[0]["_provenance"]
    write_jsonl(signed, records)
    result = cli("verify", signed, "--format", "json")
    assert result.code == 1
    report = orjson.loads(result.out)
    assert report["failures"] == [
        {
            "source": str(signed),
            "line": 2,
            "status": "content-mismatch",
            "record_id": "r0",
            "reason": report["failures"][0]["reason"],
        }
    ]


def test_deleting_a_manifest_fails_verification(signed: Path, cli: Runner) -> None:
    _rewrite(signed, 0, lambda r: r.pop("_provenance"))
    result = cli("verify", signed)
    assert result.code == 1
    assert "missing-manifest" in result.out


def test_key_not_in_trust_store_is_untrusted(signed: Path, cli: Runner) -> None:
    cli("keys", "generate", "other")
    records = read_jsonl(signed)
    write_jsonl(signed, [{k: v for k, v in r.items() if k != "_provenance"} for r in records])
    signing = cli("tag", signed, "-o", "other.jsonl", *TAG[:1], "other", *TAG[2:], "--force")
    assert signing.code == 0, signing.err
    result = cli("verify", "other.jsonl")
    assert result.code == 1
    assert "untrusted-signer" in result.out


def test_revoked_key_fails_and_scope_is_enforced(signed: Path, cli: Runner) -> None:
    assert cli("keys", "revoke", "gen", "--reason", "laptop stolen").code == 0
    result = cli("verify", signed)
    assert result.code == 1
    assert "revoked-signer" in result.out and "laptop stolen" in result.out


def test_key_trusted_only_for_another_provider(project_dir: Path, cli: Runner) -> None:
    cli("keys", "generate", "metaonly")
    cli("keys", "trust", "metaonly", "--provider", "meta")
    write_jsonl(project_dir / "gen.jsonl", chat_records(2))
    assert (
        cli(
            "tag",
            "gen.jsonl",
            "-o",
            "s.jsonl",
            "--key",
            "metaonly",
            "--model",
            "gpt-4o",
            "--provider",
            "openai",
            "--generated-at",
            "2024-06-01",
            "--force",
        ).code
        == 0
    )
    result = cli("verify", "s.jsonl")
    assert result.code == 1
    assert "not trusted to sign for provider 'openai'" in result.out


def test_rotated_key_keeps_old_signatures_and_signs_new_ones(signed: Path, cli: Runner) -> None:
    assert cli("keys", "rotate", "gen", "gen2").code == 0
    assert cli("verify", signed).code == 0
    write_jsonl(signed.parent / "more.jsonl", chat_records(3))
    assert (
        cli(
            "tag",
            "more.jsonl",
            "-o",
            "new.jsonl",
            "--key",
            "gen2",
            "--model",
            "m",
            "--provider",
            "openai",
            "--generated-at",
            "2024-06-01",
        ).code
        == 0
    )
    assert cli("verify", "new.jsonl").code == 0
    assert (
        cli(
            "tag",
            "more.jsonl",
            "-o",
            "late.jsonl",
            "--key",
            "gen",
            "--model",
            "m",
            "--provider",
            "openai",
            "--generated-at",
            "2024-06-01",
            "--force",
        ).code
        == 0
    )
    late = cli("verify", "late.jsonl")
    assert late.code == 1 and "expired-signer" in late.out


def test_malformed_line_gives_no_verdict_naming_file_and_line(signed: Path, cli: Runner) -> None:
    lines = signed.read_bytes().splitlines(keepends=True)
    lines[6] = lines[6][: len(lines[6]) // 2] + b"\n"
    signed.write_bytes(b"".join(lines))
    result = cli("verify", signed)
    assert result.code == 2
    assert f"{signed}:7:" in result.out and "invalid-record" in result.out
    assert "Traceback" not in result.out + result.err


def test_unreadable_or_missing_file_is_exit_2(project_dir: Path, cli: Runner) -> None:
    result = cli("verify", "absent.jsonl")
    assert result.code == 2
    assert "absent.jsonl: no such file" in result.err


def test_tag_bad_input_names_line_and_writes_nothing(project_dir: Path, cli: Runner) -> None:
    (project_dir / "gen.jsonl").write_bytes(b'{"id": 1}\n{"id": 2, "id": 3}\n')
    result = cli("tag", "gen.jsonl", "-o", "out.jsonl", *TAG)
    assert result.code == 2
    assert "gen.jsonl:2" in result.err and "duplicate" in result.err
    assert not (project_dir / "out.jsonl").exists()
    assert [p.name for p in project_dir.iterdir() if p.name.startswith(".out")] == []


def test_compressed_files_round_trip(project_dir: Path, cli: Runner) -> None:
    raw = b"".join(orjson.dumps(r) + b"\n" for r in chat_records(5))
    (project_dir / "gen.jsonl.gz").write_bytes(gzip.compress(raw))
    assert cli("tag", "gen.jsonl.gz", "-o", "out.jsonl.zst", *TAG).code == 0
    assert cli("verify", "out.jsonl.zst").code == 0


def test_batch_mode_round_trip_and_single_record_alone(project_dir: Path, cli: Runner) -> None:
    write_jsonl(project_dir / "gen.jsonl", chat_records(10))
    assert cli("tag", "gen.jsonl", "-o", "b.jsonl", *TAG, "--batch-size", "4").code == 0
    assert cli("verify", "b.jsonl").code == 0
    records = read_jsonl(project_dir / "b.jsonl")
    write_jsonl(project_dir / "one.jsonl", [records[6]])
    alone = cli("verify", "one.jsonl")
    assert alone.code == 0, alone.out
    # dropping a record from a whole file is noticed
    write_jsonl(project_dir / "dropped.jsonl", records[:5] + records[6:])
    dropped = cli("verify", "dropped.jsonl")
    assert dropped.code == 0 and "note: incomplete batch" in dropped.out
    strict = cli("verify", "dropped.jsonl", "--require-complete-batches")
    assert strict.code == 1 and "incomplete-batch: " in strict.out
