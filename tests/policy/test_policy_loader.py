"""Reading policy files: errors name file, line and field; every document round-trips."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from provenance.bounded import parse_yaml
from provenance.errors import ConfigError, PolicyError
from provenance.limits import Limits
from provenance.policy.fields import Where
from provenance.policy.loader import (
    lint,
    load_catalog,
    load_intent,
    load_library,
    load_lineage,
    load_org_policies,
    load_terms,
    load_waivers,
)
from provenance.policy.model import Catalog, Intent, TermsDocument
from tests.policy.builders import ASSETS, LIBRARY_DIR, library

TERMS = """\
schema: provenance/terms/v1
id: acme/doc@2024-01-01
title: A document
provider: acme
document: doc
version: "2024-01-01"
binds: licence
source: https://example.com
effective_from: 2024-01-01
effective_until: null
confidence: high
clauses:
  - id: c1
    section: "§1"
    paraphrase: A clause.
    citation: https://example.com#1
    effect: deny
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def error_of(load: object, path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(path)  # type: ignore[operator]
    return caught.value


def test_unknown_field_names_file_line_and_closest_field() -> None:
    error = error_of(load_intent, ASSETS / "intents" / "typo.yaml")
    assert error.diagnostics() == (
        f"{ASSETS / 'intents' / 'typo.yaml'}:4: unknown field 'distributon' "
        "(hint: did you mean 'distribution'?)"
    )


def test_impossible_date_names_the_field() -> None:
    error = error_of(load_intent, ASSETS / "intents" / "bad-date.yaml")
    assert error.line == 5
    assert "field 'date' must be a date (YYYY-MM-DD)" in error.message
    assert "2025-13-01" in error.message


def test_intent_errors_are_config_errors_not_policy_errors() -> None:
    error = error_of(load_intent, ASSETS / "intents" / "typo.yaml")
    assert type(error) is ConfigError


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("target: {name: x}\nactivity: fine-tune\ncommercial: true\n", 1, "missing field"),
        (
            "target:\n  name: x\n  kind: chatbot\nactivity: fine-tune\ncommercial: true\n"
            "distribution: api\ndate: 2025-01-01\n",
            3,
            "'target.kind' is 'chatbot'",
        ),
        (
            "target: {name: x}\nactivity: fine-tune\ncommercial: yes please\n"
            "distribution: api\ndate: 2025-01-01\n",
            3,
            "must be true or false",
        ),
        ("target: {name: x}\ntarget: {name: y}\n", 2, "appears twice"),
        ("target: [unclosed\n", 2, "not valid YAML"),
        (
            "base: &b {name: x}\ntarget:\n  <<: *b\n",
            3,
            "merge keys",
        ),
        (
            "target: {name: x}\nactivity: fine-tune\ncommercial: true\ndistribution: api\n"
            "date: 2025-01-01\ncompetes_with: openai\n",
            6,
            "must be a list",
        ),
    ],
)
def test_intent_errors(tmp_path: Path, text: str, line: int, message: str) -> None:
    error = error_of(load_intent, write(tmp_path, "intent.yaml", text))
    assert error.line == line, error.diagnostics()
    assert message in error.message


def test_empty_and_oversized_files(tmp_path: Path) -> None:
    assert "empty" in error_of(load_intent, write(tmp_path, "a.yaml", "")).message
    big = write(tmp_path, "b.yaml", "x: " + "y" * 200 + "\n")
    with pytest.raises(ConfigError, match="limit"):
        load_intent(big, Limits(max_yaml_bytes=100))


def test_alias_bombs_are_refused() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"{chr(97 + i)}: &{chr(97 + i)} [" + ", ".join([f"*{chr(96 + i)}"] * 10) + "]")
    with pytest.raises(PolicyError, match="too many values"):
        parse_yaml("\n".join(lines) + "\n", "bomb.yaml")


def test_unsafe_tags_are_refused() -> None:
    with pytest.raises(PolicyError, match="cannot read a value tagged"):
        parse_yaml("x: !!python/object/apply:os.system ['true']\n", "evil.yaml")
    with pytest.raises(PolicyError, match="cannot read the value"):
        parse_yaml("x: !!python/name:os.system ''\n", "evil.yaml")


def test_unquoted_version_is_read_as_text(tmp_path: Path) -> None:
    path = write(tmp_path, "doc@2024-01-01.yaml", TERMS.replace('"2024-01-01"', "2024-01-01"))
    assert load_terms(path).version == "2024-01-01"


