"""``provenance audit`` end to end on real signed files and the fixture terms library."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance import audit
from provenance.keys import PrivateKeySigner
from provenance.manifest import Generator
from provenance.project import load_signer, load_trust
from provenance.sign import RecordDraft, Tagger
from tests.conftest import ASSETS, Runner, chat_records, write_jsonl
from tests.report.helpers import intent_file

POLICY = ASSETS / "policy"
LIBRARY = POLICY / "library"
COMPETING = POLICY / "intents" / "competing.yaml"


def _intent(folder: Path, **changes: object) -> Path:
    return intent_file(folder, f"intent-{len(list(folder.glob('intent-*')))}", **changes)


def _tag(
    project_dir: Path,
    name: str,
    model: str,
    provider: str,
    n: int = 4,
    service: str = "api",
    generated_at: str = "2024-06-01T00:00:00Z",
    first: int = 0,
) -> Path:
    src = write_jsonl(
        project_dir / f"raw-{name}.jsonl",
        [{**r, "id": f"{name}-{i}"} for i, r in enumerate(chat_records(first + n)[first:])],
    )
    out = project_dir / "data" / f"{name}.jsonl"
    out.parent.mkdir(exist_ok=True)
    from provenance.cli import main

    assert (
        main(
            [
                "tag",
                str(src),
                "-o",
                str(out),
                "--key",
                "gen",
                "--model",
                model,
                "--provider",
                provider,
                "--service",
                service,
                "--organization",
                "acme",
                "--generated-at",
                generated_at,
            ]
        )
        == 0
    )
    return out


def test_competing_target_is_denied_with_citation_and_path(project_dir: Path, cli: Runner) -> None:
    _tag(project_dir, "contoso", "contoso-large-2", "contoso")
    result = cli("audit", "data", "--intent", COMPETING, "--policies", LIBRARY, "--format", "json")
    assert result.code == 1, result.err
    report = orjson.loads(result.out)
    assert report["verdict"] == "fail"
    decision = next(d for d in report["decisions"] if d["terms"] == "contoso/api-terms@2024-01-01")
    assert decision["decision"] == "deny"
    assert decision["clause"] == "no-competing-models"
    assert decision["citation"] == "https://example.com/contoso/api-terms#2c"
    assert "contoso-large-2" in decision["path"]
    assert decision["records"] == 4
    assert decision["sample_ids"][0] == "contoso-0"
    assert report["summary"]["by_provider"] == {"contoso": 4}
    assert report["dataset_digest"].startswith("sha256:")
    assert {p["id"] for p in report["policies"]} == {"contoso/api-terms@2024-01-01"}
    assert all(p["digest"].startswith("sha256:") for p in report["policies"])


def test_non_competing_internal_run_passes(project_dir: Path, cli: Runner) -> None:
    _tag(project_dir, "contoso", "contoso-large-2", "contoso")
    result = cli("audit", "data", "--intent", _intent(project_dir), "--policies", LIBRARY)
    assert result.code == 0, result.out + result.err
    assert "PASS" in result.out


def test_fail_on_levels_gate_the_exit_code(project_dir: Path, cli: Runner) -> None:
    _tag(project_dir, "contoso", "contoso-large-2", "contoso")
    unknown = _intent(project_dir, competes_with=None)  # unknown → review
    assert cli("audit", "data", "--intent", unknown, "--policies", LIBRARY).code == 1
    assert (
        cli("audit", "data", "--intent", unknown, "--policies", LIBRARY, "--fail-on", "deny").code
        == 0
    )
    assert (
        cli(
            "audit", "data", "--intent", COMPETING, "--policies", LIBRARY, "--fail-on", "never"
        ).code
        == 0
    )


def test_untagged_and_tampered_records_are_findings_never_passed(
    project_dir: Path, cli: Runner
) -> None:
    path = _tag(project_dir, "contoso", "contoso-large-2", "contoso")
    lines = path.read_bytes().splitlines()
    record = orjson.loads(lines[1])
    record["score"] = 1234
    lines[1] = orjson.dumps(record)
    path.write_bytes(b"\n".join(lines) + b"\n")
    write_jsonl(project_dir / "data" / "human.jsonl", [{"id": "h1", "text": "written by me"}])
    result = cli(
        "audit", "data", "--intent", _intent(project_dir), "--policies", LIBRARY, "--format", "json"
    )
    assert result.code == 1
    report = orjson.loads(result.out)
    summary = report["summary"]
    assert summary["records"] == 5
    assert summary["synthetic_records"] == 3
    assert summary["untagged_records"] == 1
    assert summary["failed_records"] == 1
    missing = next(d for d in report["decisions"] if d["terms"] == "provenance/missing-provenance")
    assert missing["decision"] == "deny"
    assert set(missing["sample_ids"]) == {"h1", "contoso-1"}


def test_multi_hop_restriction_reaches_a_model_trained_on_outputs(
    project_dir: Path, cli: Runner
) -> None:
    _tag(project_dir, "m2", "acme/m2", "acme", service="self-hosted")
    result = cli(
        "audit",
        "data",
        "--intent",
        _intent(project_dir, distribution="open-weights"),
        "--policies",
        LIBRARY,
        "--lineage",
        POLICY / "lineage" / "three-hops.yaml",
        "--format",
        "json",
    )
    assert result.code == 1, result.err
    report = orjson.loads(result.out)
    fabrikam = next(
        d for d in report["decisions"] if d["terms"] == "fabrikam/open-model-licence@2024-04-01"
    )
    assert fabrikam["decision"] == "deny"
    assert fabrikam["clause"] == "derivatives-not-open-weights"
    assert "acme/m1" in fabrikam["path"]
    assert "acme/m2" in fabrikam["path"]
    assert report["summary"]["generation_depth"]["max"] == 3


def test_preference_record_judged_by_restrictive_model_is_denied_naming_the_part(
    project_dir: Path,
) -> None:
    signer = load_signer("gen")
    tagger = Tagger(signer, provider="zephyrus", model="zephyrus-1", organization="acme")
    (project_dir / "data").mkdir()
    with tagger.writer(project_dir / "data" / "prefs.jsonl") as out:
        for i in range(3):
            draft = RecordDraft({"id": f"pref-{i}", "prompt": f"Question {i}?"})
            draft.set(
                "/chosen",
                f"Answer {i}",
                role="response",
                generator=Generator("zephyrus", "zephyrus-2", service="api"),
            )
            draft.set(
                "/score",
                7,
                role="judgement",
                generator=Generator("contoso", "contoso-large-2", service="api"),
            )
            out.write_draft(draft)
    report = audit([project_dir / "data"], COMPETING, policies=LIBRARY)
    assert report.verdict == "fail"
    contoso = report.policy.decision("contoso/api-terms@2024-01-01")
    assert contoso is not None
    assert contoso.outcome == "deny"
    assert contoso.deciding[0].path.startswith("/score")
    assert report.summary.contributions == {
        "contoso": {"judgement": 3},
        "zephyrus": {"response": 3},
    }
    assert report.summary.synthetic_share == 1.0


def test_statistics_duplicates_self_generation_and_thresholds(
    project_dir: Path, cli: Runner
) -> None:
    path = _tag(project_dir, "own", "acme-chat", "acme", service="self-hosted")
    lines = path.read_bytes().splitlines()
    path.write_bytes(b"\n".join([*lines, lines[0]]) + b"\n")  # one exact duplicate
    intent = _intent(
        project_dir, thresholds={"max_duplicate_rate": 0.1, "max_synthetic_share": 0.5}
    )
    result = cli("audit", "data", "--intent", intent, "--policies", LIBRARY, "--format", "json")
    report = orjson.loads(result.out)
    summary = report["summary"]
    assert summary["duplicate_rate"] == pytest.approx(1 / 5)
    assert summary["self_generated_share"] == 1.0
    rules = {
        f["rule"] for f in report["findings"] if f["terms"] == "provenance/model-collapse-risk"
    }
    assert rules == {"max-duplicate-rate", "max-synthetic-share"}
    assert result.code == 1


def test_dataset_digest_is_stable_across_workers_and_formats(project_dir: Path) -> None:
    _tag(project_dir, "contoso", "contoso-large-2", "contoso", n=30)
    one = audit([project_dir / "data"], COMPETING, policies=LIBRARY, workers=1)
    two = audit([project_dir / "data"], COMPETING, policies=LIBRARY, workers=2)
    assert one.dataset_digest == two.dataset_digest
    assert one.to_dict()["decisions"] == two.to_dict()["decisions"]
    raw = (project_dir / "data" / "contoso.jsonl").read_bytes()
    (project_dir / "data" / "contoso.jsonl").unlink()
    (project_dir / "data" / "contoso.jsonl.gz").write_bytes(gzip.compress(raw))
    assert audit([project_dir / "data"], COMPETING, policies=LIBRARY).dataset_digest == (
        one.dataset_digest
    )


def test_spans_on_two_workers_give_the_one_process_report(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers read their own spans of the file and number lines from the span's start; the
    report (sample line numbers, class samples, duplicates, digest) is the one-process report."""
    from provenance import scan

    path = _tag(project_dir, "contoso", "contoso-large-2", "contoso", n=40)
    lines = path.read_bytes().splitlines()
    lines.insert(30, b'{"text": "untagged, no id (b)"}')
    lines.insert(11, b'{"text": "untagged, no id (a)"}')
    lines.append(lines[5])  # an exact duplicate in another span
    path.write_bytes(b"\n".join(lines) + b"\n")
    monkeypatch.setattr(scan, "CHUNK_BYTES", 4_000)
    assert len(list(scan.spans(path, 4_000))) > 5
    one = audit([project_dir / "data"], COMPETING, policies=LIBRARY, workers=1)
    two = audit([project_dir / "data"], COMPETING, policies=LIBRARY, workers=2)
    missing = next(d for d in two.policy.decisions if d.terms == "provenance/missing-provenance")
    assert set(missing.sample_record_ids) == {"line 12", "line 32"}
    assert two.to_dict()["decisions"] == one.to_dict()["decisions"]
    assert two.summary == one.summary
    assert two.summary.duplicate_rate == pytest.approx(1 / 43)
    assert two.dataset_digest == one.dataset_digest


