"""The terms library shipped in policies/: valid, tested per document, and mapping real model ids."""

from __future__ import annotations

from collections import Counter

import pytest

from provenance.policy.loader import default_policy_dir, lint, load_library, load_test_files
from provenance.policy.testing import run_tests
from tests.conftest import Runner

LIBRARY = load_library(default_policy_dir())


def test_lint_passes_on_the_whole_library() -> None:
    result = lint(default_policy_dir())
    assert result.problems == ()
    assert result.documents == len(LIBRARY) >= 60


def test_every_shipped_case_passes() -> None:
    results = run_tests(LIBRARY, load_test_files(default_policy_dir()))
    failed = [f"{r.terms}: {r.name}: {r.problems}" for r in results if not r.passed]
    assert failed == []
    assert len(results) >= 5 * len({d.family for d in LIBRARY.documents}) * 0.9


def test_every_document_has_its_own_test_file() -> None:
    tested = {f.terms for f in load_test_files(default_policy_dir())}
    assert {d.id for d in LIBRARY.documents} - tested == set()


def test_families_cover_allow_deny_review_and_obligations_overall() -> None:
    results = run_tests(LIBRARY, load_test_files(default_policy_dir()))
    outcomes = Counter(r.expected for r in results)
    assert outcomes["allow"] > 20
    assert outcomes["deny"] > 20
    assert outcomes["review"] > 20


@pytest.mark.parametrize(
    ("model", "provider", "terms"),
    [
        ("gpt-4o-2024-08-06", "openai", "openai/services-agreement"),
        ("claude-3-5-sonnet-20241022", "anthropic", "anthropic/commercial-terms"),
        ("gemini-1.5-pro-002", "google", "google/gemini-api-terms"),
        ("meta-llama/Llama-3.1-8B-Instruct", "meta", "meta/llama-3.1-community-license"),
        ("Qwen/Qwen2.5-72B-Instruct", "alibaba", "alibaba/qwen-license"),
        ("Qwen/Qwen2.5-7B-Instruct", "alibaba", "licences/apache-2.0"),
        ("deepseek-ai/DeepSeek-R1", "deepseek", "deepseek/deepseek-r1-license"),
        ("google/gemma-2-9b-it", "google", "google/gemma-terms-of-use"),
        ("mistralai/Mistral-Large-Instruct-2407", "mistral", "mistral/research-license"),
        ("nvidia/Nemotron-4-340B-Instruct", "nvidia", "nvidia/open-model-license"),
        ("microsoft/phi-4", "microsoft", "licences/mit"),
    ],
)
def test_catalog_maps_model_ids_to_provider_and_terms(
    model: str, provider: str, terms: str
) -> None:
    entry = LIBRARY.catalog.model(model)
    assert entry is not None, model
    assert entry.provider == provider
    refs = {ref.split("@")[0] for refs in entry.terms.values() for ref in refs}
    assert terms in refs, (model, refs)


def test_policy_list_and_show(cli: Runner) -> None:
    listing = cli("policy", "list")
    assert listing.code == 0
    assert "meta/llama-3.1-community-license@2024-07-23" in listing.out
    assert "2024-07-23" in listing.out
    shown = cli("policy", "show", "google/gemma-terms-of-use@2024-04-01")
    assert shown.code == 0
    assert "§1.1(e)" in shown.out
    assert "https://ai.google.dev/gemma/terms" in shown.out
