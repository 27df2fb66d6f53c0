"""JUnit XML: one test case per terms document and clause; deny/review fail, waived skips."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from provenance.report import RENDERERS
from provenance.report.common import rule_groups
from tests.conftest import Runner
from tests.report.helpers import (
    Scenario,
    Scenarios,
    audit_to,
    contoso_shard,
)


def _parse(scenario: Scenario) -> ET.Element:
    return ET.fromstring(RENDERERS["junit"].render(scenario.report).encode("utf-8"))


def _cases(root: ET.Element) -> dict[tuple[str, str], ET.Element]:
    return {
        (case.get("classname", ""), case.get("name", "")): case for case in root.iter("testcase")
    }


def test_every_report_parses_and_counts_add_up(scenario: Scenario) -> None:
    root = _parse(scenario)
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    cases = list(root.iter("testcase"))
    failures = [c for c in cases if c.find("failure") is not None]
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert int(root.get("tests", "-1")) == len(cases)
    assert int(root.get("failures", "-1")) == len(failures)
    assert int(root.get("skipped", "-1")) == len(skipped)
    assert root.get("errors") == "0"
    for suite in suites:
        inner = suite.findall("testcase")
        assert int(suite.get("tests", "-1")) == len(inner)
        assert int(suite.get("failures", "-1")) == sum(c.find("failure") is not None for c in inner)
        assert int(suite.get("skipped", "-1")) == sum(c.find("skipped") is not None for c in inner)
    report = scenario.report
    expected = len(rule_groups(report.findings)) + sum(
        1 for d in report.policy.decisions if not d.findings
    )
    assert len(cases) == expected
    assert (len(failures) > 0) == (report.outcome != "allow")


def test_one_suite_per_terms_document_and_one_case_per_clause(scenarios: Scenarios) -> None:
    root = _parse(scenarios.rich)
    names = [s.get("name") for s in root.findall("testsuite")]
    assert names == [
        *(d.terms for d in scenarios.rich.report.policy.decisions),
        "provenance/model-collapse-risk",
    ]
    cases = _cases(root)
    contoso = cases[("contoso/api-terms@2024-01-01", "no-competing-models §2(c)")]
    failure = contoso.find("failure")
    assert failure is not None
    assert failure.get("type") == "deny"
    assert "compete with Contoso" in (failure.get("message") or "")
    details = failure.text or ""
    assert "https://example.com/contoso/api-terms#2c" in details
    assert "contoso-large-2" in details
    assert "contoso-a.jsonl: 4" in details
    review = cases[("provenance/model-collapse-risk", "max-synthetic-share")]
    failure = review.find("failure")
    assert failure is not None
    assert failure.get("type") == "review"
    allowed = cases[("zephyrus/open-licence@2023-01-01", "outputs-free §7")]
    assert allowed.find("failure") is None
    assert allowed.find("skipped") is None
    suite = root.find("testsuite")
    assert suite is not None
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["decision"] == "deny"
    assert props["verdict"] == "fail"


def test_waived_clause_is_skipped_with_the_reason(scenarios: Scenarios) -> None:
    root = _parse(scenarios.waived)
    assert root.get("tests") == "1"
    assert root.get("skipped") == "1"
    assert root.get("failures") == "0"
    (case,) = root.iter("testcase")
    skipped = case.find("skipped")
    assert skipped is not None
    message = skipped.get("message") or ""
    assert "LR-112" in message
    assert "jane@acme.example" in message


def test_passing_report_has_no_failures(scenarios: Scenarios) -> None:
    root = _parse(scenarios.passing)
    assert root.get("failures") == "0"
    assert int(root.get("tests", "0")) >= 1


def test_control_characters_never_break_the_xml(scenarios: Scenarios) -> None:
    from dataclasses import replace

    report = scenarios.review.report
    finding = report.policy.decisions[0].findings[0]
    odd = replace(finding, reason="bad \x00\x07 bytes & <tags>")
    decision = replace(report.policy.decisions[0], findings=(odd,))
    policy = replace(report.policy, decisions=(decision,), findings=(odd,))
    text = RENDERERS["junit"].render(replace(report, policy=policy))
    failure = ET.fromstring(text.encode("utf-8")).find(".//failure")
    assert failure is not None
    assert failure.get("message") == "review: bad  bytes & <tags>"


def test_cli_writes_junit(project_dir: Path, cli: Runner) -> None:

    contoso_shard(project_dir / "data" / "a.jsonl", prefix="a", n=2)
    result = audit_to(cli, "junit")
    assert result.code == 1
    root = ET.fromstring(result.out.encode("utf-8"))
    assert root.get("failures") == "1"
