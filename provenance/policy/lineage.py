"""The lineage graph: which models and datasets stand behind judged data, and which terms reach it.

Nodes are models, datasets and record classes; an edge ``u → v`` says *v was made from u*:

* ``generated`` — a model wrote a dataset or a record class (from manifests or declared generators);
* ``derived-from`` — a dataset (or a record class, through its ``parents``) was made from a dataset;
* ``part-of`` — a record class read from a dataset's files belongs to that dataset;
* ``trained-on`` — a model was trained on a dataset;
* ``fine-tuned-from`` — a model was built on base weights.

Terms attach to *generations* (a model writing data, judged under the terms of the channel it ran on)
and to dataset licences. Everything that reaches a dataset reaches whatever is derived from it at the
same hop count. A model trained on data inherits what reached the data one hop further away; only
clauses that pass to derivatives survive past the first hop (the engine applies that filter, since
it is a property of each clause). A model built on base weights writes under the base's licence.

What cannot be known is a source too, so that a gap in the lineage never reads as "no restriction":
a model neither catalogued nor declared, a dataset without declared origin, a declared model without
declared training data or base weights, records without a manifest in a dataset's files. The engine
turns these into reviews.

The graph must be acyclic and no deeper than ``Limits.max_graph_depth``; otherwise a
:class:`~provenance.errors.ConfigError` shows the offending path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from provenance.errors import ConfigError
from provenance.limits import DEFAULT_LIMITS, Limits
from provenance.policy.classes import RecordClass
from provenance.policy.fields import Where, closest
from provenance.policy.graph import DiGraph
from provenance.policy.model import (
    Catalog,
    CatalogDataset,
    CatalogModel,
    Generation,
    LineageDataset,
    LineageDeclaration,
    LineageModel,
)

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


@dataclass(frozen=True)
class Reach:
    """A terms reference reaching judged data along one lineage path."""

    ref: str | None
    """Terms family or exact id; ``None`` when the source is unknown (see ``unknown``)."""
    source: Source
    steps: tuple[str, ...]
    """The source's steps, plus the base models whose licence applies (``base model …``)."""
    channel: str | None = None
    unknown: str | None = None
    """Why no terms are known, for a reach without ``ref``."""
    rule: str | None = None
    """Short name of what is unknown: ``unknown-model``, ``no-channel-terms``, ``unknown-dataset``,
    ``undeclared-dataset``, ``undeclared-generators``, ``undeclared-training``, ``undeclared-base``,
    ``unsigned-records``, ``unattributed-part``."""

    @property
    def hops(self) -> int:
        return self.source.hops

    @property
    def origin(self) -> Generation | None:
        return self.source.origin

    def path(self, terms_label: str | None = None) -> str:
        """The way from the judged part to the terms, for people: ``/score ← model m ← terms §x``."""
        head = self.source.part or "record"
        tail = [terms_label] if terms_label else []
        return " ← ".join([head, *self.steps, *tail])


def _model_id(name: str) -> str:
    return f"model:{name}"


def _dataset_id(name: str) -> str:
    return f"dataset:{name}"


def _class_id(record_class: RecordClass) -> str:
    return f"class:{record_class.id}"


