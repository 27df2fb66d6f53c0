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

:class:`LineageGraph` builds and checks the graph and answers for it; the walk upstream to the
sources is :mod:`provenance.policy.lineage_walk`, the terms that sources bring
:mod:`provenance.policy.lineage_reach`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from provenance.errors import ConfigError
from provenance.limits import DEFAULT_LIMITS, Limits
from provenance.policy.catalog import Catalog, CatalogModel
from provenance.policy.classes import RecordClass
from provenance.policy.declaration import LineageDataset, LineageDeclaration, LineageModel
from provenance.policy.fields import Where, closest
from provenance.policy.generation import Generation
from provenance.policy.graph import DiGraph
from provenance.policy.lineage_reach import Reach, terms_reaching
from provenance.policy.lineage_walk import Source, SourceKind, SourceWalk, dedupe

__all__ = ["LineageGraph", "Reach", "Source", "SourceKind"]


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
        self.catalog = catalog
        self._limits = limits
        self._models = {m.name.casefold(): m for m in declaration.models}
        self._datasets = {d.name.casefold(): d for d in declaration.datasets}
        self._generations: dict[str, list[tuple[Generation, str]]] = {}
        self._catalog_models: dict[tuple[str, str | None], CatalogModel | None] = {}
        self._walk = SourceWalk(self)

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

    def _model_node(self, generation: Generation) -> str:
        declared = self.declared_model(generation)
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
            base = self.declared_model(model.base_model)
            if base is None and self.catalog_model(model.base_model) is None:
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
            known += [n for d in self.catalog.datasets for n in d.names]
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
        entry = self.catalog.dataset(name)
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
        labels = [self.label(n) for n in (nodes if len(nodes) <= 2 * ends + 1 else ())]
        if not labels:
            hidden = len(nodes) - 2 * ends
            labels = [
                *(self.label(n) for n in nodes[:ends]),
                f"… {hidden:,} more …",
                *(self.label(n) for n in nodes[-ends:]),
            ]
        return " → ".join(labels)

    def _where_of(self, node: str) -> Where:
        data = self.graph.nodes[node]
        item: LineageModel | LineageDataset | None = None
        if data["kind"] == "model":
            item = self._models.get(str(data["name"]).casefold())
        elif data["kind"] == "dataset":
            item = self._datasets.get(str(data["name"]).casefold())
        return item.where if item is not None else Where()

    # -- looking up ------------------------------------------------------------------------------

    def catalog_model(self, model: str, returned: str | None = None) -> CatalogModel | None:
        """The catalog entry of a model (remembered: many classes name the same model)."""
        key = (model, returned)
        if key not in self._catalog_models:
            self._catalog_models[key] = self.catalog.model(model, returned)
        return self._catalog_models[key]

    def declared_model(self, gen_or_name: Generation | str) -> LineageModel | None:
        """The lineage's declaration of a model, by name or of the model of a generation."""
        if isinstance(gen_or_name, str):
            return self._models.get(gen_or_name.casefold())
        for name in (gen_or_name.model, gen_or_name.model_returned):
            if name and name.casefold() in self._models:
                return self._models[name.casefold()]
        return None

    def declared_dataset(self, name: str) -> LineageDataset | None:
        """The lineage's declaration of a dataset."""
        return self._datasets.get(name.casefold())

    def generations_into(self, node: str) -> Sequence[tuple[Generation, str]]:
        """The generations that wrote a dataset or class node, each with its model's node."""
        return self._generations.get(node, ())

    def label(self, node: str) -> str:
        """A node for people: ``model m``, ``dataset d``."""
        data = self.graph.nodes[node]
        return f"{data['kind']} {data['name']}"

    # -- walking ---------------------------------------------------------------------------------

    def sources(self, record_class: RecordClass) -> tuple[Source, ...]:
        """Everything upstream of a class that terms attach to, each with its way from the class."""
        node = _class_id(record_class)
        if node not in self.graph:
            raise ConfigError(f"record class {record_class.id} is not in this lineage graph")
        return dedupe(self._walk.class_sources(node))

    def reaches(self, record_class: RecordClass) -> tuple[Reach, ...]:
        """Every terms reference reaching a class (or the unknown that stands in for one)."""
        return self.reaches_from(self.sources(record_class))

    def reaches_from(self, sources: Iterable[Source]) -> tuple[Reach, ...]:
        """The terms references (or unknowns) that the given sources bring."""
        return terms_reaching(self, sources)
