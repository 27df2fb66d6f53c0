"""``provenance reaudit`` judges recorded audits again against a changed terms library, on SQLite
and PostgreSQL: exactly the audits whose generator's terms changed flip, naming the clause; the
re-judgements recorded are covered by the log and travel in the model's evidence bundle."""

from __future__ import annotations

import shutil
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import Runner
from tests.registry.registry_data import POLICY_LIBRARY, counts, signed_file

CONTOSO = "contoso/api-terms@2024-01-01"
CONTOSO_FILE = Path("terms") / "contoso" / "api-terms@2024-01-01.yaml"

BASE_CLAUSES = """\
  - id: research-use
    section: "§3"
    paraphrase: Output may be used to train models for commercial use.
    citation: https://example.com/contoso/api-terms#3
    when:
      intent.commercial: {eq: true}
    effect: allow
  - id: fine-tuning-only
    section: "§4"
    paraphrase: Output may train models only by fine-tuning or for evaluation.
    citation: https://example.com/contoso/api-terms#4
    when:
      not: {intent.activity: {in: [fine-tune, evaluate]}}
    effect: deny
"""

INTENT = """\
schema: provenance/intent/v1
target: {name: acme-chat, organization: acme, kind: chat-assistant}
activity: fine-tune
commercial: true
distribution: open-weights
competes_with: []
date: 2025-01-10
"""

EDITS = {
    # the effect of a clause that applies tightened: a permission becomes a review
    "effect-tightened": (
        "    effect: allow\n",
        "    effect: review\n",
        "review",
        "research-use",
    ),
    # the condition of an exception narrowed: fine-tuning is no longer excepted
    "condition-narrowed": (
        "in: [fine-tune, evaluate]",
        "in: [evaluate]",
        "deny",
        "fine-tuning-only",
    ),
    # an obligation added to a clause that applies: the model's name must begin with Contoso
    "obligation-added": (
        "    effect: allow\n",
        "    effect: obligations\n    obligations:\n      - {kind: model-name-prefix, text: Contoso}\n",
        "deny",
        "research-use",
    ),
}


def _library(where: Path, edit: tuple[str, str] | None = None) -> Path:
    """The test library with two more contoso clauses, and ``edit`` made to its contoso terms."""
    shutil.copytree(POLICY_LIBRARY, where)
    terms = where / CONTOSO_FILE
    content = terms.read_text(encoding="utf-8") + BASE_CLAUSES
    if edit is not None:
        old, new = edit
        assert old in content
        content = content.replace(old, new, 1)
    terms.write_text(content, encoding="utf-8")
    return where


@pytest.fixture
def recorded(registry_project: Path, cli: Runner) -> Path:
    """Two recorded audits of the same planned run: data by contoso-large-2 (contoso's terms) and
    data by zephyrus-7b (zephyrus's), both allowed under the base library."""
    base = _library(registry_project / "base")
    intent = registry_project / "intent.yaml"
    intent.write_text(INTENT, encoding="utf-8")
    contoso = signed_file(registry_project / "contoso.jsonl", "c", 12)
    zephyrus = signed_file(
        registry_project / "zephyrus.jsonl", "z", 8, provider="zephyrus", model="zephyrus-7b"
    )
    digests = {}
    for name, data in (("contoso", contoso), ("zephyrus", zephyrus)):
        audited = cli(
            "audit", data, "--intent", intent, "--policies", base, "--record", "--format", "json"
        )
        assert audited.code == 0, audited.out + audited.err
        assert "recorded: audit run" in audited.err
        digests[orjson.loads(audited.out)["dataset_digest"]] = name
    (registry_project / "digests.json").write_bytes(orjson.dumps(digests))
    return registry_project


def _reaudit(cli: Runner, *args: object) -> tuple[int, dict[str, Any]]:
    result = cli("reaudit", *args, "--format", "json")
    assert "Traceback" not in result.err
    return result.code, orjson.loads(result.out)