class LineageGraph:
    """The lineage of a set of record classes; build with :meth:`build`."""

    def __init__(self, catalog: Catalog, declaration: LineageDeclaration, limits: Limits) -> None:
        self.graph = DiGraph()
        self._catalog = catalog
        self._limits = limits
        self._models = {m.name.casefold(): m for m in declaration.models}
        self._datasets = {d.name.casefold(): d for d in declaration.datasets}
        self._generations: dict[str, list[tuple[Generation, str]]] = {}
        self._catalog_models: dict[tuple[str, str | None], CatalogModel | None] = {}
        self._data_memo: dict[str, tuple[Source, ...]] = {}
        self._model_memo: dict[str, tuple[Source, ...]] = {}

    @classmethod
    def build(
        cls,
        classes: Iterable[RecordClass],
        catalog: Catalog,
        declaration: LineageDeclaration | None = None,
        dataset_classes: Mapping[str, Sequence[RecordClass]] | None = None,
        limits: Limits = DEFAULT_LIMITS,
    ) -> LineageGraph:
        """The graph of the judged classes, the declared lineage and the catalog datasets it names.

        ``dataset_classes`` holds the record classes read from a declared dataset's ``files``.
        Raises :class:`ConfigError` for a reference to nothing, a cycle, or a graph too deep or big.
        """
        declaration = declaration or LineageDeclaration()
        graph = cls(catalog, declaration, limits)
        for model in declaration.models:
            graph._add_declared_model(model)
        for dataset in declaration.datasets:
            graph._add_declared_dataset(dataset)
        for name, members in (dataset_classes or {}).items():
            declared = graph._datasets.get(name.casefold())
            if declared is None:
                raise ConfigError(
                    f"records were given for dataset '{name}', which the lineage does not declare",
                    hint=closest(name, [d.name for d in declaration.datasets]),
                )
            for record_class in members:
                graph._add_class(record_class)
                graph._edge(_class_id(record_class), _dataset_id(declared.name), "part-of")
        for record_class in classes:
            graph._add_class(record_class)
        graph._check()
        return graph

    # -- building --------------------------------------------------------------------------------

    def _node(self, node: str, kind: str, name: str, **attrs: Any) -> None:
        if node not in self.graph:
            self.graph.add_node(node, kind=kind, name=name, **attrs)
            if self.graph.number_of_nodes() > self._limits.max_graph_nodes:
                raise ConfigError(
                    f"the lineage graph has more than {self._limits.max_graph_nodes} nodes"
                )

    def _edge(self, u: str, v: str, kind: str) -> None:
        self.graph.add_edge(u, v, kind=kind)

    def _catalog_model(self, model: str, returned: str | None = None) -> CatalogModel | None:
        key = (model, returned)
        if key not in self._catalog_models:
            self._catalog_models[key] = self._catalog.model(model, returned)
        return self._catalog_models[key]

    def _declared_model(self, gen_or_name: Generation | str) -> LineageModel | None:
        if isinstance(gen_or_name, str):
            return self._models.get(gen_or_name.casefold())
        for name in (gen_or_name.model, gen_or_name.model_returned):
            if name and name.casefold() in self._models:
                return self._models[name.casefold()]
        return None

    def _model_node(self, generation: Generation) -> str:
        declared = self._declared_model(generation)
        name = declared.name if declared is not None else generation.model
        node = _model_id(name)
        self._node(node, "model", name)
        return node

    def _add_generation(self, generation: Generation, target: str) -> None:
        model = self._model_node(generation)
        self._edge(model, target, "generated")
        self._generations.setdefault(target, []).append((generation, model))

    def _add_declared_model(self, model: LineageModel) -> None:
        node = _model_id(model.name)
        self._node(node, "model", model.name, declared=True)
        if model.base_model is not None:
            base = self._declared_model(model.base_model)
            if base is None and self._catalog_model(model.base_model) is None:
                raise model.where.field("base_model").config_error(
                    f"model '{model.name}' names base model '{model.base_model}', which neither "
                    "the lineage nor the catalog declares",
                    closest(
                        model.base_model,
                        [m.name for m in self._models.values() if m is not model],
                        "declare it under models: in the lineage file, or use a name the model "
                        "catalog knows (catalog/models.yaml of the terms library)",
                    ),
                )
            base_name = base.name if base is not None else model.base_model
            self._node(_model_id(base_name), "model", base_name)
            self._edge(_model_id(base_name), node, "fine-tuned-from")
        for name in model.trained_on:
            dataset = self._dataset_node(
                name, model.where.field("trained_on"), f"model '{model.name}'"
            )
            self._edge(dataset, node, "trained-on")

    def _add_declared_dataset(self, dataset: LineageDataset) -> None:
        node = _dataset_id(dataset.name)
        self._node(node, "dataset", dataset.name, declared=True)
        for name in dataset.derived_from:
            source = self._dataset_node(
                name, dataset.where.field("derived_from"), f"dataset '{dataset.name}'"
            )
            self._edge(source, node, "derived-from")
        for generation in dataset.generators:
            self._add_generation(generation, node)

    def _dataset_node(self, name: str, where: Where, user: str) -> str:
        """The node of a dataset named in the lineage, which must be declared or catalogued."""
        node = self._known_dataset_node(name)
        if node is None:
            known = [d.name for d in self._datasets.values()]
            known += [n for d in self._catalog.datasets for n in d.names]
            raise where.config_error(
                f"{user} names dataset '{name}', which neither the lineage nor the catalog declares",
                closest(name, known),
            )
        return node

    def _known_dataset_node(self, name: str) -> str | None:
        declared = self._datasets.get(name.casefold())
        if declared is not None:
            node = _dataset_id(declared.name)
            self._node(node, "dataset", declared.name, declared=True)
            return node
        entry = self._catalog.dataset(name)
        if entry is None:
            return None
        node = _dataset_id(entry.name)
        if node not in self.graph:
            self._node(node, "dataset", entry.name, catalog=True)
            for generation in entry.generators:
                self._add_generation(generation, node)
        return node

    def _add_class(self, record_class: RecordClass) -> None:
        node = _class_id(record_class)
        if node in self.graph:
            return
        self._node(
            node,
            "class",
            record_class.id,
            records=record_class.record_count,
            unattributed_parts=record_class.unattributed_parts,
        )
        for generation in record_class.contributions:
            self._add_generation(generation, node)
        for name in record_class.parents:
            # A parent named only in a manifest is not a lineage error: it becomes an unknown source.
            parent = self._known_dataset_node(name)
            if parent is None:
                parent = _dataset_id(name)
                self._node(parent, "dataset", name, unknown=True)
            self._edge(parent, node, "derived-from")

    def _check(self) -> None:
        cycle = self.graph.find_cycle()
        if cycle:
            nodes = [u for u, _v in cycle] + [cycle[0][0]]
            raise ConfigError(
                f"the lineage has a cycle of {len(cycle)} steps: " + self._path_text(nodes),
                source=self._where_of(cycle[0][0]).source,
                line=self._where_of(cycle[0][0]).line,
                hint="a model trained on its own outputs is a new model: give it a new name",
            )
        longest = self.graph.longest_path()
        if len(longest) - 1 > self._limits.max_graph_depth:
            raise ConfigError(
                f"the lineage is {len(longest) - 1} steps deep, more than the limit of "
                f"{self._limits.max_graph_depth}: " + self._path_text(longest)
            )

    def _path_text(self, nodes: Sequence[str], ends: int = 3) -> str:
        """A path for people: whole when short, else both ends and how many steps are between."""
        labels = [self._label(n) for n in (nodes if len(nodes) <= 2 * ends + 1 else ())]
        if not labels:
            hidden = len(nodes) - 2 * ends
            labels = [
                *(self._label(n) for n in nodes[:ends]),
                f"… {hidden:,} more …",
                *(self._label(n) for n in nodes[-ends:]),
            ]
        return " → ".join(labels)

    def _label(self, node: str) -> str:
        data = self.graph.nodes[node]
        return f"{data['kind']} {data['name']}"

    def _where_of(self, node: str) -> Where:
        data = self.graph.nodes[node]
        item: LineageModel | LineageDataset | None = None
        if data["kind"] == "model":
            item = self._models.get(str(data["name"]).casefold())
        elif data["kind"] == "dataset":
            item = self._datasets.get(str(data["name"]).casefold())
        return item.where if item is not None else Where()

    # -- walking ---------------------------------------------------------------------------------

    def sources(self, record_class: RecordClass) -> tuple[Source, ...]:
        """Everything upstream of a class that terms attach to, each with its way from the class."""
        node = _class_id(record_class)
        if node not in self.graph:
            raise ConfigError(f"record class {record_class.id} is not in this lineage graph")
        return _dedupe(self._class_sources(node))

    def reaches(self, record_class: RecordClass) -> tuple[Reach, ...]:
        """Every terms reference reaching a class (or the unknown that stands in for one)."""
        return self.reaches_from(self.sources(record_class))

    def reaches_from(self, sources: Iterable[Source]) -> tuple[Reach, ...]:
        """The terms references (or unknowns) that the given sources bring."""
        out: list[Reach] = []
        for source in sources:
            if source.kind == "licence":
                out.append(Reach(source.ref, source, source.steps))
            elif source.kind == "unknown":
                out.append(
                    Reach(None, source, source.steps, unknown=source.reason, rule=source.rule)
                )
            else:
                out.extend(self._generation_reaches(source))
        return tuple(out)

    def _generation_reaches(self, source: Source) -> list[Reach]:
        generation = source.origin
        assert generation is not None
        declared = self._declared_model(generation)
        out: list[Reach] = []
        if generation.terms is not None:
            # A manifest that names its terms is judged under them (docs/policy-format.md, "Time").
            out.append(Reach(generation.terms, source, source.steps, generation.channel))
        else:
            entry = self._catalog_model(generation.model, generation.model_returned)
            if entry is not None:
                pairs = entry.terms_for(generation.channel)
                out.extend(
                    Reach(ref, source, source.steps, channel)
                    for channel, refs in pairs
                    for ref in refs
                )
                if not pairs:
                    reason = (
                        f"the catalog names no terms for {generation.model} via "
                        f"{generation.service} ({generation.channel})"
                    )
                    out.append(
                        Reach(
                            None,
                            source,
                            source.steps,
                            generation.channel,
                            reason,
                            "no-channel-terms",
                        )
                    )
            elif declared is None:
                reason = (
                    f"model {generation.effective_model} is in neither the catalog nor the lineage"
                )
                out.append(
                    Reach(None, source, source.steps, generation.channel, reason, "unknown-model")
                )
        steps = source.steps
        while declared is not None and declared.base_model is not None:
            # The base weights' licence governs outputs of models built on them.
            steps = (*steps, f"base model {declared.base_model}")
            entry = self._catalog_model(declared.base_model)
            if entry is not None:
                out.extend(
                    Reach(ref, source, steps, channel)
                    for channel, refs in entry.terms_for("self-hosted")
                    for ref in refs
                )
            declared = self._declared_model(declared.base_model)
        return out

    def _generation_sources(self, generation: Generation, model: str) -> list[Source]:
        name = self.graph.nodes[model]["name"]
        step = f"model {name}"
        own = Source("generation", 1, (step,), origin=generation)
        return [own, *(s.via(step) for s in self._model_sources(model))]

    def _model_sources(self, model: str) -> tuple[Source, ...]:
        """What a model's outputs inherit from its training data and its base weights."""
        memo = self._model_memo.get(model)
        if memo is not None:
            return memo
        out: list[Source] = []
        for parent in self.graph.predecessors(model):
            kind = self.graph.edges[parent, model]["kind"]
            if kind == "trained-on":
                out.extend(s.deeper(self._label(parent)) for s in self._data_sources(parent))
            elif kind == "fine-tuned-from":
                step = f"base model {self.graph.nodes[parent]['name']}"
                out.extend(s.via(step) for s in self._model_sources(parent))
        declared = self._models.get(str(self.graph.nodes[model]["name"]).casefold())
        if declared is not None:
            out.extend(self._declaration_gaps(declared))
        result = _dedupe(out)
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
        data = self.graph.nodes[node]
        out: list[Source] = []
        for generation, model in self._generations.get(node, ()):
            out.extend(self._generation_sources(generation, model))
        known_origin = bool(out)
        for parent in self.graph.predecessors(node):
            kind = self.graph.edges[parent, node]["kind"]
            if kind == "derived-from":
                out.extend(s.via(self._label(parent)) for s in self._data_sources(parent))
                known_origin = True
            elif kind == "part-of":
                out.extend(replace(s, part="") for s in self._class_sources(parent))
                known_origin = True
        name = str(data["name"])
        declared: LineageDataset | CatalogDataset | None = None
        if data.get("declared"):
            declared = self._datasets[name.casefold()]
        elif data.get("catalog"):
            declared = self._catalog.dataset(name)
        if declared is not None:
            out.extend(Source("licence", 1, (), ref=ref) for ref in declared.licence)
            known_origin = known_origin or declared.human_written
        if not known_origin:
            rule, reason = self._why_unknown(name, data)
            out.append(Source("unknown", 1, (), reason=reason, rule=rule))
        result = _dedupe(out)
        self._data_memo[node] = result
        return result

    def _class_sources(self, node: str) -> list[Source]:
        out: list[Source] = []
        generations = self._generations.get(node, ())
        for generation, model in generations:
            out.extend(
                replace(s, part=generation.pointer)
                for s in self._generation_sources(generation, model)
            )
        for parent in self.graph.predecessors(node):
            if self.graph.edges[parent, node]["kind"] == "derived-from":
                out.extend(s.via(self._label(parent)) for s in self._data_sources(parent))
        if not generations:
            records = self.graph.nodes[node].get("records", 0)
            if records == 1:
                reason = "1 record carries no manifest naming the model that wrote it"
            else:
                reason = f"{records} records carry no manifest naming the model that wrote them"
            out.append(Source("unknown", 1, (), reason=reason, rule="unsigned-records"))
        data = self.graph.nodes[node]
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


def _dedupe(sources: Iterable[Source]) -> tuple[Source, ...]:
    # Two ways to the same source at the same distance judge the same; the first (shortest) stays.
    seen: dict[tuple[Any, ...], Source] = {}
    for source in sources:
        seen.setdefault(source.dedupe_key(), source)
    return tuple(seen.values())
