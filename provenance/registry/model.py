"""What the registry knows, as plain data: models, datasets, lineage, audits, and how they depend.

The store reads a :class:`Snapshot`; queries, the lineage exports, the evidence bundle and the EU
summary work on it without a database. A dataset's records are summarised as *generation groups*:
records whose contributions name the same generator (provider, model, service), organisation, role,
day and terms (the registry's counterpart of the audit's record classes).

Dependence ("at any distance"): a model depends on what its training datasets depend on and on its
base models; a dataset depends on the outputs it holds and on whatever the models that wrote them
depend on.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from provenance.policy.library import PolicyLibrary
from provenance.policy.model import channel_of, split_ref

TRAINED_ON = "trained-on"
FINE_TUNED_FROM = "fine-tuned-from"


@dataclass(frozen=True)
class Group:
    """Records of one dataset written alike: same generator, organisation, role, day and terms."""

    provider: str
    model: str
    model_returned: str | None
    service: str | None
    organization: str | None
    role: str
    day: str | None
    terms: str | None
    """Terms named by the manifests (an id or a family); None = resolved through the catalog."""
    records: int

    @property
    def effective_model(self) -> str:
        return self.model_returned or self.model

    def key(self) -> tuple[Any, ...]:
        return (
            self.provider,
            self.model,
            self.model_returned,
            self.service,
            self.organization,
            self.role,
            self.day,
            self.terms,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "model_returned": self.model_returned,
            "service": self.service,
            "organization": self.organization,
            "role": self.role,
            "generated_day": self.day,
            "terms": self.terms,
            "records": self.records,
        }


@dataclass(frozen=True)
class Dataset:
    name: str
    digest: str
    records: int
    manifests: int
    registered_at: str
    log_seq: int
    files: tuple[str, ...] = ()
    statuses: Mapping[str, int] = field(default_factory=dict)
    """Verification status at ingest → records."""
    groups: tuple[Group, ...] = ()

    @property
    def untagged(self) -> int:
        return self.statuses.get("missing-manifest", 0)

    @property
    def synthetic(self) -> int:
        return self.statuses.get("ok", 0)

    @property
    def label(self) -> str:
        return f"{self.name} ({self.digest[:19]}…)"


@dataclass(frozen=True)
class Model:
    name: str
    organization: str | None
    registered_at: str
    log_seq: int


@dataclass(frozen=True)
class Edge:
    model: str
    kind: str
    target: str
    target_digest: str
    activity: str | None
    declared_at: str
    log_seq: int


@dataclass(frozen=True)
class Decision:
    terms: str
    decision: str
    records: int
    clause: str | None


@dataclass(frozen=True)
class Audit:
    report_digest: str
    recorded_at: str
    generated_at: str
    verdict: str
    outcome: str
    fail_on: str
    target: str
    dataset_digest: str
    policies: tuple[tuple[str, str | None], ...]
    decisions: tuple[Decision, ...]
    tool_version: str
    log_seq: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "report_digest": self.report_digest,
            "recorded_at": self.recorded_at,
            "log_entry": self.log_seq,
            "verdict": self.verdict,
            "outcome": self.outcome,
            "target": self.target,
            "dataset_digest": self.dataset_digest,
            "decisions": [
                {"terms": d.terms, "decision": d.decision, "records": d.records, "clause": d.clause}
                for d in self.decisions
            ],
            "policies": [{"id": i, "digest": d} for i, d in self.policies],
        }


@dataclass
class Closure:
    """Everything upstream of a model or dataset."""

    datasets: dict[tuple[str, str], Dataset] = field(default_factory=dict)
    """(name, digest) → dataset: each name the closure reaches, so the same data registered
    under two names is there under each name asked for."""
    models: dict[str, Model] = field(default_factory=dict)
    """casefolded name → model."""
    undeclared: set[str] = field(default_factory=set)
    """Datasets named in lineage but not ingested."""
    external_models: set[str] = field(default_factory=set)
    """Generator models that are not registered (their training is not known here)."""


class Snapshot:
    """The registry's models, datasets, lineage and audits at one moment."""

    def __init__(
        self,
        models: Iterable[Model],
        datasets: Iterable[Dataset],
        edges: Iterable[Edge],
        audits: Iterable[Audit],
    ) -> None:
        self.models = {m.name.casefold(): m for m in models}
        self.datasets = sorted(datasets, key=lambda d: d.log_seq)
        self.edges = sorted(edges, key=lambda e: e.log_seq)
        self.audits = sorted(audits, key=lambda a: a.log_seq)
        self._with_digest: dict[str, list[Dataset]] = {}
        for d in self.datasets:
            self._with_digest.setdefault(d.digest, []).append(d)

    # ---- lookups ------------------------------------------------------------------------

    def dataset(self, name_or_digest: str) -> Dataset | None:
        """A dataset by digest (``sha256:…``), else the latest registered under a name."""
        key = name_or_digest if name_or_digest.startswith("sha256:") else None
        if key is None and len(name_or_digest) == 64 and _is_hex(name_or_digest):
            key = "sha256:" + name_or_digest
        if key is not None and key in self._with_digest:
            return self._with_digest[key][-1]
        named = [d for d in self.datasets if d.name == name_or_digest]
        return named[-1] if named else None

    def by_digest(self, digest: str) -> Dataset | None:
        """The dataset registered last with this digest (the same data may have several names:
        :meth:`with_digest` lists them all)."""
        found = self._with_digest.get(digest)
        return found[-1] if found else None

    def with_digest(self, digest: str) -> list[Dataset]:
        """Every registration of this data, under each of its names, oldest first."""
        return list(self._with_digest.get(digest, ()))

    def named(self, name: str, digest: str) -> Dataset | None:
        """The dataset registered under ``name`` with ``digest``, else any registration of that
        data (a lineage edge names both: the name wins when the same data has several)."""
        found = self._with_digest.get(digest, [])
        return next((d for d in found if d.name == name), found[-1] if found else None)

    def model(self, name: str | None) -> Model | None:
        return None if not name else self.models.get(name.casefold())

    def generator_model(self, group: Group) -> Model | None:
        """The registered model that wrote a group, matched by name as requested or returned."""
        return self.model(group.model_returned) or self.model(group.model)

    def edges_of(self, model: str) -> list[Edge]:
        return [e for e in self.edges if e.model.casefold() == model.casefold()]

    def trained_on(self, model: str) -> list[tuple[Edge, Dataset | None]]:
        out = []
        for edge in self.edges_of(model):
            if edge.kind == TRAINED_ON:
                found = self.named(edge.target, edge.target_digest) if edge.target_digest else None
                out.append((edge, found or self.dataset(edge.target)))
        return out

    def bases(self, model: str) -> list[Edge]:
        return [e for e in self.edges_of(model) if e.kind == FINE_TUNED_FROM]

    def audits_of(self, dataset: Dataset) -> list[Audit]:
        return [a for a in self.audits if a.dataset_digest == dataset.digest]

    def trained_models(self, dataset: Dataset) -> list[tuple[Edge, Model | None]]:
        out = []
        for edge in self.edges:
            if edge.kind != TRAINED_ON:
                continue
            if edge.target_digest:
                # Declared on a registration: the one with the name and digest it names.
                if self.named(edge.target, edge.target_digest) != dataset:
                    continue
            elif edge.target != dataset.name:
                continue
            out.append((edge, self.model(edge.model)))
        return out

    # ---- closure ------------------------------------------------------------------------

    def closure(self, *, model: str | None = None, dataset: Dataset | None = None) -> Closure:
        """Every dataset and model upstream of a model (its training data and base weights, and
        theirs) or of a dataset (the models that wrote it, and theirs)."""
        out = Closure()
        todo_models: list[str] = [model] if model else []
        todo_data: list[Dataset] = [dataset] if dataset else []
        while todo_models or todo_data:
            if todo_data:
                d = todo_data.pop()
                if (d.name, d.digest) in out.datasets:
                    continue
                out.datasets[d.name, d.digest] = d
                for group in d.groups:
                    writer = self.generator_model(group)
                    if writer is None:
                        out.external_models.add(group.effective_model)
                    else:
                        todo_models.append(writer.name)
                continue
            name = todo_models.pop()
            found = self.model(name)
            if found is None:
                out.external_models.add(name)
                continue
            if found.name.casefold() in out.models:
                continue
            out.models[found.name.casefold()] = found
            for edge, trained in self.trained_on(found.name):
                if trained is None:
                    out.undeclared.add(edge.target)
                else:
                    todo_data.append(trained)
            todo_models.extend(e.target for e in self.bases(found.name))
        return out

    def dependence(
        self,
        group_match: Callable[[Group], bool],
        dataset_match: Callable[[Dataset], bool] | None = None,
        model_match: Callable[[str], bool] | None = None,
    ) -> Dependence:
        return Dependence(self, group_match, dataset_match, model_match)


