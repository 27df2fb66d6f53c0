"""Bounded readers for every YAML file and JSON document the tool reads.

Every YAML file (terms, catalog, intent, lineage, waivers, trust store, ``--parts``, a bundle's
``trust.yaml``) goes through :func:`parse_yaml`; every JSON document that is not a record (a bundle's
seal, index and reports, a checkpoint) through :func:`parse_json_document`. Both take their bounds
from :class:`~provenance.limits.Limits`, so a file made to exhaust memory or the stack is refused with
its name and line instead of a traceback.

YAML is composed with PyYAML's ``SafeLoader`` (the loader behind ``yaml.safe_load``) and its scalars
are built by the same safe constructor, so no tag can run code. The nodes become
:class:`Located` mappings that keep the line of every key, so that readers
can name file, line and field in every error. Refused: files over ``max_yaml_bytes``, nesting deeper
than ``max_yaml_depth``, duplicate keys, merge keys, tags other than the plain ones, and aliases that
expand the document past ten values per byte.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from provenance.errors import ConfigError, PolicyError, shown
from provenance.limits import DEFAULT_LIMITS, Limits

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"

_COMPOSER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when PyYAML was built with it (the same grammar, about ten times faster),
else the pure-Python one; either only composes nodes, which the converter below turns into values."""


class Located(dict[str, Any]):
    """A mapping read from a file that remembers its own line and the line of each key (1-based)."""

    def __init__(self, line: int | None = None) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[str, int] = {}


class LocatedList(list[Any]):
    """A sequence read from a file that remembers its own line and the line of each item."""

    def __init__(self, line: int | None = None) -> None:
        super().__init__()
        self.line = line
        self.item_lines: list[int] = []


class _Converter:
    """Turns composed YAML nodes into Located mappings, LocatedLists and safe scalars."""

    def __init__(self, source: str, budget: int, max_depth: int) -> None:
        self.source = source
        self.budget = budget
        self.max_depth = max_depth
        self.constructor = yaml.SafeLoader("")

    def error(
        self, message: str, node: yaml.Node, hint: str | None = None, limit: str | None = None
    ) -> PolicyError:
        line = node.start_mark.line + 1
        return PolicyError(message, source=self.source, line=line, hint=hint, limit=limit)

    def convert(self, node: yaml.Node, depth: int = 0) -> object:
        self.budget -= 1
        if self.budget < 0:
            raise self.error(
                "the file expands to too many values",
                node,
                "avoid aliases that repeat large parts",
                limit="max_yaml_bytes",
            )
        line = node.start_mark.line + 1
        if isinstance(node, yaml.CollectionNode):
            if node.tag not in (_MAP_TAG, _SEQ_TAG):
                raise self.error(f"cannot read a value tagged {node.tag}", node)
            if depth >= self.max_depth:
                raise self.error(
                    f"nested deeper than the limit of {self.max_depth} levels",
                    node,
                    limit="max_yaml_depth",
                )
        if isinstance(node, yaml.MappingNode):
            mapping = Located(line)
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE_TAG:
                    raise self.error(
                        "merge keys (<<) are not supported", key_node, "write the fields out"
                    )
                key = self.convert(key_node, depth + 1)
                if not isinstance(key, str):
                    raise self.error(f"field names must be text, not {key!r}", key_node)
                if key in mapping:
                    raise self.error(f"field '{key}' appears twice", key_node)
                mapping[key] = self.convert(value_node, depth + 1)
                mapping.key_lines[key] = key_node.start_mark.line + 1
            return mapping
        if isinstance(node, yaml.SequenceNode):
            sequence = LocatedList(line)
            for item in node.value:
                sequence.append(self.convert(item, depth + 1))
                sequence.item_lines.append(item.start_mark.line + 1)
            return sequence
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            raise self.error(f"cannot read the value: {problem}", node) from None
        except Exception:
            # PyYAML's constructors fail on odd input in many ways (``!!timestamp false`` raises
            # AttributeError): all of them are a value it cannot read.
            if node.tag == _TIMESTAMP_TAG:
                # Left as text so the field reader can say which field holds an impossible date.
                return str(node.value)
            raise self.error(f"cannot read the value '{shown(str(node.value))}'", node) from None


