"""What changed between two versions of the terms library, or between two terms documents.

Documents are compared by id, clauses by id within their document, as parsed values: a file
written differently (quoting, key order, folded text, a condition's parts in another order) holds
the same terms and is no change. Per changed clause the fields that changed are given with their
old and new values; obligations are matched by kind and text. The catalog is compared per model
pattern (the entry that pattern finds first) and per dataset name. Policy test files are not
compared: they check the terms, they are not terms.

The libraries are read by the command, :mod:`provenance.cli.policy_diff` (a directory, the
library folder of a git revision, or two documents of one library); how a diff is printed is
:mod:`provenance.policy.diff_render`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from provenance.policy.catalog import Catalog, CatalogDataset, CatalogModel
from provenance.policy.conditions import ALWAYS, AllOf, AnyOf, Compare, Condition, Not
from provenance.policy.terms import Clause, Obligation, TermsDocument

DIFF_SCHEMA = "provenance/policy-diff/v1"

Status = Literal["added", "removed", "changed"]

EFFECT_STRICTNESS: Mapping[str, int] = {"allow": 0, "obligations": 1, "review": 2, "deny": 3}
"""Effects from the most permissive to the most restrictive: an allow grants, obligations grant
on conditions, a review withholds until a fact is settled, a deny refuses."""

DOCUMENT_FIELDS = (
    "title",
    "provider",
    "document",
    "version",
    "binds",
    "source",
    "effective_from",
    "effective_until",
    "confidence",
    "summary",
)
"""The fields of a terms document compared, in the order they are reported."""

CLAUSE_FIELDS = (
    "section",
    "citation",
    "effect",
    "when",
    "confidence",
    "passes_to_derivatives",
    "settles",
    "paraphrase",
)
"""The fields of a clause compared (obligations apart), in the order they are reported."""


@dataclass(frozen=True)
class FieldChange:
    """One field whose value differs: texts, days as ISO text, flags, lists and mappings (catalog
    entries), a :class:`Condition` for a clause's ``when``; ``None`` = absent."""

    field: str
    old: Any
    new: Any
    direction: str | None = None
    """For an effect: ``stricter`` or ``looser``; otherwise ``None``."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "field": self.field,
            "old": _json_value(self.old),
            "new": _json_value(self.new),
        }
        if self.direction is not None:
            out["direction"] = self.direction
        return out


@dataclass(frozen=True)
class ObligationChange:
    """An obligation a clause gained, lost, or whose text changed (same kind)."""

    status: Status
    old: Obligation | None
    new: Obligation | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "old": None if self.old is None else self.old.to_dict(),
            "new": None if self.new is None else self.new.to_dict(),
        }


@dataclass(frozen=True)
class ClauseDiff:
    """A clause added, removed or changed within a changed document."""

    id: str
    status: Status
    old: Clause | None
    new: Clause | None
    changes: tuple[FieldChange, ...] = ()
    obligations: tuple[ObligationChange, ...] = ()

    @property
    def clause(self) -> Clause:
        """The clause as it is now, or as it was when removed."""
        found = self.new or self.old
        assert found is not None
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "section": self.clause.section,
            "citation": self.clause.citation,
            "old": None if self.old is None else self.old.to_dict(),
            "new": None if self.new is None else self.new.to_dict(),
            "changes": [c.to_dict() for c in self.changes],
            "obligations": [o.to_dict() for o in self.obligations],
        }


@dataclass(frozen=True)
class DocumentDiff:
    """A terms document added, removed or changed (its fields and clauses)."""

    status: Status
    old: TermsDocument | None
    new: TermsDocument | None
    changes: tuple[FieldChange, ...] = ()
    clauses: tuple[ClauseDiff, ...] = ()

    @property
    def document(self) -> TermsDocument:
        """The document as it is now, or as it was when removed."""
        found = self.new or self.old
        assert found is not None
        return found

    @property
    def id(self) -> str:
        return self.document.id

    def to_dict(self) -> dict[str, Any]:
        whole = self.document.to_dict() if self.status != "changed" else None
        return {
            "id": self.id,
            "old_id": None if self.old is None else self.old.id,
            "new_id": None if self.new is None else self.new.id,
            "status": self.status,
            "title": self.document.title,
            "changes": [c.to_dict() for c in self.changes],
            "clauses": [c.to_dict() for c in self.clauses],
            "document": whole,
        }


@dataclass(frozen=True)
class CatalogEntryDiff:
    """A catalog model pattern or dataset added, removed or changed."""

    kind: Literal["model", "dataset"]
    key: str
    """The model pattern or the dataset name."""
    status: Status
    old: Mapping[str, Any] | None
    new: Mapping[str, Any] | None
    changes: tuple[FieldChange, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        name = "match" if self.kind == "model" else "name"
        return {
            name: self.key,
            "status": self.status,
            "old": None if self.old is None else dict(self.old),
            "new": None if self.new is None else dict(self.new),
            "changes": [c.to_dict() for c in self.changes],
        }


@dataclass(frozen=True)
class Side:
    """One side of a comparison: what was read, for the header of the report."""

    kind: Literal["library", "git", "document"]
    source: str
    """The directory, ``git:REV`` with its repository and folder, or the document id."""
    digest: str | None = None
    """The digest of the library read (:func:`provenance.policy.loader.library_digest`)."""
    library: str | None = None
    """For a document: the library it was read from."""

    def describe(self) -> str:
        where = f" in {self.library}" if self.library else ""
        digest = f" ({self.digest})" if self.digest else ""
        return f"{self.source}{where}{digest}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "source": self.source,
            "digest": self.digest,
            "library": self.library,
        }


@dataclass(frozen=True)
class PolicyDiff:
    """Everything that differs between two libraries (or two documents)."""

    old: Side
    new: Side
    documents: tuple[DocumentDiff, ...] = ()
    models: tuple[CatalogEntryDiff, ...] = ()
    datasets: tuple[CatalogEntryDiff, ...] = ()
    compares_catalog: bool = field(default=True)
    """False when two documents were compared: there is no catalog then."""

    @property
    def identical(self) -> bool:
        return not (self.documents or self.models or self.datasets)

    def summary(self) -> dict[str, int | bool]:
        out: dict[str, int | bool] = {}
        for status in ("added", "removed", "changed"):
            out[f"documents_{status}"] = sum(d.status == status for d in self.documents)
            out[f"clauses_{status}"] = sum(
                c.status == status for d in self.documents for c in d.clauses
            )
            out[f"catalog_models_{status}"] = sum(m.status == status for m in self.models)
            out[f"catalog_datasets_{status}"] = sum(m.status == status for m in self.datasets)
        out["identical"] = self.identical
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": DIFF_SCHEMA,
            "old": self.old.to_dict(),
            "new": self.new.to_dict(),
            "summary": self.summary(),
            "documents": [d.to_dict() for d in self.documents],
            "catalog": {
                "compared": self.compares_catalog,
                "models": [m.to_dict() for m in self.models],
                "datasets": [d.to_dict() for d in self.datasets],
            },
        }


# -- comparing -----------------------------------------------------------------------------------


def normal_condition(condition: Condition) -> Any:
    """A condition as a value that does not depend on how it was written: nested ``all`` (and
    nested ``any``) flattened, their parts and the values of ``in``, ``not_in`` and
    ``contains_any`` in a fixed order, a one-part ``all``/``any`` as that part."""
    if isinstance(condition, Compare):
        value = condition.to_dict()[condition.fact][condition.op]
        if isinstance(value, list) and condition.op in ("in", "not_in", "contains_any"):
            value = sorted(value, key=_sort_key)
        return {condition.fact: {condition.op: value}}
    if isinstance(condition, Not):
        return {"not": normal_condition(condition.part)}
    if isinstance(condition, AllOf | AnyOf):
        kind = type(condition)
        flat: list[Condition] = []
        pending = list(condition.parts)
        while pending:
            part = pending.pop(0)
            if type(part) is kind:
                assert isinstance(part, AllOf | AnyOf)
                pending[:0] = part.parts
            else:
                flat.append(part)
        parts = sorted((normal_condition(p) for p in flat), key=_sort_key)
        if len(parts) == 1:
            return parts[0]
        return {"all" if kind is AllOf else "any": parts}
    return condition.to_dict()


def _sort_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _json_value(value: Any) -> Any:
    """A field's value for JSON: a condition as its mapping, ``None`` for a clause without one."""
    if isinstance(value, Condition):
        return None if value == ALWAYS else value.to_dict()
    return value


