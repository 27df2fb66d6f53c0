"""Declarative clause conditions and their three-valued evaluation.

A condition (``docs/policy-format.md``, "Conditions") is data, never code: comparisons of named facts
combined with ``all``, ``any`` and ``not``. Evaluation is Kleene's three-valued logic: a fact that is
absent makes its comparison *unknown*, and the evaluation reports which facts were missing so that a
review can name the fact that would settle it. Facts are typed; a condition that compares a fact with a
value of the wrong type, or uses an operator the fact does not support, is rejected when it is read.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import IntEnum
from typing import Any

from provenance.bounded import Located
from provenance.errors import shown
from provenance.manifest import ROLES
from provenance.policy.fields import Where, closest, expect_mapping, kind_name, to_day

ACTIVITIES = frozenset({"pretrain", "fine-tune", "distill", "evaluate", "rlhf"})
DISTRIBUTIONS = frozenset({"internal", "api", "open-weights"})
TARGET_KINDS = frozenset(
    {
        "general-llm",
        "chat-assistant",
        "classifier",
        "embedding",
        "reward-model",
        "image-generator",
        "other",
    }
)
CHANNELS = frozenset({"api", "app", "self-hosted", "hosted"})

Scalar = str | bool | int | date
FactValue = Scalar | tuple[str | int, ...]
Facts = Mapping[str, FactValue]
"""Fact path → value; an absent key is an unknown fact."""


@dataclass(frozen=True)
class FactSpec:
    """The type of one fact, and the values it may take when it is an enumeration."""

    kind: str
    """``text``, ``enum``, ``bool``, ``int``, ``date`` or ``list`` (a list of texts)."""
    choices: frozenset[str] | None = None
    meaning: str = ""


FACTS: Mapping[str, FactSpec] = {
    "intent.activity": FactSpec("enum", ACTIVITIES, "activity of the planned run"),
    "intent.commercial": FactSpec("bool", None, "whether the trained model is used commercially"),
    "intent.distribution": FactSpec("enum", DISTRIBUTIONS, "how the trained model is distributed"),
    "intent.competes_with": FactSpec("list", None, "providers the trained model competes with"),
    "intent.monthly_active_users": FactSpec("int", None, "expected monthly active users"),
    "intent.date": FactSpec("date", None, "date of the planned run"),
    "intent.target.name": FactSpec("text", None, "name of the trained model"),
    "intent.target.organization": FactSpec("text", None, "organisation training the model"),
    "intent.target.kind": FactSpec("enum", TARGET_KINDS, "kind of the trained model"),
    "intent.target.base_model": FactSpec("text", None, "base model of the trained model"),
    "class.provider": FactSpec("text", None, "provider of the generating model"),
    "class.model": FactSpec("text", None, "generating model"),
    "class.service": FactSpec("text", None, "service the generating model ran on"),
    "class.channel": FactSpec("enum", CHANNELS, "api, app, self-hosted or hosted"),
    "class.role": FactSpec("enum", ROLES, "role of the generated part"),
    "class.pointer": FactSpec("text", None, "JSON Pointer of the generated part"),
    "class.organization": FactSpec("text", None, "organisation that ran the generation"),
    "class.generated_at": FactSpec("date", None, "day the part was generated"),
    "path.hops": FactSpec("int", None, "models between the terms and the judged data"),
    "path.inherited": FactSpec("bool", None, "whether the terms came through a derivative model"),
}

_OPERATORS: Mapping[str, frozenset[str]] = {
    "text": frozenset({"eq", "ne", "in", "not_in", "matches", "exists"}),
    "enum": frozenset({"eq", "ne", "in", "not_in", "exists"}),
    "bool": frozenset({"eq", "ne", "exists"}),
    "int": frozenset({"eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists"}),
    "date": frozenset({"eq", "ne", "gt", "gte", "lt", "lte", "exists"}),
    "list": frozenset({"contains", "contains_any", "exists"}),
}
ALL_OPERATORS = frozenset().union(*_OPERATORS.values())
_LIST_VALUED = frozenset({"in", "not_in", "contains_any"})
_COMBINATORS = frozenset({"all", "any", "not"})


class Truth(IntEnum):
    """Kleene truth values, ordered so that ``and`` is ``min`` and ``or`` is ``max``."""

    FALSE = 0
    UNKNOWN = 1
    TRUE = 2


@dataclass(frozen=True)
class Evaluation:
    """The truth of a condition, and the facts whose absence made it unknown."""

    truth: Truth
    missing: frozenset[str] = frozenset()


class Condition:
    """A declarative condition over facts."""

    def evaluate(self, facts: Facts) -> Evaluation:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def describe(self) -> str:
        """The condition as a line of text for people."""
        raise NotImplementedError

    def fact_paths(self) -> frozenset[str]:
        """Every fact the condition reads."""
        raise NotImplementedError


def _norm(value: object) -> object:
    return value.casefold() if isinstance(value, str) else value


def _show(value: object) -> str:
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class Compare(Condition):
    """``fact op value``: one comparison of one fact."""

    fact: str
    op: str
    value: FactValue

    def evaluate(self, facts: Facts) -> Evaluation:
        present = self.fact in facts
        if self.op == "exists":
            return Evaluation(Truth.TRUE if present == self.value else Truth.FALSE)
        if not present:
            return Evaluation(Truth.UNKNOWN, frozenset({self.fact}))
        return Evaluation(Truth.TRUE if self._holds(facts[self.fact]) else Truth.FALSE)

    def _holds(self, actual: FactValue) -> bool:
        want = self.value
        if self.op == "eq":
            return _norm(actual) == _norm(want)
        if self.op == "ne":
            return _norm(actual) != _norm(want)
        if self.op in ("in", "not_in"):
            inside = _norm(actual) in {_norm(v) for v in _as_tuple(want)}
            return inside if self.op == "in" else not inside
        if self.op == "matches":
            return fnmatch.fnmatchcase(str(actual).casefold(), str(want).casefold())
        if self.op == "contains":
            return _norm(want) in {_norm(v) for v in _as_tuple(actual)}
        if self.op == "contains_any":
            have = {_norm(v) for v in _as_tuple(actual)}
            return any(_norm(v) in have for v in _as_tuple(want))
        return _order(self.op, actual, want)

    def to_dict(self) -> dict[str, Any]:
        value: Any = self.value
        if isinstance(value, tuple):
            value = [_show(v) if isinstance(v, date) else v for v in value]
        elif isinstance(value, date):
            value = value.isoformat()
        return {self.fact: {self.op: value}}

    def describe(self) -> str:
        words = {
            "eq": "is",
            "ne": "is not",
            "in": "in",
            "not_in": "not in",
            "contains": "contains",
            "contains_any": "contains any of",
            "gt": ">",
            "gte": "≥",
            "lt": "<",
            "lte": "≤",
            "matches": "matches",
        }
        if self.op == "exists":
            return f"{self.fact} is {'known' if self.value else 'unknown'}"
        return f"{self.fact} {words[self.op]} {_show(self.value)}"

    def fact_paths(self) -> frozenset[str]:
        return frozenset({self.fact})


def _as_tuple(value: FactValue) -> tuple[object, ...]:
    return tuple(value) if isinstance(value, tuple | list) else (value,)


def _order(op: str, actual: object, want: object) -> bool:
    if isinstance(actual, bool) or isinstance(want, bool):
        return False
    both_int = isinstance(actual, int) and isinstance(want, int)
    both_day = isinstance(actual, date) and isinstance(want, date)
    if not (both_int or both_day):
        return False
    a: Any = actual
    w: Any = want
    if op == "gt":
        return bool(a > w)
    if op == "gte":
        return bool(a >= w)
    if op == "lt":
        return bool(a < w)
    return bool(a <= w)


@dataclass(frozen=True)
class AllOf(Condition):
    """True when every part is true; false when any is false; otherwise unknown."""

    parts: tuple[Condition, ...]

    def evaluate(self, facts: Facts) -> Evaluation:
        results = [part.evaluate(facts) for part in self.parts]
        truth = min((r.truth for r in results), default=Truth.TRUE)
        return _combine(truth, results)

    def to_dict(self) -> dict[str, Any]:
        return {"all": [part.to_dict() for part in self.parts]}

    def describe(self) -> str:
        if not self.parts:
            return "always"
        return " and ".join(_wrap(part) for part in self.parts)

    def fact_paths(self) -> frozenset[str]:
        return frozenset().union(*(part.fact_paths() for part in self.parts))


@dataclass(frozen=True)
class AnyOf(Condition):
    """True when any part is true; false when every part is false; otherwise unknown."""

    parts: tuple[Condition, ...]

    def evaluate(self, facts: Facts) -> Evaluation:
        results = [part.evaluate(facts) for part in self.parts]
        truth = max((r.truth for r in results), default=Truth.FALSE)
        return _combine(truth, results)

    def to_dict(self) -> dict[str, Any]:
        return {"any": [part.to_dict() for part in self.parts]}

    def describe(self) -> str:
        if not self.parts:
            return "never"
        return " or ".join(_wrap(part) for part in self.parts)

    def fact_paths(self) -> frozenset[str]:
        return frozenset().union(*(part.fact_paths() for part in self.parts))


@dataclass(frozen=True)
class Not(Condition):
    """Negation; unknown stays unknown."""

    part: Condition

    def evaluate(self, facts: Facts) -> Evaluation:
        inner = self.part.evaluate(facts)
        return Evaluation(Truth(2 - inner.truth), inner.missing)

    def to_dict(self) -> dict[str, Any]:
        return {"not": self.part.to_dict()}

    def describe(self) -> str:
        return f"not {_wrap(self.part)}"

    def fact_paths(self) -> frozenset[str]:
        return self.part.fact_paths()


ALWAYS: Condition = AllOf(())
"""The condition of a clause without ``when``."""


def _combine(truth: Truth, results: list[Evaluation]) -> Evaluation:
    if truth is not Truth.UNKNOWN:
        return Evaluation(truth)
    missing = frozenset().union(*(r.missing for r in results if r.truth is Truth.UNKNOWN))
    return Evaluation(truth, missing)


def _wrap(part: Condition) -> str:
    text = part.describe()
    return f"({text})" if isinstance(part, AllOf | AnyOf) and len(part.parts) > 1 else text


def parse_condition(data: object, where: Where) -> Condition:
    """Read a condition mapping (see ``docs/policy-format.md``); errors name file, line and field."""
    mapping = expect_mapping(data, where)
    parts: list[Condition] = []
    for key, value in mapping.items():
        line = mapping.key_lines.get(key) if isinstance(mapping, Located) else None
        at = where.field(str(key), line)
        if key in ("all", "any"):
            if not isinstance(value, list | tuple):
                raise at.error(f"'{key}' takes a list of conditions, not {kind_name(value)}")
            inner = tuple(parse_condition(item, at.item(i)) for i, item in enumerate(value))
            parts.append(AllOf(inner) if key == "all" else AnyOf(inner))
        elif key == "not":
            parts.append(Not(parse_condition(value, at)))
        elif isinstance(key, str) and key in FACTS:
            parts.extend(_parse_comparisons(key, value, at))
        else:
            raise at.error(
                f"unknown fact '{key}' in condition", closest(str(key), set(FACTS) | _COMBINATORS)
            )
    return parts[0] if len(parts) == 1 else AllOf(tuple(parts))


def _parse_comparisons(fact: str, data: object, where: Where) -> list[Condition]:
    spec = FACTS[fact]
    allowed = _OPERATORS[spec.kind]
    if not isinstance(data, Mapping) or not data:
        raise where.error(
            f"fact '{fact}' needs an operator mapping, not {kind_name(data)}",
            f"write e.g. {{{sorted(allowed)[0]}: ...}}; operators for this fact: "
            + ", ".join(sorted(allowed)),
        )
    out: list[Condition] = []
    for op, value in data.items():
        if op not in allowed:
            hint = closest(str(op), allowed)
            if op in ALL_OPERATORS:
                hint = f"{spec.kind} facts take: " + ", ".join(sorted(allowed))
            raise where.error(f"operator '{op}' does not apply to fact '{fact}'", hint)
        out.append(Compare(fact, op, _parse_value(fact, spec, str(op), value, where)))
    return out


def _parse_value(fact: str, spec: FactSpec, op: str, value: object, where: Where) -> FactValue:
    if op == "exists":
        if not isinstance(value, bool):
            raise where.error(f"'exists' on '{fact}' takes true or false, not {kind_name(value)}")
        return value
    if op in _LIST_VALUED:
        if not isinstance(value, list | tuple) or not value:
            raise where.error(f"'{op}' on '{fact}' takes a non-empty list, not {kind_name(value)}")
        items = [_parse_scalar(fact, spec, op, item, where) for item in value]
        return tuple(item for item in items if isinstance(item, str | int))
    return _parse_scalar(fact, spec, op, value, where)


def _parse_scalar(fact: str, spec: FactSpec, op: str, value: object, where: Where) -> Scalar:
    kind = spec.kind
    if kind in ("text", "enum", "list"):
        if op == "matches" and not isinstance(value, str):
            raise where.error(f"'matches' on '{fact}' takes a glob text, not {kind_name(value)}")
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise where.error(f"'{op}' on '{fact}' compares text, not {kind_name(value)}")
        text = str(value)
        if spec.choices is not None and text not in spec.choices:
            raise where.error(
                f"'{shown(text)}' is not a value of '{fact}'", closest(text, spec.choices)
            )
        return text
    if kind == "bool":
        if not isinstance(value, bool):
            raise where.error(f"'{op}' on '{fact}' takes true or false, not {kind_name(value)}")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise where.error(f"'{op}' on '{fact}' takes a whole number, not {kind_name(value)}")
        return value
    day = to_day(value)
    if day is None:
        raise where.error(f"'{op}' on '{fact}' takes a date (YYYY-MM-DD), not {kind_name(value)}")
    return day
