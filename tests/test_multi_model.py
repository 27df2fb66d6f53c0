"""Records written by several models: parts, roles, per-part digests, tagging data made earlier."""

from __future__ import annotations

import base64
from pathlib import Path

import orjson
import pytest

from provenance.manifest import Generator
from provenance.project import load_signer
from provenance.sign import RecordDraft, Tagger
from tests.conftest import Runner, read_jsonl, write_jsonl

PARTS = """\
/prompt: {provider: openai, model: gpt-4o, role: prompt, service: api}
/chosen: {provider: meta, model: meta-llama/Llama-3.1-70B-Instruct, service: self-hosted}
/rejected: {provider: mistral, model: mistralai/Mistral-7B-Instruct-v0.3, service: self-hosted}
/score: {provider: anthropic, model: claude-3-5-sonnet-20241022, role: judgement, service: api,
         generated_at: 2025-07-01}
"""


def _preference_rows(n: int) -> list[dict[str, object]]:
    return [
        {"id": f"p{i}", "prompt": f"Q{i}?", "chosen": f"A{i}", "rejected": "no idea", "score": 8}
        for i in range(n)
    ]


def _statement(record: dict[str, object]) -> dict[str, object]:
    prov = record["_provenance"]
    assert isinstance(prov, dict)
    result: dict[str, object] = orjson.loads(base64.b64decode(prov["dsse"]["payload"]))
    return result


def test_tag_with_parts_names_every_generator_and_role(project_dir: Path, cli: Runner) -> None:
    write_jsonl(project_dir / "prefs.jsonl", _preference_rows(3))
    (project_dir / "parts.yaml").write_text(PARTS)
    result = cli(
        "tag",
        "prefs.jsonl",
        "-o",
        "signed.jsonl",
        "--key",
        "gen",
        "--parts",
        "parts.yaml",
        "--generated-at",
        "2025-06-30",
        "--part-digests",
    )
    assert result.code == 0, result.err
    assert cli("verify", "signed.jsonl").code == 0
    statement = _statement(read_jsonl(project_dir / "signed.jsonl")[0])
    predicate = statement["predicate"]
    assert isinstance(predicate, dict)
    parts = {
        c["pointer"]: (c["generator"]["provider"], c["role"], c["generated_at"])
        for c in predicate["contributions"]
    }
    assert parts == {
        "/prompt": ("openai", "prompt", "2025-06-30T00:00:00Z"),
        "/chosen": ("meta", "response", "2025-06-30T00:00:00Z"),
        "/rejected": ("mistral", "response", "2025-06-30T00:00:00Z"),
        "/score": ("anthropic", "judgement", "2025-07-01T00:00:00Z"),
    }
    assert all("part_digest" in c for c in predicate["contributions"])


def test_parts_and_single_model_options_do_not_mix(project_dir: Path, cli: Runner) -> None:
    write_jsonl(project_dir / "prefs.jsonl", _preference_rows(1))
    (project_dir / "parts.yaml").write_text(PARTS)
    mixed = cli(
        "tag",
        "prefs.jsonl",
        "-o",
        "o.jsonl",
        "--key",
        "gen",
        "--parts",
        "parts.yaml",
        "--model",
        "gpt-4o",
    )
    assert mixed.code == 2
    assert "leave out --model" in mixed.err
    neither = cli("tag", "prefs.jsonl", "-o", "o.jsonl", "--key", "gen")
    assert neither.code == 2
    assert "--parts" in neither.err


def test_bad_parts_file_names_the_part(project_dir: Path, cli: Runner) -> None:
    write_jsonl(project_dir / "prefs.jsonl", _preference_rows(1))
    (project_dir / "parts.yaml").write_text("/score: {provider: x, model: y, role: judge}\n")
    result = cli("tag", "prefs.jsonl", "-o", "o.jsonl", "--key", "gen", "--parts", "parts.yaml")
    assert result.code == 2
    assert "part '/score'" in result.err
    assert "judgement" in result.err


def test_changing_one_part_fails_and_removing_a_contribution_breaks_the_signature(
    project_dir: Path, cli: Runner
) -> None:
    tagger = Tagger(load_signer("gen"), provider="openai", model="gpt-4o", part_digests=True)
    draft = RecordDraft({"id": "pref-1", "prompt": "2+2?"})
    draft.set("/chosen", "4", generator=Generator("zephyrus", "zephyrus-2"))
    draft.set("/score", 9, role="judgement", generator=Generator("contoso", "contoso-large-2"))
    signed = tagger.sign_draft(draft)
    write_jsonl(project_dir / "ok.jsonl", [signed])
    assert cli("verify", "ok.jsonl").code == 0

    changed = {**signed, "score": 2}
    write_jsonl(project_dir / "changed.jsonl", [changed])
    assert "content-mismatch" in cli("verify", "changed.jsonl").out

    # Drop the judge from the signed statement: the signature no longer matches.
    prov = signed["_provenance"]
    statement = _statement(signed)
    predicate = statement["predicate"]
    assert isinstance(predicate, dict)
    predicate["contributions"] = [c for c in predicate["contributions"] if c["role"] != "judgement"]
    forged = {**prov["dsse"], "payload": base64.b64encode(orjson.dumps(statement)).decode()}
    write_jsonl(project_dir / "forged.jsonl", [{**signed, "_provenance": {"dsse": forged}}])
    result = cli("verify", "forged.jsonl")
    assert result.code == 1
    assert "bad-signature" in result.out


def test_a_part_digest_proves_its_author_with_the_other_parts_withheld(project_dir: Path) -> None:
    from provenance.errors import VerificationError
    from provenance.project import load_trust
    from provenance.verify import Verifier

    tagger = Tagger(load_signer("gen"), provider="openai", model="gpt-4o", part_digests=True)
    draft = RecordDraft({"id": "pref-2", "prompt": "Capital of Japan?"})
    draft.set("/chosen", "Tokyo.", generator=Generator("zephyrus", "zephyrus-2"))
    draft.set("/rejected", "Kyoto.", generator=Generator("fabrikam", "fabrikam-7b"))
    draft.set("/score", 9, role="judgement", generator=Generator("contoso", "contoso-large-2"))
    signed = tagger.sign_draft(draft)
    verifier = Verifier(load_trust(project_dir / ".provenance" / "trust.yaml"))

    # Only the manifest and the judge's score are disclosed: prompt and answers are withheld.
    judge = verifier.verify_part(signed["_provenance"], "/score", 9)
    assert (judge.generator.provider, judge.generator.model, judge.role) == (
        "contoso",
        "contoso-large-2",
        "judgement",
    )
    chosen = verifier.verify_part(signed["_provenance"], "/chosen", "Tokyo.")
    assert chosen.generator.provider == "zephyrus"

    with pytest.raises(VerificationError, match="does not match its signed digest"):
        verifier.verify_part(signed["_provenance"], "/score", 2)
    with pytest.raises(VerificationError, match="does not match"):
        verifier.verify_part(signed["_provenance"], "/chosen", "Kyoto.")  # another part's value
    stranger = Verifier(load_trust(project_dir / ".provenance" / "trust.yaml").__class__())
    with pytest.raises(VerificationError) as info:
        stranger.verify_part(signed["_provenance"], "/score", 9)
    assert info.value.status == "untrusted-signer"