# ---- no verdict: exit 2 with file and line ------------------------------------------------


def test_truncated_line_is_no_verdict_with_file_and_line(project_dir: Path, cli: Runner) -> None:
    path = _tag(project_dir, "contoso", "contoso-large-2", "contoso")
    lines = path.read_bytes().splitlines()
    lines[2] = lines[2][:40]
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = cli("audit", "data", "--intent", COMPETING, "--policies", LIBRARY)
    assert result.code == 2
    assert f"{path.relative_to(project_dir)}:3:" in result.err
    assert "Traceback" not in result.err


def test_record_that_is_not_an_object_is_no_verdict(project_dir: Path, cli: Runner) -> None:
    (project_dir / "data").mkdir()
    (project_dir / "data" / "x.jsonl").write_text('{"id": 1}\n[1, 2]\n')
    result = cli("audit", "data", "--intent", COMPETING, "--policies", LIBRARY)
    assert result.code == 2
    assert "data/x.jsonl:2:" in result.err
    assert "not a JSON object" in result.err


def test_unreadable_parquet_is_no_verdict(project_dir: Path, cli: Runner) -> None:
    (project_dir / "data").mkdir()
    (project_dir / "data" / "x.parquet").write_bytes(b"PAR1garbage")
    result = cli("audit", "data", "--intent", COMPETING, "--policies", LIBRARY)
    assert result.code == 2
    assert "x.parquet" in result.err


