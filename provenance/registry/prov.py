"""The lineage as W3C PROV-JSON (https://www.w3.org/submissions/prov-json/), and as lineage.yaml.

PROV view of the registry:

* entities: datasets (``prov:Collection``, with their digest), the record classes they hold (records
  one model wrote alike, with their count) and models (their weights);
* agents: providers of generator models and organisations that generated or trained;
* activities: a *generation* per record class (a model writing records) and a *training* per
  declared model;
* relations: a record class ``wasGeneratedBy`` its generation, which ``used`` the generator model
  and ``wasAssociatedWith`` the organisation; the class ``wasAttributedTo`` the provider; a dataset
  ``hadMember`` its classes; a training ``used`` its datasets and base model; the trained model
  ``wasGeneratedBy`` its training and ``wasDerivedFrom`` its datasets and base model.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from provenance.policy.model import (
    Catalog,
    Generation,
    LineageDataset,
    LineageDeclaration,
    LineageModel,
)
from provenance.registry.model import Closure, Dataset, Group, Snapshot

NS = "https://provenance.dev/ns#"
PREFIX = {
    "prov": "http://www.w3.org/ns/prov#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "pv": NS,
}
RELATIONS = (
    "wasGeneratedBy",
    "used",
    "wasDerivedFrom",
    "wasAttributedTo",
    "wasAssociatedWith",
    "hadMember",
)
_UNSAFE = re.compile(r"[^A-Za-z0-9._~-]")


def _q(kind: str, name: str) -> str:
    """A qualified name in the ``pv`` namespace."""
    return f"pv:{kind}/{_UNSAFE.sub(lambda m: f'%{ord(m.group()):02X}', name)}"


def _qualified(value: str) -> dict[str, str]:
    return {"$": value, "type": "prov:QUALIFIED_NAME"}


class _Doc:
    def __init__(self) -> None:
        self.doc: dict[str, Any] = {
            "prefix": dict(PREFIX),
            "entity": {},
            "activity": {},
            "agent": {},
        }
        self._n = 0

    def node(self, section: str, ident: str, attrs: dict[str, Any]) -> str:
        self.doc[section].setdefault(ident, attrs)
        return ident

    def relate(self, relation: str, attrs: dict[str, Any]) -> None:
        self._n += 1
        self.doc.setdefault(relation, {})[f"_:{relation}{self._n}"] = attrs

    def agent(self, kind: str, name: str | None) -> str | None:
        if not name:
            return None
        return self.node(
            "agent",
            _q(kind, name),
            {"prov:type": _qualified("prov:Organization"), "prov:label": name},
        )


def prov_document(snapshot: Snapshot, closure: Closure | None = None) -> dict[str, Any]:
    """The PROV-JSON document of the whole registry, or of one closure."""
    datasets = list(closure.datasets.values()) if closure else snapshot.datasets
    models = list(closure.models.values()) if closure else list(snapshot.models.values())
    doc = _Doc()
    # One entity per dataset digest: the same data registered under several names is one
    # collection, labelled with the first name and listing every name.
    names: dict[str, list[Dataset]] = {}
    for dataset in sorted(datasets, key=lambda d: d.log_seq):
        names.setdefault(dataset.digest, []).append(dataset)
    for same in names.values():
        _dataset(doc, snapshot, same[0], [d.name for d in same])
    for model in models:
        entity = _model_entity(doc, model.name)
        agent = doc.agent("org", model.organization)
        training = doc.node(
            "activity",
            _q("training", model.name),
            {"prov:type": _qualified("pv:Training"), "prov:label": f"training of {model.name}"},
        )
        doc.relate("wasGeneratedBy", {"prov:entity": entity, "prov:activity": training})
        if agent:
            doc.relate("wasAttributedTo", {"prov:entity": entity, "prov:agent": agent})
            doc.relate("wasAssociatedWith", {"prov:activity": training, "prov:agent": agent})
        for edge, trained in snapshot.trained_on(model.name):
            if trained is not None:
                used = _dataset_entity(doc, trained)
            else:
                used = doc.node(
                    "entity",
                    _q("dataset", edge.target),
                    {
                        "prov:type": _qualified("prov:Collection"),
                        "prov:label": edge.target,
                        "pv:registered": False,
                    },
                )
            attrs: dict[str, Any] = {"prov:activity": training, "prov:entity": used}
            doc.relate("used", attrs)
            doc.relate(
                "wasDerivedFrom",
                {
                    "prov:generatedEntity": entity,
                    "prov:usedEntity": used,
                    "prov:activity": training,
                },
            )
        for edge in snapshot.bases(model.name):
            base = _model_entity(doc, edge.target)
            doc.relate("used", {"prov:activity": training, "prov:entity": base})
            doc.relate(
                "wasDerivedFrom",
                {
                    "prov:generatedEntity": entity,
                    "prov:usedEntity": base,
                    "prov:type": _qualified("prov:Revision"),
                },
            )
    return doc.doc


def _model_entity(doc: _Doc, name: str) -> str:
    return doc.node(
        "entity", _q("model", name), {"prov:type": _qualified("pv:Model"), "prov:label": name}
    )


def _dataset_entity(doc: _Doc, dataset: Dataset, names: Sequence[str] = ()) -> str:
    attrs: dict[str, Any] = {
        "prov:type": _qualified("prov:Collection"),
        "prov:label": dataset.name,
        "pv:digest": dataset.digest,
        "pv:records": dataset.records,
        "pv:untagged_records": dataset.untagged,
    }
    if len(set(names)) > 1:
        attrs["pv:names"] = list(dict.fromkeys(names))
    return doc.node("entity", _q("dataset", dataset.digest), attrs)


def _class_id(dataset: Dataset, group: Group) -> str:
    text = "|".join("" if v is None else str(v) for v in (dataset.digest, *group.key()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _dataset(doc: _Doc, snapshot: Snapshot, dataset: Dataset, names: Sequence[str]) -> None:
    collection = _dataset_entity(doc, dataset, names)
    for group in dataset.groups:
        ident = _class_id(dataset, group)
        attrs: dict[str, Any] = {
            "prov:type": _qualified("pv:RecordClass"),
            "prov:label": f"{group.records} records by {group.effective_model} ({group.role})",
            "pv:records": group.records,
            "pv:role": group.role,
        }
        if group.terms:
            attrs["pv:terms"] = group.terms
        entity = doc.node("entity", _q("class", ident), attrs)
        doc.relate("hadMember", {"prov:collection": collection, "prov:entity": entity})
        activity_attrs: dict[str, Any] = {
            "prov:type": _qualified("pv:Generation"),
            "prov:label": f"{group.effective_model} via {group.service or 'unknown service'}",
        }
        if group.day:
            activity_attrs["prov:startTime"] = {
                "$": f"{group.day}T00:00:00Z",
                "type": "xsd:dateTime",
            }
        activity = doc.node("activity", _q("generation", ident), activity_attrs)
        model = _model_entity(doc, group.effective_model)
        doc.relate("wasGeneratedBy", {"prov:entity": entity, "prov:activity": activity})
        doc.relate("used", {"prov:activity": activity, "prov:entity": model})
        provider = doc.agent("provider", group.provider)
        if provider:
            doc.relate("wasAttributedTo", {"prov:entity": entity, "prov:agent": provider})
            doc.relate("wasAttributedTo", {"prov:entity": model, "prov:agent": provider})
        organization = doc.agent("org", group.organization)
        if organization:
            doc.relate("wasAssociatedWith", {"prov:activity": activity, "prov:agent": organization})


def check_prov(document: Any) -> list[str]:
    """Structural problems of a PROV-JSON document: sections, and relations naming nodes that
    are not declared."""
    problems: list[str] = []
    if not isinstance(document, dict):
        return ["the document is not a JSON object"]
    prefix = document.get("prefix")
    if not isinstance(prefix, dict) or "prov" not in prefix:
        problems.append("no 'prefix' section declaring prov")
    nodes: dict[str, set[str]] = {}
    for section in ("entity", "activity", "agent"):
        value = document.get(section, {})
        if not isinstance(value, dict):
            problems.append(f"'{section}' is not an object")
            value = {}
        nodes[section] = set(value)
    roles = {
        "prov:entity": ("entity",),
        "prov:activity": ("activity",),
        "prov:agent": ("agent",),
        "prov:generatedEntity": ("entity",),
        "prov:usedEntity": ("entity",),
        "prov:collection": ("entity",),
    }
    for relation in RELATIONS:
        items = document.get(relation, {})
        if not isinstance(items, dict):
            problems.append(f"'{relation}' is not an object")
            continue
        for ident, attrs in items.items():
            if not isinstance(attrs, dict):
                problems.append(f"{relation} {ident} is not an object")
                continue
            for role, sections in roles.items():
                target = attrs.get(role)
                if target is not None and not any(target in nodes[s] for s in sections):
                    problems.append(f"{relation} {ident}: {role} {target} is not declared")
    unknown = set(document) - {"prefix", "entity", "activity", "agent", *RELATIONS}
    problems.extend(f"unknown section '{u}'" for u in sorted(unknown))
    return problems


def lineage_declaration(
    snapshot: Snapshot, closure: Closure | None = None, catalog: Catalog | None = None
) -> LineageDeclaration:
    """The registry's lineage in the ``lineage.yaml`` form audits read (docs/policy-format.md):
    declared models with their base and training data, and each ingested dataset with the
    generators its manifests name. A dataset a model was declared trained on but that was never
    ingested is declared without generators (so an audit asks about it), unless ``catalog`` knows
    it."""
    models = list(closure.models.values()) if closure else list(snapshot.models.values())
    datasets = list(closure.datasets.values()) if closure else snapshot.datasets
    names: dict[str, Dataset] = {}
    for dataset in sorted(datasets, key=lambda d: d.log_seq):
        names[dataset.name] = dataset
    out_models = []
    for model in sorted(models, key=lambda m: m.log_seq):
        bases = snapshot.bases(model.name)
        trained = [e for e, _ in snapshot.trained_on(model.name)]
        if not bases and not trained:
            continue
        out_models.append(
            LineageModel(
                name=model.name,
                base_model=bases[-1].target if bases else None,
                trained_on=tuple(dict.fromkeys(e.target for e in trained)),
                activity=next((e.activity for e in trained if e.activity), None),
            )
        )
    out_datasets = [
        LineageDataset(name=d.name, generators=tuple(_generations(d.groups)))
        for d in names.values()
    ]
    for declared in out_models:
        for target in declared.trained_on or ():
            if target in names or (catalog is not None and catalog.dataset(target) is not None):
                continue
            names[target] = Dataset(target, "", 0, 0, "", -1)
            out_datasets.append(LineageDataset(name=target))
    return LineageDeclaration(tuple(out_models), tuple(out_datasets))


def _generations(groups: Iterable[Group]) -> list[Generation]:
    seen: dict[tuple[Any, ...], Generation] = {}
    for g in groups:
        generation = Generation(
            provider=g.provider,
            model=g.model,
            model_returned=g.model_returned,
            service=g.service,
            role=g.role,
            organization=g.organization,
            generated_at=None if g.day is None else date.fromisoformat(g.day),
            terms=g.terms,
        )
        seen.setdefault(tuple(sorted(generation.to_dict().items())), generation)
    return list(seen.values())
