"""``provenance trace`` and ``provenance query``: answers from the registry's evidence.

``trace`` follows one record: its manifest(s), the generator of each part and the terms in force,
the datasets holding it with every recorded audit's decisions, and — for a generator that is a
registered model — that model's training data and base weights, recursively.

``query`` lists models, datasets or records that hold, or with ``depends_on`` depend on at any
distance, outputs matching a filter (provider, model, terms document, generation dates), or a given
dataset; optionally within what one trained model was built from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from provenance.errors import InputError
from provenance.limits import DEFAULT_LIMITS
from provenance.registry.model import (
    Audit,
    Dataset,
    Dependence,
    Filters,
    Group,
    Model,
    Snapshot,
    TermsResolver,
)
from provenance.registry.store import Registry

# ---- trace ---------------------------------------------------------------------------------


def trace(registry: Registry, key: str, resolver: TermsResolver) -> dict[str, Any]:
    """Everything the registry knows about a record (by id or content digest)."""
    snapshot = registry.snapshot()
    manifests = registry.manifests_for(key)
    digests = {m.content_digest for m in manifests}
    bare = key.removeprefix("sha256:").lower()
    if not digests and len(bare) == 64:
        digests = {bare}
    records = []
    for manifest in manifests:
        parts = []
        for row in registry.contributions_of(manifest.envelope_digest):
            group = Group(
                row.provider,
                row.model,
                row.model_returned,
                row.service,
                row.organization,
                row.role,
                row.generated_day,
                row.terms_id,
                1,
            )
            writer = snapshot.generator_model(group)
            parts.append(
                {
                    "pointer": row.pointer,
                    "role": row.role,
                    "generator": {
                        "provider": row.provider,
                        "model": row.model,
                        "model_returned": row.model_returned,
                        "service": row.service,
                    },
                    "generated_at": row.generated_at,
                    "terms_named": row.terms_id,
                    "terms_in_force": list(resolver.terms(group)),
                    "model": None
                    if writer is None
                    else model_tree(snapshot, resolver, writer, set(), 0),
                }
            )
        records.append(
            {
                "record_id": manifest.record_id,
                "content_digest": "sha256:" + manifest.content_digest,
                "envelope_digest": manifest.envelope_digest,
                "log_entry": manifest.log_seq,
                "signed_at": manifest.signed_at,
                "signer_keyid": manifest.signer_keyid,
                "organization": manifest.organization,
                "mode": manifest.mode,
                "contributions": parts,
            }
        )
    holders = []
    for digest in sorted(digests):
        for dataset_digest, position, status in registry.datasets_holding(digest):
            # The same data registered under several names: each name holds the record.
            for dataset in snapshot.with_digest(dataset_digest):
                holders.append(
                    {
                        **_dataset_head(snapshot, dataset),
                        "position": position,
                        "status": status,
                        "trained_models": [e.model for e, _ in snapshot.trained_models(dataset)],
                    }
                )
    if not records and not holders:
        raise InputError(f"the registry holds no record with id or digest '{key}'")
    return {"query": key, "records": records, "datasets": holders}


def _dataset_head(snapshot: Snapshot, dataset: Dataset) -> dict[str, Any]:
    return {
        "dataset": dataset.name,
        "dataset_digest": dataset.digest,
        "records": dataset.records,
        "log_entry": dataset.log_seq,
        "audits": [a.to_dict() for a in snapshot.audits_of(dataset)],
    }


def model_tree(
    snapshot: Snapshot, resolver: TermsResolver, model: Model, seen: set[str], depth: int
) -> dict[str, Any]:
    """A model's lineage as a tree. ``seen`` is shared by the whole walk: a model reached again
    (a diamond or a cycle) is shown once and then marked ``repeated``, so the walk is linear in
    the lineage; past ``Limits.max_graph_depth`` steps the tree is cut and marked ``too_deep``."""
    out: dict[str, Any] = {"model": model.name, "organization": model.organization}
    key = model.name.casefold()
    if key in seen:
        out["repeated"] = True
        return out
    if depth > DEFAULT_LIMITS.max_graph_depth:
        out["too_deep"] = DEFAULT_LIMITS.max_graph_depth
        return out
    seen.add(key)
    trained = []
    for edge, dataset in snapshot.trained_on(model.name):
        if dataset is None:
            trained.append(
                {"dataset": edge.target, "registered": False, "declared_at": edge.declared_at}
            )
            continue
        head = _dataset_head(snapshot, dataset)
        head["declared_at"] = edge.declared_at
        head["checked_before_training"] = checked_before(snapshot, dataset, edge.log_seq)
        generators = []
        for group in dataset.groups:
            writer = snapshot.generator_model(group)
            generators.append(
                {
                    **group.to_dict(),
                    "terms_in_force": list(resolver.terms(group)),
                    "writer": None
                    if writer is None
                    else model_tree(snapshot, resolver, writer, seen, depth + 1),
                }
            )
        head["generators"] = generators
        trained.append(head)
    out["trained_on"] = trained
    out["base_models"] = [
        model_tree(snapshot, resolver, base, seen, depth + 1)
        if (base := snapshot.model(edge.target)) is not None
        else {"model": edge.target}
        for edge in snapshot.bases(model.name)
    ]
    return out


def checked_before(snapshot: Snapshot, dataset: Dataset, seq: int) -> list[dict[str, Any]]:
    """The audits of a dataset recorded before log entry ``seq`` (a training declaration)."""
    return [
        {"report_digest": a.report_digest, "verdict": a.verdict, "log_entry": a.log_seq}
        for a in snapshot.audits_of(dataset)
        if a.log_seq < seq
    ]


def trace_lines(result: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for record in result["records"]:
        out.append(
            f"record {record['record_id']} {record['content_digest']} (log #{record['log_entry']}, "
            f"signed {record['signed_at'] or '?'} by key {record['signer_keyid'][:16]}, "
            f"organisation {record['organization'] or '?'})"
        )
        for part in record["contributions"]:
            g = part["generator"]
            model = g["model_returned"] or g["model"]
            terms = ", ".join(part["terms_in_force"]) or "no terms known"
            out.append(
                f"  {part['pointer'] or '(whole record)'} [{part['role']}] ← {g['provider']}/{model} "
                f"via {g['service'] or '?'} on {part['generated_at'] or '?'}; terms in force: {terms}"
            )
            if part["model"]:
                out.extend(tree_lines(part["model"], "    "))
    for holder in result["datasets"]:
        out.append(
            f"in dataset {holder['dataset']} {holder['dataset_digest']} at position "
            f"{holder['position']} ({holder['status']})"
        )
        out.extend(_audit_lines(holder["audits"], "  "))
        for model in holder["trained_models"]:
            out.append(f"  trained model: {model}")
    return out


def _audit_lines(audits: list[dict[str, Any]], indent: str) -> list[str]:
    if not audits:
        return [f"{indent}no recorded audit"]
    out = []
    for audit in audits:
        out.append(
            f"{indent}audit {audit['report_digest'][:12]} (log #{audit['log_entry']}, "
            f"{audit['recorded_at']}, target {audit['target']}): {audit['verdict'].upper()}"
        )
        for d in audit["decisions"]:
            clause = f" §{d['clause']}" if d["clause"] else ""
            out.append(f"{indent}  {d['terms']}{clause}: {d['decision']} ({d['records']} records)")
    return out


def tree_lines(tree: dict[str, Any], indent: str) -> list[str]:
    out = [f"{indent}model {tree['model']} (registered)"]
    if tree.get("repeated"):
        return [out[0] + " — already shown"]
    if tree.get("too_deep"):
        return [out[0] + f" — more than {tree['too_deep']} steps away, not shown"]
    for trained in tree.get("trained_on", []):
        if not trained.get("dataset_digest"):
            out.append(f"{indent}  trained on {trained['dataset']} (not ingested)")
            continue
        before = trained.get("checked_before_training") or []
        checked = "audited before training" if before else "no audit recorded before training"
        out.append(
            f"{indent}  trained on {trained['dataset']} {trained['dataset_digest']} "
            f"({trained['records']} records; {checked})"
        )
        out.extend(_audit_lines(trained["audits"], indent + "    "))
        for g in trained["generators"]:
            terms = ", ".join(g["terms_in_force"]) or "no terms known"
            out.append(
                f"{indent}    {g['records']} records by {g['provider']}/"
                f"{g['model_returned'] or g['model']} ({g['role']}, {g['generated_day'] or '?'}); "
                f"terms: {terms}"
            )
            if g["writer"]:
                out.extend(tree_lines(g["writer"], indent + "      "))
    for base in tree.get("base_models", []):
        if "trained_on" in base or base.get("repeated") or base.get("too_deep"):
            out.append(f"{indent}  built on:")
            out.extend(tree_lines(base, indent + "    "))
        else:
            out.append(f"{indent}  built on {base['model']}")
    return out


# ---- query ---------------------------------------------------------------------------------


@dataclass
class QueryResult:
    what: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]] = field(default_factory=list)
    truncated: bool = False


WHATS = ("models", "datasets", "records")


def query(
    registry: Registry,
    resolver: TermsResolver,
    filters: Filters,
    *,
    what: str = "models",
    dataset: str | None = None,
    trained_model: str | None = None,
    depends_on: bool = False,
    limit: int = 1000,
) -> QueryResult:
    if what not in WHATS:
        raise InputError(f"unknown --what '{what}'", hint="use models, datasets or records")
    snapshot = registry.snapshot()
    target = None
    if dataset is not None:
        target = snapshot.dataset(dataset)
        if target is None:
            raise InputError(f"the registry holds no dataset '{dataset}'")
    scope_models: set[str] | None = None
    scope_digests: set[str] | None = None
    if trained_model is not None:
        if snapshot.model(trained_model) is None:
            raise InputError(f"the registry holds no model '{trained_model}'")
        if depends_on:
            closure = snapshot.closure(model=trained_model)
            scope_models = set(closure.models)
            scope_digests = {d.digest for d in closure.datasets.values()}
        else:
            scope_models = {trained_model.casefold()}
            scope_digests = {d.digest for _, d in snapshot.trained_on(trained_model) if d}

    def group_match(group: Group) -> bool:
        # With --dataset and no other filter, only the dataset is what is depended on.
        if target is not None and filters.empty:
            return False
        return filters.group_matches(group, resolver)

    def dataset_match(d: Dataset) -> bool:
        return target is not None and d.digest == target.digest

    dep = snapshot.dependence(
        group_match, dataset_match if target is not None else None, filters.base_model_matcher()
    )
    witness = _Witness(snapshot, dep, group_match, dataset_match, filters, resolver)
    if what == "models":
        return _models(snapshot, dep, witness, scope_models, depends_on, target, group_match, limit)
    if what == "datasets":
        return _datasets(
            snapshot,
            dep,
            witness,
            scope_digests,
            depends_on,
            target,
            group_match,
            filters,
            resolver,
            limit,
        )
    return _records(
        registry,
        snapshot,
        dep,
        scope_digests,
        depends_on,
        target,
        lambda g: filters.group_matches(g, resolver),
        resolver,
        limit,
    )


def _models(
    snapshot: Snapshot,
    dep: Dependence,
    witness: _Witness,
    scope: set[str] | None,
    depends_on: bool,
    target: Dataset | None,
    group_match: Callable[[Group], bool],
    limit: int,
) -> QueryResult:
    result = QueryResult("models", ("model", "organization", "trained_on", "registered_at", "via"))
    for model in sorted(snapshot.models.values(), key=lambda m: m.log_seq):
        if scope is not None and model.name.casefold() not in scope:
            continue
        own = witness.filters.base_model_matcher()
        if own is not None and own(model.name):
            continue  # the model asked about is not listed as depending on itself
        if depends_on:
            hit = dep.model(model.name)
        else:
            hit = any(
                d is not None
                and (
                    (target is not None and d.digest == target.digest)
                    or (target is None and any(group_match(g) for g in d.groups))
                )
                for _, d in snapshot.trained_on(model.name)
            )
        if not hit:
            continue
        result.rows.append(
            {
                "model": model.name,
                "organization": model.organization,
                "trained_on": [e.target for e, _ in snapshot.trained_on(model.name)],
                "registered_at": model.registered_at,
                "via": " → ".join(witness.model(model.name, set())),
            }
        )
    return _limit(result, limit)


def _datasets(
    snapshot: Snapshot,
    dep: Dependence,
    witness: _Witness,
    scope: set[str] | None,
    depends_on: bool,
    target: Dataset | None,
    group_match: Callable[[Group], bool],
    filters: Filters,
    resolver: TermsResolver,
    limit: int,
) -> QueryResult:
    result = QueryResult(
        "datasets",
        (
            "dataset",
            "dataset_digest",
            "records",
            "matching_records",
            "registered_at",
            "trained_models",
            "via",
        ),
    )
    for dataset in snapshot.datasets:
        if scope is not None and dataset.digest not in scope:
            continue
        if target is not None and not depends_on and dataset.digest != target.digest:
            continue
        matching = sum(g.records for g in dataset.groups if filters.group_matches(g, resolver))
        hit = (
            dep.dataset(dataset)
            if depends_on
            else (
                (target is not None and dataset.digest == target.digest)
                or any(group_match(g) for g in dataset.groups)
            )
        )
        if not hit:
            continue
        result.rows.append(
            {
                "dataset": dataset.name,
                "dataset_digest": dataset.digest,
                "records": dataset.records,
                "matching_records": matching if not filters.empty else dataset.records,
                "registered_at": dataset.registered_at,
                "trained_models": [e.model for e, _ in snapshot.trained_models(dataset)],
                "via": " → ".join(witness.dataset(dataset, set())),
            }
        )
    return _limit(result, limit)


def _records(
    registry: Registry,
    snapshot: Snapshot,
    dep: Dependence,
    scope: set[str] | None,
    depends_on: bool,
    target: Dataset | None,
    group_match: Callable[[Group], bool],
    resolver: TermsResolver,
    limit: int,
) -> QueryResult:
    result = QueryResult(
        "records",
        (
            "record_id",
            "content_digest",
            "dataset",
            "provider",
            "model",
            "service",
            "role",
            "generated_day",
            "terms",
        ),
    )
    digests: set[str] | None = scope
    if target is not None:
        digests = {target.digest} if digests is None else digests & {target.digest}
    seen: set[tuple[str, int, str | None]] = set()
    rows = registry.record_rows(None if digests is None else sorted(digests))
    for row, dataset_digest in rows:
        group = Group(
            row.provider,
            row.model,
            row.model_returned,
            row.service,
            row.organization,
            row.role,
            row.generated_day,
            row.terms_id,
            1,
        )
        hit = group_match(group) or (depends_on and dep.group(group))
        if not hit:
            continue
        key = (row.envelope_digest, row.position, dataset_digest)
        if key in seen:
            continue
        seen.add(key)
        result.rows.append(
            {
                "record_id": row.record_id,
                "content_digest": "sha256:" + row.content_digest,
                "dataset": _dataset_names(snapshot, dataset_digest, target),
                "provider": row.provider,
                "model": row.model_returned or row.model,
                "service": row.service,
                "role": row.role,
                "generated_day": row.generated_day,
                "terms": ";".join(resolver.terms(group)),
            }
        )
        if len(result.rows) > limit:
            break
    return _limit(result, limit)


def _dataset_names(snapshot: Snapshot, digest: str | None, target: Dataset | None) -> str | None:
    """The name of the dataset asked about, else every name the data is registered under."""
    if digest is None:
        return None
    if target is not None and target.digest == digest:
        return target.name
    names = dict.fromkeys(d.name for d in snapshot.with_digest(digest))
    return ", ".join(names) or None


def _limit(result: QueryResult, limit: int) -> QueryResult:
    if len(result.rows) > limit:
        result.rows = result.rows[:limit]
        result.truncated = True
    return result


class _Witness:
    """One path explaining why a model or dataset matched (for the ``via`` column)."""

    def __init__(
        self,
        snapshot: Snapshot,
        dep: Dependence,
        group_match: Callable[[Group], bool],
        dataset_match: Callable[[Dataset], bool],
        filters: Filters,
        resolver: TermsResolver,
    ) -> None:
        self.snapshot = snapshot
        self.dep = dep
        self.group_match = group_match
        self.dataset_match = dataset_match
        self.filters = filters
        self.resolver = resolver

    def model(self, name: str, seen: set[str]) -> list[str]:
        if name.casefold() in seen:
            return []
        seen.add(name.casefold())
        matcher = self.filters.base_model_matcher()
        if matcher is not None and matcher(name):
            return [f"model {name}"]
        for edge, dataset in self.snapshot.trained_on(name):
            if dataset is not None and self.dep.dataset(dataset):
                return [f"trained on {edge.target}", *self.dataset(dataset, seen)]
        for edge in self.snapshot.bases(name):
            if self.dep.model(edge.target):
                return [f"built on {edge.target}", *self.model(edge.target, seen)]
        return []

    def dataset(self, dataset: Dataset, seen: set[str]) -> list[str]:
        if self.dataset_match(dataset):
            return []
        for group in dataset.groups:
            if self.group_match(group):
                terms = ", ".join(self.resolver.terms(group)) or "no terms known"
                return [f"{group.records} records by {group.effective_model} ({terms})"]
        for group in dataset.groups:
            writer = self.snapshot.generator_model(group)
            if writer is not None and self.dep.model(writer.name):
                return [f"records by {writer.name}", *self.model(writer.name, seen)]
        return []


def audits_for(snapshot: Snapshot, datasets: Sequence[Dataset]) -> list[Audit]:
    digests = {d.digest for d in datasets}
    return [a for a in snapshot.audits if a.dataset_digest in digests]
