"""``provenance tag`` refuses, or warns about, what would otherwise be signed wrong without a word:
parts that are not in the record or not covered, a missing generation time, a key the trust store
would reject, terms the library lacks, and records without an id."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson
import pytest

from provenance.project import load_signer
from provenance.sign import Tagger
from tests.conftest import ASSETS, GENERATOR, TAG, Runner, chat_records, read_jsonl, write_jsonl
from tests.report.helpers import intent_file

LIBRARY = ASSETS / "policy" / "library"

PARTS = """\
/prompt: {provider: contoso, model: contoso-large-2, role: prompt, service: api}
/chosen: {provider: contoso, model: contoso-large-2, service: api}
"""


def _preferences(n: int, **extra: Any) -> list[dict[str, object]]:
    return [
        {"id": f"p{i}", "prompt": f"q{i}", "chosen": "yes", "rejected": "no", **extra}
        for i in range(n)
    ]


def _statement(record: dict[str, Any]) -> dict[str, Any]:
    prov = record["_provenance"]
    payload = prov["dsse"]["payload"] if "dsse" in prov else prov["statement"]
    result: dict[str, Any] = orjson.loads(base64.b64decode(payload))
    return result


def _tag_parts(cli: Runner, parts: str, *options: str) -> Any:
    Path("parts.yaml").write_text(parts)
    return cli(
        "tag", "prefs.jsonl", "-o", "signed.jsonl", "--key", "gen", "--parts", "parts.yaml",
        "--organization", "acme", "--generated-at", "2024-06-01", *options,
    )  # fmt: skip


# ---- parts -----------------------------------------------------------------------------------


def test_a_part_missing_from_a_record_is_refused_naming_it_and_the_line(
    project_dir: Path, cli: Runner
) -> None:
    records = _preferences(3)
    del records[1]["chosen"]
    write_jsonl(project_dir / "prefs.jsonl", records)
    result = _tag_parts(cli, PARTS + "/rejected: {provider: contoso, model: contoso-large-2}\n")
    assert result.code == 2
    assert "prefs.jsonl:2: record has no part '/chosen' named in --parts" in result.err
    assert "optional: true" in result.err
    assert not (project_dir / "signed.jsonl").exists()


def test_a_pointer_that_matches_nothing_is_refused(project_dir: Path, cli: Runner) -> None:
    write_jsonl(project_dir / "prefs.jsonl", _preferences(2))
    result = _tag_parts(cli, "/choosen: {provider: contoso, model: contoso-large-2}\n")
    assert result.code == 2
    assert "prefs.jsonl:1: record has no part '/choosen'" in result.err


def test_an_optional_part_may_be_missing_and_is_left_out_of_that_manifest(
    project_dir: Path, cli: Runner
) -> None:
    records = _preferences(2)
    records[0]["score"] = 7
    write_jsonl(project_dir / "prefs.jsonl", records)
    parts = PARTS + (
        "/rejected: {provider: contoso, model: contoso-large-2}\n"
        "/score: {provider: contoso, model: contoso-large-2, role: judgement, optional: true}\n"
    )
    for options in ((), ("--batch-size", "2")):
        result = _tag_parts(cli, parts, *options)
        assert result.code == 0, result.err
        assert "warning" not in result.err
        assert cli("verify", "signed.jsonl").code == 0
        signed = read_jsonl(project_dir / "signed.jsonl")
        pointers = [
            sorted(c["pointer"] for c in _statement(r)["predicate"]["contributions"])
            for r in signed
        ]
        assert pointers == [
            ["/chosen", "/prompt", "/rejected", "/score"],
            ["/chosen", "/prompt", "/rejected"],
        ]


def test_fields_no_part_covers_are_warned_about_once_and_named_in_the_manifest(
    project_dir: Path, cli: Runner
) -> None:
    records = _preferences(3)
    records[2]["note"] = "hand-written"
    write_jsonl(project_dir / "prefs.jsonl", records)
    result = _tag_parts(cli, PARTS)
    assert result.code == 0, result.err
    assert result.err.count("warning") == 1
    assert "/note (1 of 3 records)" in result.err
    assert "/rejected (3 of 3 records)" in result.err
    assert "/id" not in result.err  # the id is no model's output
    signed = read_jsonl(project_dir / "signed.jsonl")
    predicates = [_statement(r)["predicate"] for r in signed]
    assert predicates[0]["unattributed_parts"] == ["/rejected"]
    assert predicates[2]["unattributed_parts"] == ["/rejected", "/note"]
    assert cli("verify", "signed.jsonl").code == 0


def test_a_whole_record_part_covers_every_field(project_dir: Path, cli: Runner) -> None:
    write_jsonl(project_dir / "prefs.jsonl", _preferences(2))
    result = _tag_parts(
        cli, PARTS + '"": {provider: contoso, model: contoso-large-2, role: other}\n'
    )
    assert result.code == 0, result.err
    assert "warning" not in result.err
    assert "unattributed_parts" not in _statement(read_jsonl(Path("signed.jsonl"))[0])["predicate"]


def test_the_audit_reviews_a_part_no_model_is_named_for(project_dir: Path, cli: Runner) -> None:
    (project_dir / "data").mkdir()
    write_jsonl(project_dir / "prefs.jsonl", _preferences(3))
    intent = intent_file(project_dir, "intent")
    Path("parts.yaml").write_text(
        PARTS + "/rejected: {provider: contoso, model: contoso-large-2}\n"
    )
    common = ("--key", "gen", "--parts", "parts.yaml", "--organization", "acme")
    tag = ("tag", "prefs.jsonl", "-o", "data/signed.jsonl", *common, "--generated-at", "2024-06-01")
    assert cli(*tag).code == 0
    audit = ("audit", "data", "--intent", intent, "--policies", LIBRARY, "--format", "json")
    covered = cli(*audit)
    assert covered.code == 0, covered.out + covered.err
    Path("parts.yaml").write_text(PARTS)
    assert cli(*tag).code == 0
    result = cli(*audit)
    assert result.code == 1, result.out + result.err
    report = orjson.loads(result.out)
    review = [d for d in report["decisions"] if d["decision"] == "review"]
    assert review, report["decisions"]
    assert any("part /rejected of 3 signed records" in orjson.dumps(d).decode() for d in review)
    assert any(d.get("clause") == "unattributed-part" for d in review)


# ---- when the data was generated -------------------------------------------------------------


def test_tagging_a_file_needs_the_generation_time(project_dir: Path, cli: Runner) -> None:
    write_jsonl(project_dir / "gen.jsonl", chat_records(2))
    result = cli("tag", "gen.jsonl", "-o", "out.jsonl", *GENERATOR)
    assert result.code == 2
    for choice in ("--generated-at TIME", "--generated-at now", "--generated-at-field FIELD"):
        assert choice in result.err
    assert "Traceback" not in result.err
    assert not (project_dir / "out.jsonl").exists()


def test_generated_at_now_stamps_the_signing_time(project_dir: Path, cli: Runner) -> None:
    write_jsonl(project_dir / "gen.jsonl", chat_records(1))
    assert cli("tag", "gen.jsonl", "-o", "out.jsonl", *GENERATOR, "--generated-at", "now").code == 0
    predicate = _statement(read_jsonl(project_dir / "out.jsonl")[0])["predicate"]
    assert predicate["contributions"][0]["generated_at"][:16] == predicate["signed_at"][:16]


@pytest.mark.parametrize("options", [(), ("--batch-size", "2")], ids=["per-record", "batch"])
def test_the_generation_time_is_read_from_a_field(
    project_dir: Path, cli: Runner, options: tuple[str, ...]
) -> None:
    records = chat_records(3)
    times = ["2024-01-02", "2024-03-04T05:06:07Z", "2024-07-08"]
    for record, when in zip(records, times, strict=True):
        record["made"] = when
    write_jsonl(project_dir / "gen.jsonl", records)
    result = cli(
        "tag", "gen.jsonl", "-o", "out.jsonl", *GENERATOR, "--generated-at-field", "made", *options
    )
    assert result.code == 0, result.err
    assert cli("verify", "out.jsonl").code == 0
    times = [
        _statement(r)["predicate"]["contributions"][0]["generated_at"]
        for r in read_jsonl(project_dir / "out.jsonl")
    ]
    assert times == ["2024-01-02T00:00:00Z", "2024-03-04T05:06:07Z", "2024-07-08T00:00:00Z"]


@pytest.mark.parametrize(
    ("value", "message"),
    [(None, "record has no field 'made'"), ("last week", "field 'made' is not an RFC 3339")],
)
def test_a_record_without_a_usable_time_field_is_refused_with_its_line(
    project_dir: Path, cli: Runner, value: str | None, message: str
) -> None:
    records = chat_records(3)
    for record in records:
        record["made"] = "2024-01-02"
    records[1]["made"] = value
    write_jsonl(project_dir / "gen.jsonl", records)
    result = cli("tag", "gen.jsonl", "-o", "out.jsonl", *GENERATOR, "--generated-at-field", "made")
    assert result.code == 2
    assert f"gen.jsonl:2: {message}" in result.err
    assert not (project_dir / "out.jsonl").exists()


def test_the_two_time_options_do_not_mix(project_dir: Path, cli: Runner) -> None:
    write_jsonl(project_dir / "gen.jsonl", chat_records(1))
    result = cli("tag", "gen.jsonl", "-o", "o.jsonl", *TAG, "--generated-at-field", "made")
    assert result.code == 2 and "not both" in result.err


def test_the_sdk_still_stamps_the_current_time(project_dir: Path) -> None:
    tagger = Tagger(load_signer("gen"), provider="openai", model="gpt-4o")
    predicate = _statement(tagger.tag({"id": "x", "text": "hi"}))["predicate"]
    assert predicate["contributions"][0]["generated_at"][:16] == predicate["signed_at"][:16]


# ---- the signing key -------------------------------------------------------------------------


def _tag_with(cli: Runner, key: str, *options: str) -> Any:
    write_jsonl(Path("gen.jsonl"), chat_records(2))
    return cli("tag", "gen.jsonl", "-o", "out.jsonl", "--key", key, *TAG[2:], *options)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (("keys", "revoke", "k", "--reason", "leaked"), "trust entry 'k': signed by key 'k', "),
        (("keys", "rotate", "k", "k2"), "key 'k' expired at"),
        (None, "is in no entry of the trust store"),
    ],
    ids=["revoked", "retired", "untrusted"],
)
def test_a_key_verify_would_reject_is_refused_unless_forced(
    project_dir: Path, cli: Runner, setup: tuple[str, ...] | None, message: str
) -> None:
    if setup is None:
        assert cli("keys", "generate", "k").code == 0
    else:
        assert cli("keys", "generate", "k", "--trust").code == 0
        assert cli(*setup).code == 0
    result = _tag_with(cli, "k")
    assert result.code == 2
    assert "refusing to sign" in result.err and message in result.err
    assert "--force" in result.err
    assert not Path("out.jsonl").exists()
    forced = _tag_with(cli, "k", "--force")
    assert forced.code == 0
    assert "warning: signing anyway (--force)" in forced.err
    assert cli("verify", "out.jsonl").code == 1


@pytest.mark.parametrize(
    ("trust", "message"),
    [
        (("--valid-from", "2999-01-01"), "key 'k' is valid from 2999-01-01"),
        (("--signs", "evidence"), "key 'k' is not trusted to sign records"),
        (("--provider", "meta"), "key 'k' is not trusted to sign for provider 'openai'"),
        (("--organization", "other"), "not trusted to sign for organisation 'acme'"),
    ],
    ids=["not-yet-valid", "evidence-only", "other-provider", "other-organisation"],
)
def test_a_key_outside_its_trust_is_refused_naming_the_entry(
    project_dir: Path, cli: Runner, trust: tuple[str, ...], message: str
) -> None:
    assert cli("keys", "generate", "k").code == 0
    assert cli("keys", "trust", "k", *trust).code == 0
    result = _tag_with(cli, "k")
    assert result.code == 2, result.err
    assert "trust entry 'k'" in result.err and message in result.err


def test_parts_providers_are_judged_against_the_key(project_dir: Path, cli: Runner) -> None:
    assert cli("keys", "generate", "k").code == 0
    assert cli("keys", "trust", "k", "--provider", "contoso").code == 0
    write_jsonl(project_dir / "prefs.jsonl", _preferences(1))
    parts = PARTS + "/rejected: {provider: meta, model: llama}\n"
    Path("parts.yaml").write_text(parts)
    result = cli(
        "tag", "prefs.jsonl", "-o", "o.jsonl", "--key", "k", "--parts", "parts.yaml",
        "--generated-at", "2024-06-01",
    )  # fmt: skip
    assert result.code == 2
    assert "not trusted to sign for provider 'meta'" in result.err


def test_without_a_project_a_key_file_is_used_with_a_warning(workdir: Path, cli: Runner) -> None:
    from provenance.keys import PrivateKeySigner

    pem = workdir / "k.pem"
    pem.write_bytes(PrivateKeySigner.generate().private_pem())
    pem.chmod(0o600)
    result = _tag_with(cli, str(pem))
    assert result.code == 0, result.err
    assert "no trust store; nothing checks that key" in result.err


# ---- terms -----------------------------------------------------------------------------------


def test_unknown_terms_are_refused_with_the_closest_ids(project_dir: Path, cli: Runner) -> None:
    result = _tag_with(cli, "gen", "--terms", "openai/terms-of-us@2024-01-31")
    assert result.code == 2
    assert "--terms 'openai/terms-of-us@2024-01-31' is not in the policy library" in result.err
    assert "did you mean 'openai/terms-of-use@2024-01-31'" in result.err
    assert not Path("out.jsonl").exists()
    allowed = _tag_with(
        cli, "gen", "--terms", "openai/terms-of-us@2024-01-31", "--terms-unknown-ok"
    )
    assert allowed.code == 0, allowed.err


def test_known_terms_and_families_are_accepted(project_dir: Path, cli: Runner) -> None:
    assert _tag_with(cli, "gen", "--terms", "openai/terms-of-use@2024-01-31").code == 0
    assert _tag_with(cli, "gen", "--terms", "openai/terms-of-use").code == 0


def test_unknown_terms_in_a_parts_file_are_refused(project_dir: Path, cli: Runner) -> None:
    write_jsonl(project_dir / "prefs.jsonl", _preferences(1))
    result = _tag_parts(
        cli, PARTS + "/rejected: {provider: openai, model: gpt-4o, terms: openai/nope@1}\n"
    )
    assert result.code == 2 and "'openai/nope@1' is not in the policy library" in result.err


# ---- records without an id -------------------------------------------------------------------


@pytest.mark.parametrize("options", [(), ("--batch-size", "2")], ids=["per-record", "batch"])
def test_a_record_without_an_id_gets_the_same_id_every_time(
    project_dir: Path, cli: Runner, options: tuple[str, ...]
) -> None:
    records = chat_records(3)
    del records[1]["id"]
    write_jsonl(project_dir / "gen.jsonl", records)
    names = []
    for out in ("a.jsonl", "b.jsonl"):
        assert cli("tag", "gen.jsonl", "-o", out, *TAG, *options).code == 0
        statement = _statement(read_jsonl(project_dir / out)[1])
        names.append(statement["subject"][0]["name"])
        digest = statement["subject"][0]["digest"]["sha256"]
    assert names[0] == names[1] == f"sha256:{digest[:16]}"
    tagger = Tagger(load_signer("gen"), provider="openai", model="gpt-4o")
    assert _statement(tagger.tag(records[1]))["subject"][0]["name"] == names[0]
    listed = cli("verify", "a.jsonl", "--all")
    assert f"record {names[0]} ok" in listed.out
