"""Clause conditions: parsing with located errors, operators, and three-valued evaluation."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provenance.errors import PolicyError
from provenance.policy.conditions import (
    ALWAYS,
    AllOf,
    AnyOf,
    Compare,
    Condition,
    Facts,
    Not,
    Truth,
    parse_condition,
)
from provenance.policy.fields import Where

T, F, U = Truth.TRUE, Truth.FALSE, Truth.UNKNOWN

FACTS: Facts = {
    "intent.activity": "fine-tune",
    "intent.commercial": True,
    "intent.distribution": "open-weights",
    "intent.competes_with": ("openai", "Anthropic"),
    "intent.date": date(2025, 6, 1),
    "intent.target.name": "acme/Llama-acme-8b",
    "class.role": "judgement",
    "class.model": "gpt-4o-2024-08-06",
    "path.hops": 2,
}


def truth(data: dict[str, Any], facts: Facts = FACTS) -> Truth:
    return parse_condition(data, Where()).evaluate(facts).truth


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"intent.activity": {"eq": "fine-tune"}}, T),
        ({"class.model": {"eq": "GPT-4o-2024-08-06"}}, T),
        ({"intent.activity": {"ne": "fine-tune"}}, F),
        ({"intent.distribution": {"in": ["api", "open-weights"]}}, T),
        ({"intent.distribution": {"not_in": ["api", "open-weights"]}}, F),
        ({"intent.competes_with": {"contains": "anthropic"}}, T),
        ({"intent.competes_with": {"contains": "google"}}, F),
        ({"intent.competes_with": {"contains_any": ["google", "openai"]}}, T),
        ({"intent.date": {"gte": "2025-06-01"}}, T),
        ({"intent.date": {"lt": "2025-06-01"}}, F),
        ({"path.hops": {"gt": 1, "lte": 3}}, T),
        ({"path.hops": {"in": [1, 3]}}, F),
        ({"class.model": {"matches": "GPT-4O*"}}, T),
        ({"intent.target.name": {"matches": "*llama*"}}, T),
        ({"intent.commercial": {"eq": False}}, F),
        ({"intent.monthly_active_users": {"exists": False}}, T),
        ({"intent.monthly_active_users": {"exists": True}}, F),
        ({}, T),
        ({"all": []}, T),
        ({"any": []}, F),
    ],
)
def test_operators(data: dict[str, Any], expected: Truth) -> None:
    assert truth(data) is expected


def test_absent_fact_is_unknown_and_named() -> None:
    condition = parse_condition({"intent.monthly_active_users": {"gt": 700_000_000}}, Where())
    result = condition.evaluate(FACTS)
    assert result.truth is U
    assert result.missing == {"intent.monthly_active_users"}


@pytest.mark.parametrize(
    ("combinator", "parts", "expected"),
    [
        ("all", [T, T], T),
        ("all", [T, U], U),
        ("all", [U, F], F),
        ("all", [U, U], U),
        ("any", [F, F], F),
        ("any", [F, U], U),
        ("any", [U, T], T),
        ("any", [U, U], U),
    ],
)
def test_kleene_tables(combinator: str, parts: list[Truth], expected: Truth) -> None:
    facts: dict[str, Any] = {}
    items = []
    for i, value in enumerate(parts):
        fact = ("intent.target.name", "intent.target.kind")[i]
        if value is not U:
            facts[fact] = "chat-assistant" if i else "x"
        wanted = ("x", "chat-assistant")[i] if value is T else "other"
        items.append({fact: {"eq": wanted}})
    result = parse_condition({combinator: items}, Where()).evaluate(facts)
    assert result.truth is expected
    # A decided result needs no missing facts; an unknown one names them.
    assert bool(result.missing) == (expected is U)


def test_not_keeps_unknown() -> None:
    condition = parse_condition({"not": {"intent.competes_with": {"contains": "openai"}}}, Where())
    assert condition.evaluate({}).truth is U
    assert condition.evaluate(FACTS).truth is F


def test_several_keys_mean_all() -> None:
    condition = parse_condition(
        {"class.role": {"eq": "judgement"}, "intent.target.kind": {"eq": "reward-model"}}, Where()
    )
    assert isinstance(condition, AllOf)
    assert condition.evaluate(FACTS).truth is U
    assert condition.evaluate({**FACTS, "intent.target.kind": "reward-model"}).truth is T


@pytest.mark.parametrize(
    ("data", "message", "hint"),
    [
        ({"intent.activty": {"eq": "x"}}, "unknown fact 'intent.activty'", "intent.activity"),
        ({"intent.activity": {"equals": "x"}}, "operator 'equals'", None),
        ({"intent.competes_with": {"eq": "openai"}}, "does not apply", "contains"),
        (
            {"intent.distribution": {"eq": "open_weights"}},
            "'open_weights' is not a value",
            "open-weights",
        ),
        ({"intent.commercial": {"eq": "yes"}}, "true or false", None),
        ({"path.hops": {"gt": "two"}}, "whole number", None),
        ({"intent.date": {"gte": "June"}}, "a date", None),
        ({"intent.activity": "fine-tune"}, "needs an operator mapping", "eq"),
        ({"intent.distribution": {"in": []}}, "non-empty list", None),
        ({"all": {"intent.commercial": {"eq": True}}}, "takes a list", None),
        ({"intent.activity": {"exists": "yes"}}, "true or false", None),
    ],
)
def test_parse_errors_name_the_problem(
    data: dict[str, Any], message: str, hint: str | None
) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_condition(data, Where("terms.yaml", 7, "clauses[0].when"))
    assert message in caught.value.message
    assert caught.value.location() == "terms.yaml:7"
    if hint is not None:
        assert hint in (caught.value.hint or "")


def test_to_dict_round_trips() -> None:
    data = {
        "any": [
            {"intent.competes_with": {"contains": "openai"}},
            {"not": {"intent.date": {"lt": "2025-01-01"}}},
            {"path.hops": {"in": [2, 3]}},
        ]
    }
    condition = parse_condition(data, Where())
    assert parse_condition(condition.to_dict(), Where()) == condition
    assert "intent.competes_with contains openai" in condition.describe()
    assert ALWAYS.describe() == "always"


# -- properties: the three-valued logic behaves as Kleene's ------------------------------------

LEAVES = [
    Compare("intent.commercial", "eq", True),
    Compare("intent.competes_with", "contains", "openai"),
    Compare("path.hops", "gt", 1),
    Compare("class.role", "eq", "judgement"),
]


def conditions() -> st.SearchStrategy[Condition]:
    leaves = st.sampled_from(LEAVES)
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.builds(Not, inner),
            st.lists(inner, max_size=3).map(lambda p: AllOf(tuple(p))),
            st.lists(inner, max_size=3).map(lambda p: AnyOf(tuple(p))),
        ),
        max_leaves=8,
    )


def fact_sets() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "intent.commercial": st.booleans(),
            "intent.competes_with": st.lists(st.sampled_from(["openai", "google"])).map(tuple),
            "path.hops": st.integers(1, 4),
            "class.role": st.sampled_from(["judgement", "response"]),
        },
    )


@given(conditions(), fact_sets())
def test_double_negation(condition: Condition, facts: dict[str, Any]) -> None:
    assert Not(Not(condition)).evaluate(facts) == condition.evaluate(facts)


@given(conditions(), conditions(), fact_sets())
def test_de_morgan(a: Condition, b: Condition, facts: dict[str, Any]) -> None:
    left = Not(AllOf((a, b))).evaluate(facts).truth
    right = AnyOf((Not(a), Not(b))).evaluate(facts).truth
    assert left is right


@given(conditions(), fact_sets(), st.sampled_from(sorted({"intent.commercial", "path.hops"})))
def test_learning_a_fact_never_undoes_a_decided_result(
    condition: Condition, facts: dict[str, Any], fact: str
) -> None:
    """Monotonicity: if a condition is decided with a fact unknown, knowing it changes nothing."""
    unknown = {k: v for k, v in facts.items() if k != fact}
    before = condition.evaluate(unknown).truth
    after = condition.evaluate({**unknown, fact: True if fact == "intent.commercial" else 2}).truth
    if before is not U:
        assert after is before
