"""SARIF 2.1.0: valid against the OASIS schema, one rule per clause, results per rule and shard."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped,unused-ignore]
import pytest

from provenance.report import RENDERERS
from provenance.report.sarif import INTENT_ENV, SarifRenderer
from tests.conftest import Runner
from tests.report.helpers import (
    SCHEMAS,
    Scenario,
    Scenarios,
    audit_to,
    contoso_shard,
)


@pytest.fixture(scope="module")
def sarif_validator() -> jsonschema.Draft7Validator:
    schema = json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(
        schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )


def _log(scenario: Scenario) -> dict[str, Any]:
    renderer = SarifRenderer(intent=scenario.intent, base=scenario.root)
    log: dict[str, Any] = json.loads(renderer.render(scenario.report))
    return log


def _errors(validator: jsonschema.Draft7Validator, log: Any) -> list[str]:
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(log)]


def test_every_real_report_is_valid_sarif(
    scenario: Scenario, sarif_validator: jsonschema.Draft7Validator
) -> None:
    log = _log(scenario)
    assert _errors(sarif_validator, log) == []
    assert log["version"] == "2.1.0"
    assert len(log["runs"]) == 1
    assert log["runs"][0]["tool"]["driver"]["name"] == "provenance"


def test_the_validator_catches_a_broken_log(
    scenarios: Scenarios, sarif_validator: jsonschema.Draft7Validator
) -> None:
    log = _log(scenarios.rich)
    log["runs"][0]["results"][0]["level"] = "fatal"
    del log["runs"][0]["tool"]["driver"]["name"]
    assert len(_errors(sarif_validator, log)) >= 2


def test_one_rule_per_terms_clause_with_help_and_citation(scenarios: Scenarios) -> None:
    report = scenarios.rich.report
    run = _log(scenarios.rich)["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids))
    expected = {f.terms if f.rule is None else f"{f.terms}/{f.rule}" for f in report.findings}
    assert set(ids) == expected
    rule = next(r for r in rules if r["id"] == "contoso/api-terms@2024-01-01/no-competing-models")
    assert rule["helpUri"] == "https://example.com/contoso/api-terms#2c"
    assert "compete with Contoso" in rule["help"]["text"]
    assert "https://example.com/contoso/api-terms#2c" in rule["help"]["text"]
    assert rule["defaultConfiguration"]["level"] == "error"
    assert rule["properties"]["section"] == "§2(c)"
    missing = next(r for r in rules if r["id"].startswith("provenance/missing-provenance"))
    assert "helpUri" not in missing
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


def test_results_are_aggregated_per_rule_and_shard_never_per_record(
    scenarios: Scenarios,
) -> None:
    report = scenarios.rich.report
    results = _log(scenarios.rich)["runs"][0]["results"]
    assert len(results) < report.summary.records
    keys = Counter(
        (
            r["ruleId"],
            r["properties"]["path"],
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        )
        for r in results
    )
    assert max(keys.values()) == 1
    contoso = [
        r for r in results if r["ruleId"] == "contoso/api-terms@2024-01-01/no-competing-models"
    ]
    by_uri = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]: r for r in contoso}
    assert set(by_uri) == {"data/contoso-a.jsonl", "data/contoso-b.jsonl", "data/tiny.jsonl"}
    assert by_uri["data/contoso-a.jsonl"]["properties"]["records"] == 4
    assert by_uri["data/contoso-b.jsonl"]["properties"]["records"] == 2
    first = by_uri["data/contoso-a.jsonl"]
    assert first["level"] == "error"
    assert "4 records in data/contoso-a.jsonl" in first["message"]["text"]
    assert "ca-0" in first["message"]["text"]
    assert first["properties"]["sampleRecordIds"][0] == "ca-0"
    assert first["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
    fingerprints = [r["partialFingerprints"]["provenanceFinding/v1"] for r in results]
    assert len(fingerprints) == len(set(fingerprints))


def test_levels_follow_outcomes(scenarios: Scenarios) -> None:
    rich = _log(scenarios.rich)["runs"][0]["results"]
    levels = {(r["ruleId"], r["level"]) for r in rich}
    assert (
        "fabrikam/open-model-licence@2024-04-01/derivatives-not-open-weights",
        "error",
    ) in levels
    assert ("provenance/model-collapse-risk/max-synthetic-share", "warning") in levels
    assert ("zephyrus/open-licence@2023-01-01/outputs-free", "note") in levels
    review = _log(scenarios.review)["runs"][0]["results"]
    assert {r["level"] for r in review} == {"warning"}


def test_dataset_wide_findings_point_at_the_intent_file(scenarios: Scenarios) -> None:
    results = _log(scenarios.rich)["runs"][0]["results"]
    threshold = next(
        r for r in results if r["ruleId"] == "provenance/model-collapse-risk/max-synthetic-share"
    )
    location = threshold["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location["uri"] == "intent.yaml"  # relative to the scenario root
    assert "whole dataset" in threshold["message"]["text"]
    missing = next(r for r in results if r["ruleId"].startswith("provenance/missing-provenance"))
    assert missing["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "intent.yaml"
    assert missing["properties"]["records"] == 2


def test_intent_location_from_the_environment(
    scenarios: Scenarios, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(INTENT_ENV, "config/intent.yaml")
    log = json.loads(SarifRenderer(base=scenarios.rich.root).render(scenarios.rich.report))
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in log["runs"][0]["results"]
    }
    assert "config/intent.yaml" in uris


def test_shards_outside_the_base_are_file_uris(scenarios: Scenarios, tmp_path: Path) -> None:
    log = json.loads(SarifRenderer(base=tmp_path).render(scenarios.rich.report))
    uris = [
        r["locations"][0]["physicalLocation"]["artifactLocation"] for r in log["runs"][0]["results"]
    ]
    shard = next(u for u in uris if u["uri"].endswith("contoso-a.jsonl"))
    assert shard["uri"].startswith("file:///")
    assert "uriBaseId" not in shard


def test_waived_findings_are_suppressed_notes(scenarios: Scenarios) -> None:
    results = _log(scenarios.waived)["runs"][0]["results"]
    assert len(results) == 1
    result = results[0]
    assert result["level"] == "note"
    suppression = result["suppressions"][0]
    assert suppression["kind"] == "external"
    assert suppression["status"] == "accepted"
    assert "LR-112" in suppression["justification"]
    assert suppression["properties"]["owner"] == "jane@acme.example"
    assert result["properties"]["originalOutcome"] == "deny"


def test_run_properties_carry_the_verdict(scenarios: Scenarios) -> None:
    run = _log(scenarios.passing)["runs"][0]
    assert run["properties"]["verdict"] == "pass"
    assert run["invocations"][0]["exitCode"] == 0
    run = _log(scenarios.rich)["runs"][0]
    assert run["properties"]["verdict"] == "fail"
    assert run["properties"]["datasetDigest"] == scenarios.rich.report.dataset_digest


def test_cli_writes_sarif(
    project_dir: Path, cli: Runner, sarif_validator: jsonschema.Draft7Validator
) -> None:

    contoso_shard(project_dir / "data" / "a.jsonl", prefix="a", n=3)
    out = project_dir / "reports" / "audit.sarif"
    result = audit_to(cli, "sarif", out)
    assert result.code == 1
    assert "sarif" in RENDERERS
    log = json.loads(out.read_text(encoding="utf-8"))
    assert _errors(sarif_validator, log) == []
    result_ = log["runs"][0]["results"][0]
    assert result_["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
        "data/a.jsonl"
    )
