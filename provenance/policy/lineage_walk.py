"""Walking the lineage graph upstream from judged data to what terms attach to.

A :class:`Source` is something upstream of a record class (a model writing data, a dataset
licence, or what is not known) with the way from the class to it. :class:`SourceWalk` finds them
over a built :class:`~provenance.policy.lineage.LineageGraph`, remembering what each dataset and
model passes on, so a dataset reached along many paths is walked once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from provenance.policy.catalog import CatalogDataset
from provenance.policy.declaration import LineageDataset, LineageModel
from provenance.policy.generation import Generation

if TYPE_CHECKING:
    from provenance.policy.lineage import LineageGraph

SourceKind = Literal["generation", "licence", "unknown"]


@dataclass(frozen=True)
class Source:
    """Something upstream of judged data that terms attach to, and the way from the data to it."""

    kind: SourceKind
    hops: int
    """1 = the judged data itself; each model trained on the data in between adds one."""
    steps: tuple[str, ...]
    """From the judged data towards the source: ``("dataset d1", "model gemma-2-9b-it")``."""
    part: str = ""
    """JSON Pointer of the judged part (``""`` = the whole record)."""
    origin: Generation | None = None
    """For ``generation``: the model writing data, with its service, role, day and organisation."""
    ref: str | None = None
    """For ``licence``: the terms reference of a dataset licence."""
    reason: str | None = None
    """For ``unknown``: what is not known."""
    rule: str | None = None
    """For ``unknown``: a short name of what is missing (``undeclared-dataset`` …)."""

    def via(self, step: str) -> Source:
        return replace(self, steps=(step, *self.steps))

    def deeper(self, step: str) -> Source:
        return replace(self, steps=(step, *self.steps), hops=self.hops + 1)

    def dedupe_key(self) -> tuple[Any, ...]:
        return (self.kind, self.hops, self.part, self.origin, self.ref, self.reason)


class SourceWalk:
    """The sources of the nodes of one lineage graph, each dataset's and model's worked out once."""

    def __init__(self, lineage: LineageGraph) -> None:
        self._lineage = lineage
        self._graph = lineage.graph
        self._data_memo: dict[str, tuple[Source, ...]] = {}
        self._model_memo: dict[str, tuple[Source, ...]] = {}

    def _generation_sources(self, generation: Generation, model: str) -> list[Source]:
        name = self._graph.nodes[model]["name"]
        step = f"model {name}"
        own = Source("generation", 1, (step,), origin=generation)
        return [own, *(s.via(step) for s in self._model_sources(model))]

    def _model_sources(self, model: str) -> tuple[Source, ...]:
        """What a model's outputs inherit from its training data and its base weights."""
        memo = self._model_memo.get(model)
        if memo is not None:
            return memo
        out: list[Source] = []
        for parent in self._graph.predecessors(model):
            kind = self._graph.edges[parent, model]["kind"]
            if kind == "trained-on":
                out.extend(
                    s.deeper(self._lineage.label(parent)) for s in self._data_sources(parent)
                )
            elif kind == "fine-tuned-from":
                step = f"base model {self._graph.nodes[parent]['name']}"
                out.extend(s.via(step) for s in self._model_sources(parent))
        declared = self._lineage.declared_model(str(self._graph.nodes[model]["name"]))
        if declared is not None:
            out.extend(self._declaration_gaps(declared))
        result = dedupe(out)
        self._model_memo[model] = result
        return result

    @staticmethod
    def _declaration_gaps(declared: LineageModel) -> list[Source]:
        """Unknowns in a model's declaration: each model needs its training data, and base weights
        unless it was pretrained from scratch, so that dropping a line never drops a restriction."""
        out = []
        if not declared.trained_on:
            reason = (
                f"the lineage does not say what model {declared.name} was trained on "
                "(name its datasets; a dataset people wrote is declared with human_written: true)"
            )
            out.append(Source("unknown", 1, (), reason=reason, rule="undeclared-training"))
        if declared.base_model is None and declared.activity != "pretrain":
            reason = (
                f"the lineage does not name the base weights of model {declared.name} "
                "(give base_model, or activity: pretrain for a model trained from scratch)"
            )
            out.append(Source("unknown", 1, (), reason=reason, rule="undeclared-base"))
        return out

    def _data_sources(self, node: str) -> tuple[Source, ...]:
        """Everything that reaches a dataset's records, at hop 1 for what wrote them."""
        memo = self._data_memo.get(node)
        if memo is not None:
            return memo
        data = self._graph.nodes[node]
        out: list[Source] = []
        for generation, model in self._lineage.generations_into(node):
            out.extend(self._generation_sources(generation, model))
        known_origin = bool(out)
        for parent in self._graph.predecessors(node):
            kind = self._graph.edges[parent, node]["kind"]
            if kind == "derived-from":
                out.extend(s.via(self._lineage.label(parent)) for s in self._data_sources(parent))
                known_origin = True
            elif kind == "part-of":
                out.extend(replace(s, part="") for s in self.class_sources(parent))
                known_origin = True
        name = str(data["name"])
        declared: LineageDataset | CatalogDataset | None = None
        if data.get("declared"):
            declared = self._lineage.declared_dataset(name)
        elif data.get("catalog"):
            declared = self._lineage.catalog.dataset(name)
        if declared is not None:
            out.extend(Source("licence", 1, (), ref=ref) for ref in declared.licence)
            known_origin = known_origin or declared.human_written
        if not known_origin:
            rule, reason = self._why_unknown(name, data)
            out.append(Source("unknown", 1, (), reason=reason, rule=rule))
        result = dedupe(out)
        self._data_memo[node] = result
        return result

    def class_sources(self, node: str) -> list[Source]:
        out: list[Source] = []
        generations = self._lineage.generations_into(node)
        for generation, model in generations:
            out.extend(
                replace(s, part=generation.pointer)
                for s in self._generation_sources(generation, model)
            )
        for parent in self._graph.predecessors(node):
            if self._graph.edges[parent, node]["kind"] == "derived-from":
                out.extend(s.via(self._lineage.label(parent)) for s in self._data_sources(parent))
        if not generations:
            records = self._graph.nodes[node].get("records", 0)
            if records == 1:
                reason = "1 record carries no manifest naming the model that wrote it"
            else:
                reason = f"{records} records carry no manifest naming the model that wrote them"
            out.append(Source("unknown", 1, (), reason=reason, rule="unsigned-records"))
        data = self._graph.nodes[node]
        for pointer in data.get("unattributed_parts", ()):
            records = data.get("records", 0)
            reason = (
                f"part {pointer} of {records} signed record{'' if records == 1 else 's'} names "
                "no model that wrote it"
            )
            out.append(
                Source("unknown", 1, (), part=pointer, reason=reason, rule="unattributed-part")
            )
        return out

    @staticmethod
    def _why_unknown(name: str, data: Mapping[str, Any]) -> tuple[str, str]:
        if data.get("unknown"):
            return "unknown-dataset", f"dataset {name} is in neither the lineage nor the catalog"
        if data.get("catalog"):
            return (
                "undeclared-generators",
                f"the catalog does not say which models generated dataset {name}",
            )
        return (
            "undeclared-dataset",
            f"the lineage does not say where dataset {name} came from (give generators, "
            "derived_from, files that were read, or human_written: true)",
        )


def dedupe(sources: Iterable[Source]) -> tuple[Source, ...]:
    """The sources, each once."""
    # Two ways to the same source at the same distance judge the same; the first (shortest) stays.
    seen: dict[tuple[Any, ...], Source] = {}
    for source in sources:
        seen.setdefault(source.dedupe_key(), source)
    return tuple(seen.values())
