"""Every format is registered and renders any report, even one with nothing in it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from provenance.auditor import GraphView
from provenance.report import RENDERERS
from tests.report.helpers import Scenario, Scenarios

FORMATS = {
    "text": ".txt",
    "json": ".json",
    "markdown": ".md",
    "sarif": ".sarif",
    "junit": ".xml",
    "html": ".html",
}


def test_every_format_is_registered_with_its_suffix() -> None:
    assert {name: r.suffix for name, r in RENDERERS.items()} == FORMATS
    assert all(name == r.name for name, r in RENDERERS.items())


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_format_renders_every_scenario(name: str, scenario: Scenario) -> None:
    text = RENDERERS[name].render(scenario.report)
    assert text.endswith("\n")
    assert len(text) > 100


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_format_renders_an_empty_report(name: str, scenarios: Scenarios) -> None:
    report = scenarios.passing.report
    policy = replace(report.policy, decisions=(), findings=(), obligations=(), waivers=())
    empty = replace(report, policy=policy, extra_findings=(), graph=GraphView((), ()))
    text = RENDERERS[name].render(empty)
    assert text.endswith("\n")
    assert "pass" in text.lower()


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_rendering_is_deterministic(name: str, scenarios: Scenarios) -> None:
    report = scenarios.rich.report
    assert RENDERERS[name].render(report) == RENDERERS[name].render(report)