class Dependence:
    """Which models, datasets and groups depend, at any distance, on what the matchers match."""

    def __init__(
        self,
        snapshot: Snapshot,
        group_match: Callable[[Group], bool],
        dataset_match: Callable[[Dataset], bool] | None,
        model_match: Callable[[str], bool] | None,
    ) -> None:
        self.snapshot = snapshot
        self._group_match = group_match
        self._dataset_match = dataset_match
        self._model_match = model_match
        self._datasets: dict[str, bool] = {}
        self._models: dict[str, bool] = {}

    def group(self, group: Group) -> bool:
        """A group depends when it matches or the model that wrote it depends."""
        if self._group_match(group):
            return True
        writer = self.snapshot.generator_model(group)
        return writer is not None and self.model(writer.name)

    def dataset(self, dataset: Dataset) -> bool:
        known = self._datasets.get(dataset.digest)
        if known is not None:
            return known
        self._datasets[dataset.digest] = False  # a cycle never makes itself true
        result = (self._dataset_match is not None and self._dataset_match(dataset)) or any(
            self.group(g) for g in dataset.groups
        )
        self._datasets[dataset.digest] = result
        return result

    def model(self, name: str) -> bool:
        key = name.casefold()
        known = self._models.get(key)
        if known is not None:
            return known
        self._models[key] = False
        result = self._model_match is not None and self._model_match(name)
        if not result:
            result = any(
                d is not None and self.dataset(d) for _, d in self.snapshot.trained_on(name)
            )
        if not result:
            result = any(self.model(e.target) for e in self.snapshot.bases(name))
        self._models[key] = result
        return result