def _field_value(obj: TermsDocument | Clause, name: str) -> Any:
    value = getattr(obj, name)
    if name == "when":
        return value
    return value.isoformat() if hasattr(value, "isoformat") else value


def _changes(
    old: TermsDocument | Clause, new: TermsDocument | Clause, names: Iterable[str]
) -> tuple[FieldChange, ...]:
    out: list[FieldChange] = []
    for name in names:
        before, after = _field_value(old, name), _field_value(new, name)
        if name == "when":
            if normal_condition(before) != normal_condition(after):
                out.append(FieldChange(name, before, after))
            continue
        if before == after:
            continue
        direction = None
        if name == "effect":
            stricter = EFFECT_STRICTNESS[after] > EFFECT_STRICTNESS[before]
            direction = "stricter" if stricter else "looser"
        out.append(FieldChange(name, before, after, direction))
    return tuple(out)


def _obligation_changes(old: Clause, new: Clause) -> tuple[ObligationChange, ...]:
    """Obligations gained and lost; one lost and one gained of the same kind are one change of
    text. Obligations in both (same kind and text) are no change, in whatever order."""
    before = list(old.obligations)
    after = list(new.obligations)
    for obligation in list(before):
        if obligation in after:
            before.remove(obligation)
            after.remove(obligation)
    out: list[ObligationChange] = []
    for obligation in before:
        same_kind = next((o for o in after if o.kind == obligation.kind), None)
        if same_kind is not None:
            after.remove(same_kind)
            out.append(ObligationChange("changed", obligation, same_kind))
        else:
            out.append(ObligationChange("removed", obligation, None))
    out.extend(ObligationChange("added", None, o) for o in after)
    return tuple(out)