def _by_data(report: dict[str, Any], project: Path) -> dict[str, dict[str, Any]]:
    """The re-judged audits by the data they audited (contoso or zephyrus)."""
    names = orjson.loads((project / "digests.json").read_bytes())
    out = {names[e["dataset_digest"]]: e for e in report["audits"]}
    assert len(out) == len(report["audits"])
    return out


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_a_changed_clause_flips_exactly_the_affected_audit(
    recorded: Path, cli: Runner, edit: str
) -> None:
    old, new, outcome, clause = EDITS[edit]
    changed = _library(recorded / "changed", (old, new))
    code, report = _reaudit(cli, "--library", changed)
    assert code == 1
    assert report["counts"] == {
        "audits": 2,
        "changed": 1,
        "unchanged": 1,
        "cannot_rejudge": 0,
        "tightened": 1,
    }
    audits = _by_data(report, recorded)
    assert audits["zephyrus"]["status"] == "unchanged"
    assert audits["zephyrus"]["changes"] == []
    flipped = audits["contoso"]
    assert flipped["status"] == "changed"
    assert (flipped["before"], flipped["after"]) == ("allow", outcome)
    assert flipped["target"] == "acme-chat"
    [change] = flipped["changes"]
    assert change["terms"] == CONTOSO
    assert (change["before"], change["after"]) == ("allow", outcome)
    assert change["clause"]["clause"] == clause
    assert change["clause"]["citation"].startswith("https://example.com/contoso/api-terms#")
    assert change["generators"] == ["contoso contoso-large-2"]
    shown = cli("reaudit", "--library", changed)
    assert shown.code == 1
    assert f"allow → {outcome}" in shown.out
    assert f"clause {clause}" in shown.out
    assert "unchanged: 1 audit" in shown.out
    never = cli("reaudit", "--library", changed, "--fail-on", "never")
    assert never.code == 0
    markdown = cli("reaudit", "--library", changed, "--format", "markdown")
    assert markdown.code == 1 and f"clause {clause}" in markdown.out


def test_the_same_library_changes_nothing(recorded: Path, cli: Runner) -> None:
    code, report = _reaudit(cli, "--library", recorded / "base")
    assert code == 0
    assert report["counts"]["changed"] == 0 and report["counts"]["unchanged"] == 2
    assert [a["status"] for a in report["audits"]] == ["unchanged", "unchanged"]
    text_result = cli("reaudit", "--library", recorded / "base")
    assert text_result.code == 0
    assert "unchanged: 2 audits" in text_result.out


def test_a_loosened_clause_flips_back_and_passes(recorded: Path, cli: Runner) -> None:
    strict = _library(recorded / "strict", ("in: [fine-tune, evaluate]", "in: [evaluate]"))
    intent = recorded / "intent.yaml"
    audited = cli(
        "audit", recorded / "contoso.jsonl", "--intent", intent, "--policies", strict, "--record"
    )
    assert audited.code == 1
    code, report = _reaudit(cli, "--library", recorded / "base")
    assert code == 0
    back = [a for a in report["audits"] if a["before"] == "deny"]
    assert len(back) == 1 and back[0]["after"] == "allow"
    assert back[0]["changes"][0]["clause"]["clause"] == "fine-tuning-only"