# ---- terms in force ------------------------------------------------------------------------


class TermsResolver:
    """The terms documents in force for a group: the ones its manifests name, else the catalog's
    terms for its model and channel; versions picked by the day it was generated."""

    def __init__(self, library: PolicyLibrary | None) -> None:
        self.library = library
        self._memo: dict[tuple[Any, ...], tuple[str, ...]] = {}

    def terms(self, group: Group) -> tuple[str, ...]:
        key = group.key()
        known = self._memo.get(key)
        if known is not None:
            return known
        refs: list[str] = []
        if group.terms:
            refs = [group.terms]
        elif self.library is not None:
            entry = self.library.catalog.model(group.model, group.model_returned)
            if entry is not None:
                refs = [r for _, rs in entry.terms_for(channel_of(group.service)) for r in rs]
        out: list[str] = []
        day = date.fromisoformat(group.day) if group.day else None
        for ref in refs:
            if self.library is None:
                out.append(ref)
                continue
            resolved = self.library.resolve(ref, day)
            if resolved.documents:
                out.extend(d.id for d in resolved.documents)
            else:
                out.append(ref)
        result = tuple(dict.fromkeys(out))
        self._memo[key] = result
        return result


@dataclass(frozen=True)
class Filters:
    """What a query looks for in the outputs behind data: generator, terms and dates."""

    provider: str | None = None
    model: str | None = None
    terms: str | None = None
    since: str | None = None
    until: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.provider or self.model or self.terms or self.since or self.until)

    def model_matches(self, name: str | None) -> bool:
        if self.model is None:
            return True
        if not name:
            return False
        return fnmatch.fnmatchcase(name.casefold(), self.model.casefold())

    def group_matches(self, group: Group, resolver: TermsResolver) -> bool:
        if self.provider is not None and group.provider.casefold() != self.provider.casefold():
            return False
        if self.model is not None and not (
            self.model_matches(group.model) or self.model_matches(group.model_returned)
        ):
            return False
        if self.since is not None and (group.day is None or group.day < self.since):
            return False
        if self.until is not None and (group.day is None or group.day > self.until):
            return False
        return self.terms is None or terms_match(self.terms, resolver.terms(group))

    def base_model_matcher(self) -> Callable[[str], bool] | None:
        """A base model counts as a match only when the filter names a model and nothing else."""
        if self.model is None or self.provider or self.terms or self.since or self.until:
            return None
        return self.model_matches


def terms_match(wanted: str, found: Iterable[str]) -> bool:
    """Whether ``wanted`` (an exact id, or a family for every version) names one of ``found``."""
    family, version = split_ref(wanted)
    for ref in found:
        if ref == wanted:
            return True
        if version is None and split_ref(ref)[0] == family:
            return True
    return False


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True