def diff_clauses(old: Clause, new: Clause) -> ClauseDiff | None:
    """How a clause changed (``old`` and ``new`` have the same id); ``None`` when it did not."""
    changes = _changes(old, new, CLAUSE_FIELDS)
    obligations = _obligation_changes(old, new)
    if not changes and not obligations:
        return None
    return ClauseDiff(new.id, "changed", old, new, changes, obligations)


def diff_documents(old: TermsDocument, new: TermsDocument) -> DocumentDiff | None:
    """How a document changed: its fields, then its clauses by id (removed, changed and kept in
    the old order, added in the new order); ``None`` when nothing did."""
    changes = _changes(old, new, DOCUMENT_FIELDS)
    clauses: list[ClauseDiff] = []
    for clause in old.clauses:
        now = new.clause(clause.id)
        if now is None:
            clauses.append(ClauseDiff(clause.id, "removed", clause, None))
        else:
            changed = diff_clauses(clause, now)
            if changed is not None:
                clauses.append(changed)
    old_ids = {c.id for c in old.clauses}
    clauses += [ClauseDiff(c.id, "added", None, c) for c in new.clauses if c.id not in old_ids]
    if not changes and not clauses:
        return None
    return DocumentDiff("changed", old, new, changes, tuple(clauses))


def _keyed_diff(
    old: Mapping[str, Mapping[str, Any]],
    new: Mapping[str, Mapping[str, Any]],
    kind: Literal["model", "dataset"],
    names: Callable[[str], str],
) -> tuple[CatalogEntryDiff, ...]:
    out: list[CatalogEntryDiff] = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        label = names(key)
        if before is None:
            out.append(CatalogEntryDiff(kind, label, "added", None, after))
        elif after is None:
            out.append(CatalogEntryDiff(kind, label, "removed", before, None))
        elif before != after:
            changes = tuple(
                FieldChange(k, before.get(k), after.get(k))
                for k in sorted(set(before) | set(after))
                if before.get(k) != after.get(k)
            )
            out.append(CatalogEntryDiff(kind, label, "changed", before, after, changes))
    return tuple(out)