def test_recorded_reaudits_are_logged_and_the_log_verifies(
    recorded: Path, db_url: str, cli: Runner
) -> None:
    changed = _library(recorded / "changed", EDITS["condition-narrowed"][:2])
    before = counts(db_url)
    result = cli("reaudit", "--library", changed, "--record")
    assert result.code == 1, result.err
    assert "recorded 2 re-audits" in result.out
    after = counts(db_url)
    assert after["reaudit_runs"] == 2
    assert after["log_entries"] == before["log_entries"] + 2
    verified = cli("log", "verify")
    assert verified.code == 0, verified.out
    engine = create_engine(db_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE reaudit_runs SET outcome_after = 'allow'"))
    finally:
        engine.dispose()
    tampered = cli("log", "verify")
    assert tampered.code == 1
    assert "re-audit of audit #" in tampered.out


def test_since_filters_by_the_day_recorded(recorded: Path, cli: Runner) -> None:
    today = datetime.now(UTC).date()
    _, later = _reaudit(cli, "--since", (today + timedelta(days=1)).isoformat())
    assert later["counts"]["audits"] == 0
    _, now = _reaudit(cli, "--since", today.isoformat())
    assert now["counts"]["audits"] == 2
    bad = cli("reaudit", "--since", "yesterday")
    assert bad.code == 2
    assert "is not a date" in bad.err and "Traceback" not in bad.err


def test_a_waiver_that_matches_nothing_is_reported(recorded: Path, cli: Runner) -> None:
    waivers = recorded / "waivers.yaml"
    waivers.write_text(
        "schema: provenance/waivers/v1\n"
        "waivers:\n"
        f"  - terms: {CONTOSO}\n"
        "    clause: no-competing-models\n"
        "    reason: Legal review LR-112.\n"
        "    owner: jane@acme.example\n"
        "    expires: 2026-01-31\n",
        encoding="utf-8",
    )
    result = cli("reaudit", "--library", recorded / "base", "--waivers", waivers)
    assert result.code == 0, result.err
    assert f"waiver {CONTOSO} clause no-competing-models matches nothing now" in result.out


def test_an_audit_recorded_without_its_classes_is_reported(
    recorded: Path, db_url: str, cli: Runner
) -> None:
    engine = create_engine(db_url)
    try:
        with engine.begin() as connection:
            seq = connection.execute(text("SELECT MIN(audit_seq) FROM audit_inputs")).scalar_one()
            connection.execute(text("DELETE FROM audit_inputs WHERE audit_seq = :s"), {"s": seq})
    finally:
        engine.dispose()
    result = cli("reaudit", "--library", recorded / "base")
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    assert (
        f"cannot be re-judged: audit #{seq} of acme-chat" in result.out
        and "recorded without its record classes" in result.out
    )
    code, report = _reaudit(cli, "--library", recorded / "base")
    assert code == 0
    assert report["counts"]["cannot_rejudge"] == 1 and report["counts"]["unchanged"] == 1


def test_bad_input_is_one_line_and_exit_2(recorded: Path, cli: Runner) -> None:
    for args in (
        ("--library", recorded / "nowhere"),
        ("--format", "xml"),
        ("--fail-on", "sometimes"),
        ("--waivers", recorded / "intent.yaml"),
    ):
        result = cli("reaudit", *args)
        assert result.code == 2, (args, result.out, result.err)
        assert "provenance: error:" in result.err and "Traceback" not in result.err


def test_the_models_bundle_carries_its_reaudit_history(
    registry_keyed: Path, cli: Runner, recorded: Path
) -> None:
    declared = cli("lineage", "add", "acme-chat", "--trained-on", "contoso-data")
    assert declared.code == 0, declared.err
    changed = _library(recorded / "changed", EDITS["obligation-added"][:2])
    assert cli("reaudit", "--library", changed, "--record").code == 1
    bundle = recorded / "bundle.zip"
    built = cli("evidence", "acme-chat", "-o", bundle)
    assert built.code == 0, built.err
    lines = zipfile.ZipFile(bundle).read("reaudits.jsonl").splitlines()
    rows = [orjson.loads(line) for line in lines]
    assert sorted((r["outcome_before"], r["outcome_after"]) for r in rows) == [
        ("allow", "allow"),
        ("allow", "deny"),
    ]
    verified = cli("evidence", "verify", bundle, "--format", "json")
    assert verified.code == 0, verified.out
    facts = "\n".join(orjson.loads(verified.out)["facts"])
    assert "re-audit of audit #" in facts and "allow → deny" in facts
