"""``provenance policy list|show|lint|test`` and ``provenance explain`` through the real CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from provenance.policy.loader import POLICIES_ENV, library_digest
from tests.conftest import Runner, write_jsonl
from tests.policy.builders import (
    ASSETS,
    LIBRARY_DIR,
    manifest,
    part,
    signed_record,
    write_trust,
)

LIB = str(LIBRARY_DIR)


def test_list_shows_every_document(cli: Runner) -> None:
    result = cli("policy", "list", "--policies", LIB)
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0].split("\t") == ["id", "provider", "version", "effective", "confidence"]
    assert (
        "tailspin/model-licence@2024-01-01\ttailspin\t2024-01-01\t2024-01-01 → 2024-06-01\thigh"
        in lines
    )
    assert len(lines) == 9


def test_list_names_the_library_and_its_digest(cli: Runner) -> None:
    result = cli("policy", "list", "--policies", LIB)
    digest = library_digest(Path(LIB))
    assert f"terms library: {Path(LIB).resolve()} ({digest})" in result.err
    assert digest.startswith("sha256:") and len(digest) == 71


def test_list_uses_the_environment_variable(cli: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(POLICIES_ENV, LIB)
    assert "zephyrus/open-licence@2023-01-01" in cli("policy", "list").out


def test_show_prints_clauses_with_sections_and_citations(cli: Runner) -> None:
    result = cli("policy", "show", "northwind/community-licence", "--policies", LIB)
    assert result.code == 0
    assert "northwind/community-licence@2024-07-23 — Northwind Community Licence" in result.out
    assert "§1.b.i  name-prefix   effect: obligations   passes to derivatives" in result.out
    assert 'obligation: model-name-prefix "Northwind"' in result.out
    assert "citation: https://example.com/northwind/licence#1.b.i" in result.out


def test_show_unknown_document_is_exit_2_with_hint(cli: Runner) -> None:
    result = cli("policy", "show", "contoso/api-term", "--policies", LIB)
    assert result.code == 2
    assert "no terms document 'contoso/api-term'" in result.err
    assert "did you mean" in result.err


def test_lint_clean_library(cli: Runner) -> None:
    result = cli("policy", "lint", LIB)
    assert (result.code, result.out.strip()) == (
        0,
        "ok: 8 terms documents, 1 catalog file, 8 test files",
    )


def test_lint_broken_file_is_exit_2_with_file_and_line(cli: Runner) -> None:
    result = cli("policy", "lint", str(ASSETS / "broken"))
    assert result.code == 2
    bad = ASSETS / "broken" / "terms" / "contoso" / "bad-terms@2024-01-01.yaml"
    assert f"{bad}:16: unknown field 'efect'" in result.err
    assert "2 problems" in result.err


def test_test_passes_the_fixture_cases(cli: Runner) -> None:
    result = cli("policy", "test", LIB)
    assert result.code == 0
    assert "PASS  contoso/api-terms@2024-01-01: unknown competitors give review" in result.out
    assert result.out.strip().endswith("18 passed, 0 failed")


def test_test_fails_on_a_wrong_expectation(cli: Runner, tmp_path: Path) -> None:
    shutil.copytree(LIBRARY_DIR, tmp_path / "lib")
    case = tmp_path / "lib" / "tests" / "zephyrus" / "open-licence@2023-01-01.test.yaml"
    case.write_text(case.read_text().replace("decision: allow", "decision: deny"))
    result = cli("policy", "test", str(tmp_path / "lib"))
    assert result.code == 1
    assert "FAIL  zephyrus/open-licence@2023-01-01: distillation is expressly allowed" in result.out
    assert "expected deny, got allow" in result.out


def test_test_on_invalid_file_is_exit_2(cli: Runner, tmp_path: Path) -> None:
    shutil.copytree(LIBRARY_DIR, tmp_path / "lib")
    case = tmp_path / "lib" / "tests" / "zephyrus" / "open-licence@2023-01-01.test.yaml"
    case.write_text(case.read_text().replace("expect:", "expcet:"))
    result = cli("policy", "test", str(tmp_path / "lib"))
    assert result.code == 2
    assert f"{case}:" in result.err and "unknown field 'expcet'" in result.err


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    pair = manifest(
        "pair-1",
        part("zephyrus", "zephyrus-7b", pointer="/chosen"),
        part("contoso", "contoso-large-2", service="api", pointer="/score", role="judgement"),
    )
    records = [
        signed_record(pair, {"chosen": "yes", "score": 5}),
        {"id": "plain-1", "text": "no manifest here"},
        signed_record(manifest("m2-1", part("acme", "acme/m2"))),
    ]
    return write_jsonl(tmp_path / "data.jsonl", records)


def explain(cli: Runner, data_file: Path, record_id: str, *extra: str) -> tuple[int, str, str]:
    result = cli(
        "explain",
        record_id,
        "--intent",
        str(ASSETS / "intents" / "competing.yaml"),
        "--data",
        str(data_file),
        "--policies",
        LIB,
        "--trust",
        str(write_trust(data_file.parent / "trust.yaml")),
        *extra,
    )
    return result.code, result.out, result.err


def test_explain_prints_the_decision_path(cli: Runner, data_file: Path) -> None:
    code, out, _err = explain(cli, data_file, "pair-1")
    assert code == 1  # deny or review: fails, as an audit with --fail-on review
    assert "decision: deny" in out
    assert "/score ← model contoso-large-2 ← contoso/api-terms@2024-01-01 §2(c)" in out
    assert "citation: https://example.com/contoso/api-terms#2c" in out
    assert "signed by 'test'" in out


def test_explain_with_waiver_and_org_policy(cli: Runner, data_file: Path) -> None:
    code, out, _err = explain(
        cli,
        data_file,
        "pair-1",
        "--waivers",
        str(ASSETS / "waivers" / "waivers.yaml"),
        "--org-policies",
        str(ASSETS / "org"),
    )
    assert code == 1  # deny or review: fails, as an audit with --fail-on review
    assert "(waived deny: jane@acme.example)" in out
    assert "org/no-contoso-data@2024-01-01" in out


def test_explain_through_lineage(cli: Runner, data_file: Path) -> None:
    code, out, _err = explain(
        cli, data_file, "m2-1", "--lineage", str(ASSETS / "lineage" / "three-hops.yaml")
    )
    assert code == 1  # deny or review: fails, as an audit with --fail-on review
    assert (
        "record ← model acme/m2 ← dataset d2 ← model acme/m1 ← dataset d1 ← model fabrikam-7b"
        " ← fabrikam/open-model-licence@2024-04-01 §3.2"
    ) in out


def test_explain_record_without_manifest_is_denied(cli: Runner, data_file: Path) -> None:
    code, out, _err = explain(cli, data_file, "plain-1")
    assert code == 1  # deny or review: fails, as an audit with --fail-on review
    assert "no verified manifest (missing-manifest" in out
    assert "decision: deny" in out


def test_explain_json(cli: Runner, data_file: Path) -> None:
    code, out, _err = explain(cli, data_file, "pair-1", "--json")
    assert code == 1  # deny or review: fails, as an audit with --fail-on review
    assert json.loads(out)["outcome"] == "deny"


def test_explain_exits_as_the_audit_would(cli: Runner, data_file: Path) -> None:
    """0 pass, 1 fail (the decision at or above --fail-on), 2 no verdict, as ``audit``."""
    assert explain(cli, data_file, "pair-1", "--fail-on", "never")[0] == 0
    assert explain(cli, data_file, "pair-1", "--fail-on", "deny")[0] == 1
    assert explain(cli, data_file, "pair-1", "--fail-on", "deny", "--json")[0] == 1
    code, _out, err = explain(cli, data_file, "pair-1", "--fail-on", "sometimes")
    assert code == 2
    assert "unknown --fail-on 'sometimes'" in err


def test_explain_errors_are_one_line_exit_2(cli: Runner, data_file: Path, tmp_path: Path) -> None:
    code, _out, err = explain(cli, data_file, "nope")
    assert code == 2
    assert err.strip() == f"provenance: error: {data_file}: no record with id 'nope'"
    result = cli(
        "explain",
        "pair-1",
        "--intent",
        str(ASSETS / "intents" / "typo.yaml"),
        "--data",
        str(data_file),
        "--policies",
        LIB,
    )
    assert result.code == 2
    assert "typo.yaml:4: unknown field 'distributon'" in result.err
    cyclic = str(ASSETS / "lineage" / "cycle.yaml")
    code, _out, err = explain(cli, data_file, "pair-1", "--lineage", cyclic)
    assert code == 2
    assert "cycle" in err


def test_explain_reads_the_files_a_lineage_names(cli: Runner, tmp_path: Path) -> None:
    teacher = manifest("t-1", part("fabrikam", "fabrikam-7b", generated_at="2024-08-01"))
    write_jsonl(tmp_path / "d.jsonl", [signed_record(teacher), {"id": "t-2", "text": "unsigned"}])
    (tmp_path / "lineage.yaml").write_text(
        "schema: provenance/lineage/v1\n"
        "models:\n"
        "  - {name: acme/student, base_model: zephyrus-7b, trained_on: [d]}\n"
        "datasets:\n"
        "  - {name: d, files: [d.jsonl]}\n"
    )
    data = write_jsonl(
        tmp_path / "run.jsonl", [signed_record(manifest("s-1", part("acme", "acme/student")))]
    )
    code, out, _err = explain(cli, data, "s-1", "--lineage", str(tmp_path / "lineage.yaml"))
    assert code == 1  # deny or review: fails, as an audit with --fail-on review
    assert (
        "record ← model acme/student ← dataset d ← model fabrikam-7b"
        " ← fabrikam/open-model-licence@2024-04-01 §3.2"
    ) in out
    assert "unsigned-records" in out
    assert "1 record carries no manifest" in out
