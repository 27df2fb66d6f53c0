"""Real audit reports for the report-format tests, built once per session (see ``helpers``)."""

from __future__ import annotations

import pytest

from tests.report.helpers import Scenario, Scenarios, build_scenarios


@pytest.fixture(scope="session")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> Scenarios:
    return build_scenarios(tmp_path_factory.mktemp("audit-reports"))


@pytest.fixture(params=["rich", "waived", "passing", "review"])
def scenario(request: pytest.FixtureRequest, scenarios: Scenarios) -> Scenario:
    """Each scenario in turn."""
    chosen: Scenario = getattr(scenarios, request.param)
    return chosen