def parse_yaml(
    text: str, source: str, limits: Limits = DEFAULT_LIMITS, *, empty: object = ...
) -> object:
    """Parse one YAML document into Located mappings and lists; errors name ``source`` and line.

    An empty document is an error unless ``empty`` gives the value to return for it.
    """
    if len(text.encode()) > limits.max_yaml_bytes:
        raise PolicyError(
            f"larger than the limit of {limits.max_yaml_bytes} bytes",
            source=source,
            limit="max_yaml_bytes",
        )
    try:
        node = yaml.compose(text, Loader=_COMPOSER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if "nesting depth" in str(exc.problem):
            # libyaml's own bound (1,000 levels), met before the converter counts to ours.
            raise PolicyError(
                f"nested deeper than the limit of {limits.max_yaml_depth} levels",
                source=source,
                line=None if mark is None else mark.line + 1,
                limit="max_yaml_depth",
            ) from None
        raise PolicyError(
            f"not valid YAML: {exc.problem or exc.context}",
            source=source,
            line=None if mark is None else mark.line + 1,
        ) from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"not valid YAML: {exc}", source=source) from None
    except RecursionError:
        # The pure-Python composer recurses per level; libyaml stops at its own limit first.
        raise PolicyError(
            f"nested deeper than the limit of {limits.max_yaml_depth} levels",
            source=source,
            limit="max_yaml_depth",
        ) from None
    if node is None:
        if empty is not ...:
            return empty
        raise PolicyError("the file is empty", source=source)
    # Without aliases a document has fewer values than bytes; the margin leaves room for a few.
    return _Converter(source, 10 * len(text) + 10_000, limits.max_yaml_depth).convert(node)


def read_yaml(path: Path, limits: Limits = DEFAULT_LIMITS, *, empty: object = ...) -> object:
    """Read and parse one YAML file (see :func:`parse_yaml`), bounded by ``limits``."""
    source = str(path)
    try:
        with path.open("rb") as handle:
            # Read one byte past the bound: a file growing while read (or a FIFO) stays bounded.
            data = handle.read(limits.max_yaml_bytes + 1)
        if len(data) > limits.max_yaml_bytes:
            raise PolicyError(
                f"file is more than the limit of {limits.max_yaml_bytes} bytes",
                source=source,
                limit="max_yaml_bytes",
            )
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", source=source) from None
    except IsADirectoryError:
        raise ConfigError("is a folder, not a YAML file", source=source) from None
    except UnicodeDecodeError as exc:
        raise PolicyError(f"not UTF-8 text ({exc.reason})", source=source) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the file: {exc.strerror}", source=source) from None
    return parse_yaml(text, source, limits, empty=empty)


def parse_json_document(data: bytes | str, what: str, limits: Limits = DEFAULT_LIMITS) -> Any:
    """One JSON document read whole, strictly (:func:`provenance.canonical.parse_json`), refused when
    larger than ``limits.max_document_bytes`` or nested deeper than ``limits.max_json_depth``.

    Raises :class:`~provenance.errors.MalformedJSONError` naming ``what``.
    """
    from provenance import canonical
    from provenance.errors import MalformedJSONError

    if len(data) > limits.max_document_bytes:
        raise MalformedJSONError(
            f"{what} is larger than the limit of {limits.max_document_bytes} bytes",
            limit="max_document_bytes",
        )
    try:
        return canonical.parse_json(data, max_depth=limits.max_json_depth, what=what)
    except MalformedJSONError as exc:
        if what in exc.message:
            raise
        raise MalformedJSONError(f"{what}: {exc.message}", hint=exc.hint, limit=exc.limit) from None
