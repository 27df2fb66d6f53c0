"""Reading one mapping of a policy file: field names, types, and errors naming file, line and field.

The policy files (terms documents, catalog, intent, lineage, waivers, policy tests) are read by
:mod:`provenance.policy.loader` into :class:`Located` mappings, which remember the line of every key.
The model classes read those mappings through :class:`Fields`, so that every error says where it is:
``intent.yaml:4: unknown field 'distributon' (hint: did you mean 'distribution'?)``. Plain dicts work
too (from JSON or tests); errors then name the field without a line.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from provenance.bounded import Located, LocatedList
from provenance.errors import ConfigError, PolicyError, shown

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Where:
    """Where a value sits: the file, the line and the dotted field path (``clauses[2].when``)."""

    source: str | None = None
    line: int | None = None
    path: str = ""

    def field(self, name: str, line: int | None = None) -> Where:
        path = f"{self.path}.{name}" if self.path else name
        return Where(self.source, line if line is not None else self.line, path)

    def item(self, index: int, line: int | None = None) -> Where:
        return Where(self.source, line if line is not None else self.line, f"{self.path}[{index}]")

    def error(self, message: str, hint: str | None = None) -> PolicyError:
        """An error in a policy file at this place."""
        return PolicyError(message, source=self.source, line=self.line, hint=hint)

    def config_error(self, message: str, hint: str | None = None) -> ConfigError:
        """An error in a project file (intent, lineage, waivers) at this place."""
        return ConfigError(message, source=self.source, line=self.line, hint=hint)

    def describe(self) -> str:
        return f"'{self.path}'" if self.path else "the document"


def closest(word: str, choices: Collection[str], fallback: str | None = None) -> str | None:
    """A hint naming the closest known choice; else the choices when they are few, else
    ``fallback``."""
    if not choices:
        return fallback
    if len(word) > 2 * max(len(c) for c in choices):
        # Far longer than every choice: no close match, and difflib's cost grows with the length.
        return fallback if len(choices) > 12 else "expected one of: " + ", ".join(sorted(choices))
    match = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    if match:
        return f"did you mean '{match[0]}'?"
    if len(choices) > 12:
        return fallback
    return "expected one of: " + ", ".join(sorted(choices))


def kind_name(value: object) -> str:
    """A person's name for the YAML type of ``value``, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return f"the text '{value}'" if len(value) <= 40 else "a long text"
    if isinstance(value, datetime | date):
        return "a date"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def to_day(value: object) -> date | None:
    """A calendar day (UTC) from a YAML date, an aware timestamp, or ``YYYY-MM-DD`` text."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).date() if value.tzinfo is not None else value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        if _ISO_DAY.fullmatch(text):
            try:
                return date.fromisoformat(text)
            except ValueError:
                return None
        try:
            stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return stamp.astimezone(UTC).date() if stamp.tzinfo is not None else None
    return None


def expect_mapping(data: object, where: Where) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise where.error(f"{where.describe()} must be a mapping, not {kind_name(data)}")
    return data


class Fields:
    """Typed access to the fields of one mapping; unknown fields are rejected up front."""

    def __init__(self, data: object, where: Where, known: Collection[str]) -> None:
        self.data = expect_mapping(data, where)
        if isinstance(data, Located) and data.line is not None:
            where = Where(where.source, data.line, where.path)
        self.where = where
        for key in self.data:
            if not isinstance(key, str):
                raise self.at(str(key)).error(f"field names must be text, not {kind_name(key)}")
            if key not in known:
                inside = f" in {where.describe()}" if where.path else ""
                raise self.at(key).error(f"unknown field '{key}'{inside}", closest(key, known))

    def at(self, key: str) -> Where:
        """The location of ``key`` (its own line when known, else the mapping's)."""
        line = self.data.key_lines.get(key) if isinstance(self.data, Located) else None
        if line is None and isinstance(self.data, Located):
            line = self.data.line
        return self.where.field(key, line)

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def raw(self, key: str) -> Any:
        return self.data.get(key)

    def _missing(self, key: str) -> PolicyError:
        inside = f" in {self.where.describe()}" if self.where.path else ""
        return self.where.error(f"missing field '{key}'{inside}")

    def _wrong(self, key: str, expected: str) -> PolicyError:
        value = self.data.get(key)
        return self.at(key).error(
            f"field '{self.at(key).path}' must be {expected}, not {kind_name(value)}"
        )

    def text(self, key: str) -> str:
        value = self.opt_text(key)
        if value is None:
            raise self._missing(key)
        return value

    def opt_text(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float | date):
            raise self._wrong(key, "text")
        if not isinstance(value, str):
            # An unquoted version such as 2024-07-23 or 1.1 is read by YAML as a date or number.
            return value.isoformat() if isinstance(value, date) else str(value)
        if not value.strip():
            raise self.at(key).error(f"field '{self.at(key).path}' is empty")
        return value

    def choice(self, key: str, choices: Collection[str], default: str | None = None) -> str:
        value = self.opt_choice(key, choices)
        if value is None:
            if default is None:
                raise self._missing(key)
            return default
        return value

    def opt_choice(self, key: str, choices: Collection[str]) -> str | None:
        value = self.opt_text(key)
        if value is not None and value not in choices:
            raise self.at(key).error(
                f"field '{self.at(key).path}' is '{shown(value)}', not one of the known values",
                closest(value, choices),
            )
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.opt_flag(key)
        return default if value is None else value

    def opt_flag(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise self._wrong(key, "true or false")
        return value

    def opt_int(self, key: str) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._wrong(key, "a whole number")
        return value

    def opt_number(self, key: str) -> float | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._wrong(key, "a number")
        return float(value)

    def day(self, key: str) -> date:
        value = self.opt_day(key)
        if value is None:
            raise self._missing(key)
        return value

    def opt_day(self, key: str) -> date | None:
        value = self.data.get(key)
        if value is None:
            return None
        day = to_day(value)
        if day is None:
            raise self._wrong(key, "a date (YYYY-MM-DD)")
        return day

    def texts(self, key: str) -> tuple[str, ...]:
        return self.opt_texts(key) or ()

    def opt_texts(self, key: str) -> tuple[str, ...] | None:
        """A list of texts; ``None`` when the field is absent (``[]`` is kept as an empty tuple)."""
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, list | tuple):
            raise self._wrong(key, "a list")
        out: list[str] = []
        for index, (item, where) in enumerate(self._items(key, value)):
            if isinstance(item, bool) or not isinstance(item, str | int | float) or item == "":
                raise where.error(
                    f"item {index} of '{self.at(key).path}' must be text, not {kind_name(item)}"
                )
            out.append(str(item))
        return tuple(out)

    def mapping(self, key: str) -> Mapping[str, Any]:
        value = self.data.get(key)
        if value is None:
            raise self._missing(key)
        return expect_mapping(value, self.at(key))

    def items(self, key: str) -> list[tuple[Any, Where]]:
        """The items of a list field, each with its location; ``[]`` when absent."""
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list | tuple):
            raise self._wrong(key, "a list")
        return list(self._items(key, value))

    def _items(self, key: str, value: list[Any] | tuple[Any, ...]) -> Iterator[tuple[Any, Where]]:
        base = self.at(key)
        lines = value.item_lines if isinstance(value, LocatedList) else []
        for index, item in enumerate(value):
            line = lines[index] if index < len(lines) else None
            if isinstance(item, Located) and item.line is not None:
                line = item.line
            yield item, base.item(index, line)
