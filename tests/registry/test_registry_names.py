"""The same data registered under two names: each name keeps its own lineage and generators.

``a`` and ``b`` are one file ingested twice (one dataset digest, two registrations). A model
declared trained on ``a`` is shown, bundled and exported with ``a``; one trained on ``b`` with
``b``; a bundle that covers both names lists both, each with its generators.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Runner
from tests.registry.registry_data import signed_file

GENERATOR = "contoso-large-2"


@pytest.fixture
def two_names(registry_keyed: Path, cli: Runner) -> Path:
    data = signed_file(registry_keyed / "d.jsonl", "d", 6)
    for name in ("a", "b"):
        ingested = cli("ingest", data, "--name", name)
        assert ingested.code == 0, ingested.err
    for model, name in (("acme/on-a", "a"), ("acme/on-b", "b")):
        assert cli("lineage", "add", model, "--trained-on", name).code == 0
    return registry_keyed


def _bundle(folder: Path, cli: Runner, subject: str) -> dict[str, Any]:
    """Build and verify a bundle; its lineage.yaml, PROV document and datasets/*.json."""
    path = folder / (subject.replace("/", "_") + ".zip")
    made = cli("evidence", "build", subject, "-o", path)
    assert made.code == 0, made.err
    checked = cli("evidence", "verify", path)
    assert checked.code == 0, checked.out + checked.err
    with zipfile.ZipFile(path) as bundle:
        return {
            "lineage": yaml.safe_load(bundle.read("lineage.yaml")),
            "prov": json.loads(bundle.read("lineage.prov.json")),
            "datasets": [
                json.loads(bundle.read(n))
                for n in sorted(bundle.namelist())
                if n.startswith("datasets/") and n.endswith(".json")
            ],
        }


def _generators(lineage: dict[str, Any]) -> dict[str, list[str]]:
    return {d["name"]: [g["model"] for g in d.get("generators", [])] for d in lineage["datasets"]}


def test_lineage_show_names_the_dataset_each_model_was_declared_on(
    two_names: Path, cli: Runner
) -> None:
    for model, name in (("acme/on-a", "a"), ("acme/on-b", "b")):
        shown = cli("lineage", "show", model, "--format", "json")
        assert shown.code == 0, shown.err
        [trained] = json.loads(shown.out)[0]["trained_on"]
        assert trained["dataset"] == name
        assert [g["model"] for g in trained["generators"]] == [GENERATOR]
        text = cli("lineage", "show", model).out
        assert f"trained on {name} sha256:" in text


def test_a_model_bundle_names_the_dataset_it_was_trained_on(two_names: Path, cli: Runner) -> None:
    bundle = _bundle(two_names, cli, "acme/on-a")
    assert bundle["lineage"]["models"] == [{"name": "acme/on-a", "trained_on": ["a"]}]
    assert _generators(bundle["lineage"]) == {"a": [GENERATOR]}
    assert [d["name"] for d in bundle["datasets"]] == ["a"]
    labels = [e["prov:label"] for e in bundle["prov"]["entity"].values() if "pv:digest" in e]
    assert labels == ["a"]


def test_a_dataset_bundle_is_about_the_name_asked_for(two_names: Path, cli: Runner) -> None:
    bundle = _bundle(two_names, cli, "b")
    assert _generators(bundle["lineage"]) == {"b": [GENERATOR]}
    assert [d["name"] for d in bundle["datasets"]] == ["b"]


def test_a_bundle_covering_both_names_lists_both_with_their_generators(
    two_names: Path, cli: Runner
) -> None:
    assert cli("lineage", "add", "acme/on-both", "--trained-on", "a", "--trained-on", "b").code == 0
    bundle = _bundle(two_names, cli, "acme/on-both")
    assert bundle["lineage"]["models"] == [{"name": "acme/on-both", "trained_on": ["a", "b"]}]
    assert _generators(bundle["lineage"]) == {"a": [GENERATOR], "b": [GENERATOR]}
    assert [d["name"] for d in bundle["datasets"]] == ["a", "b"]
    assert len({d["dataset_digest"] for d in bundle["datasets"]}) == 1
    [entity] = [e for e in bundle["prov"]["entity"].values() if "pv:digest" in e]
    assert (entity["prov:label"], entity["pv:names"]) == ("a", ["a", "b"])
    members = list(bundle["prov"].get("hadMember", {}).values())
    assert len(members) == 1  # the record classes of the data once, not once per name


def test_trace_lists_each_name_with_the_models_declared_on_it(two_names: Path, cli: Runner) -> None:
    traced = cli("trace", "d-1", "--format", "json")
    assert traced.code == 0, traced.err
    holders = [(d["dataset"], d["trained_models"]) for d in json.loads(traced.out)["datasets"]]
    assert holders == [("a", ["acme/on-a"]), ("b", ["acme/on-b"])]


def test_a_records_query_names_the_dataset_asked_for_else_every_name(
    two_names: Path, cli: Runner
) -> None:
    asked = cli("query", "--what", "records", "--dataset", "b", "--format", "json")
    assert asked.code == 0, asked.err
    assert {r["dataset"] for r in json.loads(asked.out)["rows"]} == {"b"}
    every = cli("query", "--what", "records", "--provider", "contoso", "--format", "json")
    assert {r["dataset"] for r in json.loads(every.out)["rows"]} == {"a, b"}