@pytest.mark.parametrize(
    ("change", "line", "message"),
    [
        (("binds: licence", "binds: license"), 7, "'binds' is 'license'"),
        (("id: acme/doc@2024-01-01", "id: acme/other@2024-01-01"), 2, "does not match"),
        (("effective_until: null", "effective_until: 2023-01-01"), 10, "is not after"),
        (
            ("    effect: deny", "    effect: deny\n    obligations: [{kind: attribution}]"),
            18,
            "lists obligations",
        ),
        (("    effect: deny", "    effect: obligations"), 17, "lists none"),
        (
            ("    effect: deny", "    effect: deny\n    when: {intent.comercial: {eq: true}}"),
            18,
            "unknown fact",
        ),
        (("  - id: c1", "  - id: c1\n    passes: true"), 14, "unknown field 'passes'"),
    ],
)
def test_terms_errors(tmp_path: Path, change: tuple[str, str], line: int, message: str) -> None:
    path = write(tmp_path, "doc@2024-01-01.yaml", TERMS.replace(*change))
    error = error_of(load_terms, path)
    assert (error.line, message in error.message) == (line, True), error.diagnostics()
    assert error.source == str(path)


def test_contract_clauses_cannot_pass_to_derivatives(tmp_path: Path) -> None:
    text = TERMS.replace("binds: licence", "binds: contract").replace(
        "    effect: deny", "    effect: deny\n    passes_to_derivatives: true"
    )
    error = error_of(load_terms, write(tmp_path, "doc@2024-01-01.yaml", text))
    assert "contract cannot pass" in error.message
    assert error.line == 13


def test_file_must_be_named_after_the_id(tmp_path: Path) -> None:
    error = error_of(load_terms, write(tmp_path, "wrong.yaml", TERMS))
    assert error.hint == "name the file 'doc@2024-01-01.yaml'"


def test_library_folder_must_match_provider(tmp_path: Path) -> None:
    write(tmp_path, "terms/other/doc@2024-01-01.yaml", TERMS)
    with pytest.raises(PolicyError, match="not in the folder of its provider"):
        load_library(tmp_path)


def test_catalog_errors(tmp_path: Path) -> None:
    text = (
        "schema: provenance/catalog/v1\nmodels:\n  - match: [x*]\n    provider: x\n"
        "    family: x\n    terms:\n      selfhosted: [x/y]\n"
    )
    error = error_of(load_catalog, write(tmp_path, "c.yaml", text))
    assert (error.line, error.hint) == (7, "did you mean 'self-hosted'?")
    missing_schema = write(tmp_path, "d.yaml", "models: []\n")
    assert "schema" in error_of(load_catalog, missing_schema).message


def test_lineage_and_waiver_errors_are_config_errors(tmp_path: Path) -> None:
    lineage = write(tmp_path, "l.yaml", "schema: provenance/lineage/v1\nmodels:\n  - nme: m\n")
    error = error_of(load_lineage, lineage)
    assert (type(error), error.line) == (ConfigError, 3)
    waivers = write(
        tmp_path,
        "w.yaml",
        "schema: provenance/waivers/v1\nwaivers:\n  - terms: openai/terms-of-use@2023-03-14\n"
        "    reason: r\n    owner: o\n    expires: someday\n",
    )
    error = error_of(load_waivers, waivers)
    assert (type(error), error.line) == (ConfigError, 6)


def test_org_policies_must_have_provider_org(tmp_path: Path) -> None:
    write(tmp_path, "doc@2024-01-01.yaml", TERMS)
    with pytest.raises(PolicyError, match="provider is 'acme'"):
        load_org_policies(tmp_path)
    assert load_org_policies(ASSETS / "org")[0].provider == "org"


def test_lint_reports_every_problem_with_file_and_line() -> None:
    result = lint(ASSETS / "broken")
    lines = [p.diagnostics() for p in result.problems]
    bad = ASSETS / "broken" / "terms" / "contoso" / "bad-terms@2024-01-01.yaml"
    assert (
        f"{bad}:16: unknown field 'efect' in 'clauses[0]' (hint: did you mean 'effect'?)" in lines
    )
    assert any("catalog names 'contoso/missing-terms'" in line for line in lines)
    assert not result.ok


def test_lint_checks_test_files_against_documents(tmp_path: Path) -> None:
    shutil.copytree(LIBRARY_DIR, tmp_path / "lib")
    test_file = tmp_path / "lib" / "tests" / "zephyrus" / "open-licence@2023-01-01.test.yaml"
    test_file.write_text(test_file.read_text().replace("[outputs-free]", "[no-such-clause]"))
    result = lint(tmp_path / "lib")
    assert [p.message for p in result.problems] == [
        "case 'distillation is expressly allowed' expects clause 'no-such-clause', which "
        "'zephyrus/open-licence@2023-01-01' does not have"
    ]


def test_fixture_library_is_clean() -> None:
    result = lint(LIBRARY_DIR)
    assert result.ok, [p.diagnostics() for p in result.problems]
    assert (result.documents, result.catalogs, result.tests) == (8, 1, 8)


def test_documents_round_trip() -> None:
    for doc in library().documents:
        assert TermsDocument.from_dict(doc.to_dict()) == doc
    catalog = library().catalog
    assert Catalog.from_dict(catalog.to_dict()) == catalog


def test_intent_round_trips() -> None:
    intent = load_intent(ASSETS / "intents" / "competing.yaml")
    assert intent.competes_with == ("contoso",)
    assert Intent.from_dict(intent.to_dict(), Where()) == intent