def _model_entries(catalog: Catalog) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Each model pattern (case-insensitively) → what the first entry holding it says."""
    entries: dict[str, dict[str, Any]] = {}
    spelled: dict[str, str] = {}
    for model in catalog.models:
        for pattern in model.match:
            key = pattern.casefold()
            if key not in entries:
                entries[key] = _model_value(model)
                spelled[key] = pattern
    return entries, spelled


def _model_value(model: CatalogModel) -> dict[str, Any]:
    value = model.to_dict()
    del value["match"]
    return value


def _dataset_entries(catalog: Catalog) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    entries: dict[str, dict[str, Any]] = {}
    spelled: dict[str, str] = {}
    for dataset in catalog.datasets:
        key = dataset.name.casefold()
        entries[key] = _dataset_value(dataset)
        spelled[key] = dataset.name
    return entries, spelled


def _dataset_value(dataset: CatalogDataset) -> dict[str, Any]:
    value = dataset.to_dict()
    del value["name"]
    return value


def diff_catalogs(
    old: Catalog, new: Catalog
) -> tuple[tuple[CatalogEntryDiff, ...], tuple[CatalogEntryDiff, ...]]:
    """Model patterns and datasets added, removed or changed."""
    old_models, old_spelled = _model_entries(old)
    new_models, new_spelled = _model_entries(new)
    spelled = {**old_spelled, **new_spelled}
    models = _keyed_diff(old_models, new_models, "model", spelled.__getitem__)
    old_sets, old_names = _dataset_entries(old)
    new_sets, new_names = _dataset_entries(new)
    names = {**old_names, **new_names}
    datasets = _keyed_diff(old_sets, new_sets, "dataset", names.__getitem__)
    return models, datasets


def diff_libraries(
    old_documents: Iterable[TermsDocument],
    new_documents: Iterable[TermsDocument],
    old_catalog: Catalog,
    new_catalog: Catalog,
    old_side: Side,
    new_side: Side,
) -> PolicyDiff:
    """Every document added, removed or changed (by id, sorted by id), and the catalog's
    changes."""
    before = {d.id: d for d in old_documents}
    after = {d.id: d for d in new_documents}
    documents: list[DocumentDiff] = []
    for doc_id in sorted(set(before) | set(after)):
        old, new = before.get(doc_id), after.get(doc_id)
        if old is None:
            documents.append(DocumentDiff("added", None, new))
        elif new is None:
            documents.append(DocumentDiff("removed", old, None))
        else:
            changed = diff_documents(old, new)
            if changed is not None:
                documents.append(changed)
    models, datasets = diff_catalogs(old_catalog, new_catalog)
    return PolicyDiff(old_side, new_side, tuple(documents), models, datasets)


def diff_two_documents(
    old: TermsDocument, new: TermsDocument, old_side: Side, new_side: Side
) -> PolicyDiff:
    """Two documents (two versions of one family, say) compared field by field and clause by
    clause; their ids may differ."""
    changed = diff_documents(old, new)
    documents = () if changed is None else (changed,)
    return PolicyDiff(old_side, new_side, documents, compares_catalog=False)
