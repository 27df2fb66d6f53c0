"""The library: lookups by id and family, and the version in force on a day."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from provenance.errors import PolicyError
from provenance.policy.library import PolicyLibrary
from provenance.policy.loader import POLICIES_ENV, default_policy_dir
from tests.policy.builders import library

FAMILY = "tailspin/model-licence"


@pytest.mark.parametrize(
    ("day", "version"),
    [
        (date(2023, 12, 31), None),
        (date(2024, 1, 1), "2024-01-01"),
        (date(2024, 5, 31), "2024-01-01"),
        (date(2024, 6, 1), "2024-06-01"),
        (date(2030, 1, 1), "2024-06-01"),
    ],
)
def test_version_in_force_at_a_boundary(day: date, version: str | None) -> None:
    doc = library().in_force(FAMILY, day)
    assert (doc.version if doc else None) == version


def test_resolve_exact_family_unknown_and_undated() -> None:
    lib = library()
    exact = lib.resolve("tailspin/model-licence@2024-01-01", date(2030, 1, 1))
    assert [d.id for d in exact.documents] == ["tailspin/model-licence@2024-01-01"]
    assert lib.resolve(FAMILY, date(2024, 6, 1)).documents[0].version == "2024-06-01"
    gap = lib.resolve(FAMILY, date(2023, 1, 1))
    assert (gap.documents, gap.problem) == (
        (),
        "no version of 'tailspin/model-licence' was in force on 2023-01-01",
    )
    assert lib.resolve("nobody/nothing", date(2024, 1, 1)).problem is not None
    undated = lib.resolve(FAMILY, None)
    assert undated.every_version and len(undated.documents) == 2


def test_withdrawn_terms_leave_a_gap() -> None:
    first = library().require("tailspin/model-licence@2024-01-01")
    lib = PolicyLibrary([first])
    assert lib.in_force(FAMILY, date(2024, 5, 31)) is first
    assert lib.in_force(FAMILY, date(2024, 6, 1)) is None


def test_require_gives_latest_version_of_a_family_and_hints() -> None:
    assert library().require(FAMILY).version == "2024-06-01"
    with pytest.raises(PolicyError) as caught:
        library().require("tailspin/model-license")
    assert caught.value.hint == "did you mean 'tailspin/model-licence'?"


def test_inconsistent_versions_are_errors() -> None:
    first, second = library().versions(FAMILY)
    with pytest.raises(PolicyError, match="same day"):
        PolicyLibrary([first, replace(second, id="x/y@2", effective_from=first.effective_from)])
    with pytest.raises(PolicyError, match="is in force until"):
        PolicyLibrary([replace(first, effective_until=date(2024, 7, 1)), second])
    with pytest.raises(PolicyError, match="defined twice"):
        PolicyLibrary([first, first])


def test_default_policy_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(POLICIES_ENV, raising=False)
    assert default_policy_dir() == Path(__file__).resolve().parents[2] / "policies"
    monkeypatch.setenv(POLICIES_ENV, str(tmp_path))
    assert default_policy_dir() == tmp_path
