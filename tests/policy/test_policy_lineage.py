"""The lineage graph: restrictions through derivatives, base weights, gaps, cycles and limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from provenance.errors import ConfigError
from provenance.limits import Limits
from provenance.policy.classes import RecordClass, group_records
from provenance.policy.engine import evaluate
from provenance.policy.lineage import LineageGraph
from provenance.policy.loader import load_lineage
from provenance.policy.model import LineageDeclaration
from provenance.policy.report import UNKNOWN_SOURCE, PolicyReport
from tests.bounds import GiB, run_bounded
from tests.policy.builders import ASSETS, intent, library, manifest, part

FABRIKAM = "fabrikam/open-model-licence@2024-04-01"
THREE_HOPS = load_lineage(ASSETS / "lineage" / "three-hops.yaml")


def judge_model(model: str, lineage: LineageDeclaration, **changes: Any) -> PolicyReport:
    m = manifest("r1", part("acme", model))
    return evaluate(group_records([m]), library(), intent(**changes), lineage)


def fabrikam_rules(report: PolicyReport) -> dict[str, tuple[str, int]]:
    decision = report.decision(FABRIKAM)
    assert decision is not None
    return {f.rule or "": (f.outcome, f.hops) for f in decision.findings}


def test_restriction_that_passes_reaches_two_and_three_hops() -> None:
    direct = evaluate(
        group_records([manifest("r1", part("fabrikam", "fabrikam-7b"))]),
        library(),
        intent(distribution="open-weights"),
    )
    assert fabrikam_rules(direct) == {
        "derivatives-not-open-weights": ("deny", 1),
        "research-only-outputs": ("deny", 1),
        "derivative-use-restrictions": ("allow", 1),
    }
    for model, hops in (("acme/m1", 2), ("acme/m2", 3)):
        report = judge_model(model, THREE_HOPS, distribution="open-weights")
        # The non-passing research-only clause stopped at hop 1.
        assert fabrikam_rules(report) == {
            "derivatives-not-open-weights": ("deny", hops),
            "derivative-use-restrictions": ("allow", hops),
        }
        assert report.outcome == "deny"


def test_path_shows_every_hop() -> None:
    report = judge_model("acme/m2", THREE_HOPS, distribution="open-weights")
    denial = report.decision(FABRIKAM).findings[0]  # type: ignore[union-attr]
    assert denial.path == (
        "record ← model acme/m2 ← dataset d2 ← model acme/m1 ← dataset d1 ← model fabrikam-7b"
        " ← fabrikam/open-model-licence@2024-04-01 §3.2"
    )


def test_non_passing_restriction_stops_at_the_first_hop() -> None:
    report = judge_model("acme/m1", THREE_HOPS, distribution="api")
    assert report.outcome == "allow"
    assert {o.kind for o in report.obligations} == {"use-restrictions", "notice-file"}


def test_contract_never_reaches_a_derivative() -> None:
    lineage = LineageDeclaration.from_dict(
        {
            "schema": "provenance/lineage/v1",
            "models": [
                {"name": "acme/student", "trained_on": ["teacher-data"], "activity": "pretrain"}
            ],
            "datasets": [
                {
                    "name": "teacher-data",
                    "generators": [
                        {
                            "provider": "contoso",
                            "model": "contoso-large-2",
                            "service": "api",
                            "generated_at": "2024-10-01",
                            "organization": "acme",
                        }
                    ],
                }
            ],
        }
    )
    report = judge_model("acme/student", lineage, competes_with=("contoso",))
    assert report.decisions == ()
    assert report.outcome == "allow"


def test_base_weights_licence_governs_a_fine_tune() -> None:
    lineage = LineageDeclaration.from_dict(
        {
            "schema": "provenance/lineage/v1",
            "models": [{"name": "acme/helper", "base_model": "northwind/nw-8b", "trained_on": []}],
        }
    )
    report = judge_model("acme/helper", lineage, distribution="open-weights")
    decision = report.decision("northwind/community-licence@2024-07-23")
    assert decision is not None and decision.outcome == "deny"
    assert decision.findings[0].path == (
        "record ← model acme/helper ← base model northwind/nw-8b"
        " ← northwind/community-licence@2024-07-23 §1.b.i"
    )


def test_undeclared_training_data_is_review() -> None:
    lineage = LineageDeclaration.from_dict(
        {"schema": "provenance/lineage/v1", "models": [{"name": "acme/mystery"}]}
    )
    report = judge_model("acme/mystery", lineage)
    assert report.outcome == "review"
    assert sorted(f.rule or "" for f in report.findings) == [
        "undeclared-base",
        "undeclared-training",
    ]
    # An empty list declares nothing: a model trained on people's writing says so.
    empty = LineageDeclaration.from_dict(
        {"schema": "provenance/lineage/v1", "models": [{"name": "acme/mystery", "trained_on": []}]}
    )
    assert judge_model("acme/mystery", empty).outcome == "review"
    no_base = LineageDeclaration.from_dict(
        {
            "schema": "provenance/lineage/v1",
            "models": [{"name": "acme/mystery", "trained_on": ["essays"], "activity": "fine-tune"}],
            "datasets": [{"name": "essays", "human_written": True}],
        }
    )
    assert [f.rule for f in judge_model("acme/mystery", no_base).findings] == ["undeclared-base"]
    human = LineageDeclaration.from_dict(
        {
            "schema": "provenance/lineage/v1",
            "models": [{"name": "acme/mystery", "trained_on": ["essays"], "activity": "pretrain"}],
            "datasets": [{"name": "essays", "human_written": True}],
        }
    )
    assert judge_model("acme/mystery", human).decisions == ()


def test_dataset_of_unknown_origin_is_review() -> None:
    lineage = LineageDeclaration.from_dict(
        {
            "schema": "provenance/lineage/v1",
            "models": [{"name": "acme/m", "trained_on": ["d"], "activity": "pretrain"}],
            "datasets": [{"name": "d", "files": ["d.jsonl"]}],
        }
    )
    report = judge_model("acme/m", lineage)
    finding = report.decision(UNKNOWN_SOURCE).findings[0]  # type: ignore[union-attr]
    assert (finding.rule, finding.hops) == ("undeclared-dataset", 2)


def test_unsigned_records_in_dataset_files_are_review() -> None:
    lineage = LineageDeclaration.from_dict(
        {
            "schema": "provenance/lineage/v1",
            "models": [{"name": "acme/m", "trained_on": ["d"], "activity": "pretrain"}],
            "datasets": [{"name": "d", "files": ["d.jsonl"]}],
        }
    )
    m = manifest("r1", part("acme", "acme/m"))
    report = evaluate(
        group_records([m]),
        library(),
        intent(),
        lineage,
        dataset_classes={"d": [RecordClass.unattributed(4, ["u1"])]},
    )
    finding = report.decision(UNKNOWN_SOURCE).findings[0]  # type: ignore[union-attr]
    assert finding.rule == "unsigned-records"
    assert finding.path == "record ← model acme/m ← dataset d"


def test_dataset_files_say_who_wrote_them() -> None:
    lineage = LineageDeclaration.from_dict(
        {
            "schema": "provenance/lineage/v1",
            "models": [{"name": "acme/m", "trained_on": ["d"], "activity": "pretrain"}],
            "datasets": [{"name": "d", "files": ["d.jsonl"]}],
        }
    )
    read = group_records(
        [manifest("d-1", part("fabrikam", "fabrikam-7b", generated_at="2024-08-01"))]
    )
    m = manifest("r1", part("acme", "acme/m"))
    report = evaluate(
        group_records([m]),
        library(),
        intent(distribution="open-weights"),
        lineage,
        dataset_classes={"d": read},
    )
    assert fabrikam_rules(report)["derivatives-not-open-weights"] == ("deny", 2)
    with pytest.raises(ConfigError, match="does not declare"):
        evaluate((), library(), intent(), lineage, dataset_classes={"nope": read})


def test_cycle_is_an_error_showing_the_cycle() -> None:
    lineage = load_lineage(ASSETS / "lineage" / "cycle.yaml")
    with pytest.raises(ConfigError) as caught:
        LineageGraph.build((), library().catalog, lineage)
    assert caught.value.message == (
        "the lineage has a cycle of 2 steps: model acme/loop → dataset loop-data → model acme/loop"
    )
    assert caught.value.location() == f"{ASSETS / 'lineage' / 'cycle.yaml'}:3"


def test_missing_reference_names_file_and_line() -> None:
    lineage = load_lineage(ASSETS / "lineage" / "missing-ref.yaml")
    with pytest.raises(ConfigError) as caught:
        LineageGraph.build((), library().catalog, lineage)
    assert caught.value.location() == f"{ASSETS / 'lineage' / 'missing-ref.yaml'}:5"
    assert "'d9'" in caught.value.message
    unknown_base = LineageDeclaration.from_dict(
        {
            "schema": "provenance/lineage/v1",
            "models": [{"name": "m", "base_model": "nobody/x"}],
        }
    )
    with pytest.raises(ConfigError, match="base model 'nobody/x'"):
        LineageGraph.build((), library().catalog, unknown_base)


def chain(length: int) -> LineageDeclaration:
    models = [
        {"name": f"m{i}", "trained_on": [f"d{i}"], "activity": "pretrain"}
        for i in range(1, length + 1)
    ]
    datasets = [{"name": "d1", "generators": [{"provider": "fabrikam", "model": "fabrikam-7b"}]}]
    datasets += [
        {"name": f"d{i}", "generators": [{"provider": "acme", "model": f"m{i - 1}"}]}
        for i in range(2, length + 1)
    ]
    return LineageDeclaration.from_dict(
        {"schema": "provenance/lineage/v1", "models": models, "datasets": datasets}
    )


def test_depth_and_size_limits() -> None:
    catalog = library().catalog
    LineageGraph.build((), catalog, chain(4), limits=Limits(max_graph_depth=8))
    with pytest.raises(ConfigError) as caught:
        LineageGraph.build((), catalog, chain(5), limits=Limits(max_graph_depth=8))
    assert "more than the limit of 8" in caught.value.message
    assert "model fabrikam-7b → dataset d1 → model m1" in caught.value.message
    with pytest.raises(ConfigError, match="more than 5 nodes"):
        LineageGraph.build((), catalog, chain(5), limits=Limits(max_graph_nodes=5))


def test_many_hops_within_the_limit() -> None:
    report = judge_model("m12", chain(12), distribution="open-weights")
    assert fabrikam_rules(report)["derivatives-not-open-weights"] == ("deny", 13)


def test_a_very_long_chain_is_refused_quickly_with_both_ends_shown(tmp_path: Path) -> None:
    """10,000 hops of model → dataset → model: the audit stops with the limit, in linear time
    (a CPU-time limit the old quadratic walk exceeded), and prints both ends and the count."""
    hops = 10_000
    declaration = {
        "schema": "provenance/lineage/v1",
        "models": [
            {"name": f"m{i}", "trained_on": [f"d{i}"], "activity": "pretrain"}
            for i in range(1, hops + 1)
        ],
        "datasets": [{"name": "d1", "generators": [{"provider": "openai", "model": "gpt-4o"}]}]
        + [
            {"name": f"d{i}", "generators": [{"provider": "acme", "model": f"m{i - 1}"}]}
            for i in range(2, hops + 1)
        ],
    }
    (tmp_path / "lineage.yaml").write_text(yaml.safe_dump(declaration))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.jsonl").write_text('{"id": "a", "text": "hi"}\n')
    assert run_bounded(["init"], cwd=tmp_path).code == 0
    intent = ASSETS.parents[2] / "examples" / "intents" / "internal-classifier.yaml"
    args = ["audit", "data", "--intent", str(intent), "--lineage", "lineage.yaml"]
    result = run_bounded(args, cwd=tmp_path, memory=2 * GiB, cpu_seconds=60)
    assert result.killed_by is None
    assert result.code == 2, result.err
    assert "the lineage is 20000 steps deep, more than the limit of 64" in result.err
    assert "model gpt-4o → dataset d1 → model m1 → … 19,995 more … → " in result.err
    assert result.err.rstrip().endswith("dataset d10000 → model m10000")
    assert len(result.err) < 400
    assert "Traceback" not in result.err