def test_intent_with_unknown_field_names_file_line_and_hint(project_dir: Path, cli: Runner) -> None:
    _tag(project_dir, "contoso", "contoso-large-2", "contoso")
    result = cli(
        "audit", "data", "--intent", POLICY / "intents" / "typo.yaml", "--policies", LIBRARY
    )
    assert result.code == 2
    assert "typo.yaml:4" in result.err
    assert "distribution" in result.err


def test_missing_lineage_reference_names_file_and_line(project_dir: Path, cli: Runner) -> None:
    _tag(project_dir, "m2", "acme/m2", "acme", service="self-hosted")
    result = cli(
        "audit",
        "data",
        "--intent",
        COMPETING,
        "--policies",
        LIBRARY,
        "--lineage",
        POLICY / "lineage" / "missing-ref.yaml",
    )
    assert result.code == 2
    assert "missing-ref.yaml:" in result.err
    assert "d9" in result.err


def test_parquet_data_is_audited(project_dir: Path, cli: Runner) -> None:
    path = _tag(project_dir, "contoso", "contoso-large-2", "contoso")
    rows = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    for row in rows:
        row["_provenance"] = orjson.dumps(row["_provenance"]).decode()
    pq.write_table(pa.Table.from_pylist(rows), project_dir / "data" / "contoso.parquet")
    path.unlink()
    result = cli("audit", "data", "--intent", COMPETING, "--policies", LIBRARY, "--format", "json")
    assert result.code == 1
    assert orjson.loads(result.out)["summary"]["synthetic_records"] == 4


def test_library_call_uses_a_given_trust_store(project_dir: Path) -> None:
    _tag(project_dir, "contoso", "contoso-large-2", "contoso")
    trust = load_trust(project_dir / ".provenance" / "trust.yaml")
    report = audit([str(project_dir / "data")], COMPETING, policies=LIBRARY, trust=trust)
    assert report.summary.synthetic_records == 4
    stranger = Tagger(PrivateKeySigner.generate(), provider="contoso", model="contoso-large-2")
    write_jsonl(project_dir / "data" / "stranger.jsonl", [stranger.tag({"id": "s1"})])
    again = audit([str(project_dir / "data")], COMPETING, policies=LIBRARY, trust=trust)
    assert again.summary.verification.get("untrusted-signer") == 1
