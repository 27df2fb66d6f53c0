"""The JSON report against its published schema, ``docs/audit-report.schema.json``."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped,unused-ignore]
import orjson
import pytest

from provenance.policy.conditions import ACTIVITIES, DISTRIBUTIONS, TARGET_KINDS
from provenance.policy.model import CONFIDENCES, EFFECTS, OBLIGATION_KINDS
from provenance.report import RENDERERS
from provenance.verify import Status
from tests.conftest import Runner
from tests.report.helpers import (
    REPO,
    Scenario,
    Scenarios,
    audit_to,
    contoso_shard,
)

SCHEMA_PATH = REPO / "docs" / "audit-report.schema.json"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def _errors(validator: jsonschema.Draft202012Validator, document: Any) -> list[str]:
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(document)]


def test_schema_is_valid_draft_2020_12(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["schema"] == {
        "const": "provenance/audit-report/v1",
        "description": "Version of this format.",
    }
    required = set(schema["required"])
    assert {"verdict", "decisions", "obligations", "summary", "policies"} <= required
    assert {"tool_version", "dataset_digest"} <= required
    decision = schema["$defs"]["decision"]["required"]
    assert {"terms", "decision", "clause", "citation", "path", "records", "sample_ids"} <= set(
        decision
    )
    assert {"terms", "kind", "text"} <= set(schema["$defs"]["obligation"]["required"])
    summary = set(schema["$defs"]["summary"]["required"])
    assert {
        "records",
        "verification",
        "synthetic_share",
        "by_provider",
        "generation_depth",
        "duplicate_rate",
    } <= summary
    assert {"id", "digest"} <= set(schema["$defs"]["policy"]["required"])


def test_every_real_report_validates(
    scenario: Scenario, validator: jsonschema.Draft202012Validator
) -> None:
    document = orjson.loads(RENDERERS["json"].render(scenario.report))
    assert _errors(validator, document) == []


def test_the_schema_covers_every_field_the_report_writes(
    scenarios: Scenarios, validator: jsonschema.Draft202012Validator
) -> None:
    """The schema is closed: a field it does not describe is an error, so none is undocumented."""
    document = scenarios.rich.report.to_dict()
    assert _errors(validator, document) == []
    places: list[tuple[str, Any]] = [
        ("top level", document),
        ("intent", document["intent"]),
        ("intent.target", document["intent"]["target"]),
        ("summary", document["summary"]),
        ("generation_depth", document["summary"]["generation_depth"]),
        ("decision", document["decisions"][0]),
        ("decision finding", document["decisions"][0]["findings"][0]),
        ("finding", document["findings"][0]),
        ("obligation", document["obligations"][0]),
        ("policy", document["policies"][0]),
        ("lineage node", document["lineage"]["nodes"][0]),
        ("lineage edge", document["lineage"]["edges"][0]),
    ]
    for name, target in places:
        target["undocumented_field"] = 1
        assert _errors(validator, document), f"the schema accepts an unknown field in {name}"
        del target["undocumented_field"]
    assert _errors(validator, document) == []


def test_waived_findings_and_waiver_status_validate(
    scenarios: Scenarios, validator: jsonschema.Draft202012Validator
) -> None:
    document = scenarios.waived.report.to_dict()
    assert document["waivers"][0]["state"] == "applied"
    finding = document["findings"][0]
    assert finding["waived_by"]["owner"] == "jane@acme.example"
    assert finding["original_outcome"] == "deny"
    assert _errors(validator, document) == []
    broken = copy.deepcopy(document)
    del broken["findings"][0]["original_outcome"]
    assert _errors(validator, broken)


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("verdict",), "maybe"),
        (("schema",), "provenance/audit-report/v2"),
        (("dataset_digest",), "md5:abc"),
        (("decisions", 0, "decision"), "forbid"),
        (("decisions", 0, "records"), -1),
        (("summary", "synthetic_share"), 1.5),
        (("summary", "verification"), {"fine": 1}),
        (("intent", "date"), "10 January 2025"),
        (("generated_at",), "yesterday"),
        (("obligations", 0, "status"), "maybe"),
    ],
)
def test_schema_rejects_a_wrong_value(
    scenarios: Scenarios,
    validator: jsonschema.Draft202012Validator,
    where: tuple[str | int, ...],
    value: object,
) -> None:
    document = copy.deepcopy(scenarios.rich.report.to_dict())
    target: Any = document
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    assert _errors(validator, document)


@pytest.mark.parametrize(
    "field", ["verdict", "decisions", "summary", "policies", "tool_version", "dataset_digest"]
)
def test_schema_requires_the_contract_fields(
    scenarios: Scenarios, validator: jsonschema.Draft202012Validator, field: str
) -> None:
    document = scenarios.passing.report.to_dict()
    del document[field]
    assert _errors(validator, document)


def test_schema_vocabularies_match_the_code(schema: dict[str, Any]) -> None:
    defs = schema["$defs"]
    intent = defs["intent"]["properties"]
    assert set(intent["activity"]["enum"]) == ACTIVITIES
    assert set(intent["distribution"]["enum"]) == DISTRIBUTIONS
    assert set(intent["target"]["properties"]["kind"]["enum"]) == TARGET_KINDS
    assert set(defs["obligation"]["properties"]["kind"]["enum"]) == OBLIGATION_KINDS
    assert set(defs["clause"]["properties"]["effect"]["enum"]) == EFFECTS
    assert set(defs["clause"]["properties"]["confidence"]["enum"]) == CONFIDENCES
    statuses = defs["summary"]["properties"]["verification"]["propertyNames"]["enum"]
    assert set(statuses) == {s.value for s in Status}


def test_cli_json_report_validates_and_exit_code_matches_verdict(
    project_dir: Path, cli: Runner, validator: jsonschema.Draft202012Validator
) -> None:

    contoso_shard(project_dir / "data" / "a.jsonl", prefix="a", n=3)
    (project_dir / "data" / "human.jsonl").write_text('{"id": "h1", "text": "hello"}\n')
    result = audit_to(cli, "json")
    document = orjson.loads(result.out)
    assert _errors(validator, document) == []
    assert document["verdict"] == "fail"
    assert result.code == 1
    assert document["findings"][0]["shards"] == {"data/a.jsonl": 3}


def test_record_class_nodes_list_their_parts(
    scenarios: Scenarios, validator: jsonschema.Draft202012Validator
) -> None:
    document = scenarios.rich.report.to_dict()
    classes = [n for n in document["lineage"]["nodes"] if n["kind"] == "class"]
    assert classes
    models = {p["model"] for n in classes for p in n["parts"]}
    assert {"contoso-large-2", "northwind/nw-8b", "acme/m2"} <= models
    assert all(p["role"] for n in classes for p in n["parts"])
    assert _errors(validator, document) == []
