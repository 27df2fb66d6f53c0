"""Safety properties of the engine: losing information, or adding a restriction, never loosens.

* Removing a manifest never turns deny into allow: the record becomes missing provenance.
* Removing a lineage edge never turns deny into allow, for lineages where each model and dataset
  has one declared source per slot (training data, base weights, generator): the gap becomes an
  unknown source. (A declaration that lists only some of several sources cannot be told apart from
  a true one; see docs/policy-format.md, "Lineage declarations".)
* Adding a restrictive clause to a document never makes its decision less severe.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from provenance.manifest import Contribution, Manifest
from provenance.policy.classes import group_records
from provenance.policy.conditions import ALWAYS, AllOf, AnyOf, Compare, Condition, Not
from provenance.policy.engine import assess, evaluate
from provenance.policy.library import PolicyLibrary
from provenance.policy.model import (
    SEVERITY,
    Clause,
    Intent,
    LineageDeclaration,
    Obligation,
    TermsDocument,
)
from provenance.policy.report import MissingProvenance
from tests.policy.builders import intent, library, manifest, part

CONTRIBUTIONS = [
    ("contoso", "contoso-large-2", "api"),
    ("contoso", "contoso-large-2", None),
    ("fabrikam", "fabrikam-7b", "self-hosted"),
    ("fabrikam", "fabrikam-7b", "some-host"),
    ("northwind", "northwind/nw-70b-instruct", "self-hosted"),
    ("tailspin", "tailspin-13b", "self-hosted"),
    ("zephyrus", "zephyrus-7b", "api"),
    ("rumour", "rumour-1", "api"),
    ("mystery", "mystery-9b", "api"),
]
POINTERS = ["", "/prompt", "/chosen", "/rejected", "/score"]
ROLES = ["response", "prompt", "judgement", "rewrite"]
DAYS = ["2023-06-01", "2024-05-31", "2024-06-01", "2024-10-01", None]


@st.composite
def contributions(draw: st.DrawFn, pointer: str) -> Contribution:
    provider, model, service = draw(st.sampled_from(CONTRIBUTIONS))
    return part(
        provider,
        model,
        service=service,
        pointer=pointer,
        role=draw(st.sampled_from(ROLES)),
        generated_at=draw(st.sampled_from(DAYS)),
    )


@st.composite
def manifests(draw: st.DrawFn, record_id: str) -> Manifest:
    pointers = draw(st.lists(st.sampled_from(POINTERS), min_size=1, max_size=3, unique=True))
    if "" in pointers:
        pointers = [""]
    parts = [draw(contributions(p)) for p in pointers]
    organization = draw(st.sampled_from(["acme", "other", None]))
    datasets = draw(st.sampled_from([(), ("tiny",), ("unknown-set",)]))
    return manifest(record_id, *parts, organization=organization, datasets=datasets)


@st.composite
def intents(draw: st.DrawFn) -> Intent:
    return intent(
        activity=draw(st.sampled_from(["fine-tune", "evaluate", "distill"])),
        commercial=draw(st.booleans()),
        distribution=draw(st.sampled_from(["internal", "api", "open-weights"])),
        competes_with=draw(
            st.one_of(
                st.none(),
                st.lists(st.sampled_from(["contoso", "rumour", "google"]), unique=True).map(tuple),
            )
        ),
        target_kind=draw(st.sampled_from(["chat-assistant", "reward-model", "classifier"])),
        target_name=draw(st.sampled_from(["acme-chat", "acme/Northwind-chat"])),
    )


@st.composite
def datasets_of_records(draw: st.DrawFn) -> list[Manifest]:
    count = draw(st.integers(1, 6))
    return [draw(manifests(f"r{i}")) for i in range(count)]


@settings(max_examples=150, deadline=None)
@given(datasets_of_records(), intents(), st.data())
def test_removing_a_manifest_never_loosens(
    records: list[Manifest], plan: Intent, data: st.DataObject
) -> None:
    full = evaluate(group_records(records), library(), plan)
    removed = data.draw(st.sets(st.integers(0, len(records) - 1), min_size=1))
    kept = [m for i, m in enumerate(records) if i not in removed]
    missing = [MissingProvenance("missing", len(removed), tuple(f"r{i}" for i in removed))]
    reduced = evaluate(group_records(kept), library(), plan, missing=missing)
    assert not (full.outcome == "deny" and reduced.outcome == "allow")
    assert SEVERITY[reduced.outcome] >= SEVERITY[full.outcome]


# -- lineage edges ---------------------------------------------------------------------------------

ORIGINS = [
    {"provider": "fabrikam", "model": "fabrikam-7b", "service": "self-hosted"},
    {"provider": "northwind", "model": "northwind/nw-70b-instruct", "service": "self-hosted"},
    {"provider": "tailspin", "model": "tailspin-13b", "service": "self-hosted"},
    {"provider": "contoso", "model": "contoso-large-2", "service": "api", "organization": "acme"},
    {"provider": "zephyrus", "model": "zephyrus-7b", "service": "api"},
]
BASES = [None, "zephyrus-7b", "northwind/nw-8b", "fabrikam-7b"]


@st.composite
def chains(draw: st.DrawFn) -> dict[str, Any]:
    """A lineage d1 → m1 → d2 → m2 … → m_n: each model trained on one dataset written by the
    model before it; each model has base weights or is pretrained from scratch."""
    length = draw(st.integers(1, 4))
    origin = dict(draw(st.sampled_from(ORIGINS)))
    origin["generated_at"] = draw(st.sampled_from(["2024-05-01", "2024-08-01", "2024-10-01"]))
    models: list[dict[str, Any]] = []
    for i in range(1, length + 1):
        base = draw(st.sampled_from(BASES))
        model: dict[str, Any] = {"name": f"acme/m{i}", "trained_on": [f"d{i}"]}
        model.update({"base_model": base} if base else {"activity": "pretrain"})
        models.append(model)
    datasets: list[dict[str, Any]] = [{"name": "d1", "generators": [origin]}]
    for i in range(2, length + 1):
        writer = {
            "provider": "acme",
            "model": f"acme/m{i - 1}",
            "service": "self-hosted",
            "generated_at": "2024-11-01",
        }
        datasets.append({"name": f"d{i}", "generators": [writer]})
    return {"schema": "provenance/lineage/v1", "models": models, "datasets": datasets}


def edges(lineage: dict[str, Any]) -> list[tuple[str, int, str]]:
    """Every declared edge: (section, index, field)."""
    out = [("models", i, "trained_on") for i in range(len(lineage["models"]))]
    out += [
        ("models", i, "base_model") for i, m in enumerate(lineage["models"]) if "base_model" in m
    ]
    out += [("datasets", i, "generators") for i in range(len(lineage["datasets"]))]
    return out


def without(lineage: dict[str, Any], edge: tuple[str, int, str]) -> dict[str, Any]:
    section, index, name = edge
    items = [dict(item) for item in lineage[section]]
    del items[index][name]
    return {**lineage, section: items}


@settings(max_examples=150, deadline=None)
@given(chains(), intents(), st.data())
def test_removing_a_lineage_edge_never_loosens(
    lineage: dict[str, Any], plan: Intent, data: st.DataObject
) -> None:
    last = f"acme/m{len(lineage['models'])}"
    classes = group_records([manifest("r1", part("acme", last))])
    full = evaluate(classes, library(), plan, LineageDeclaration.from_dict(lineage))
    edge = data.draw(st.sampled_from(edges(lineage)))
    cut = LineageDeclaration.from_dict(without(lineage, edge))
    reduced = evaluate(classes, library(), plan, cut)
    assert not (full.outcome == "deny" and reduced.outcome == "allow")
    assert SEVERITY[reduced.outcome] >= min(SEVERITY[full.outcome], SEVERITY["review"])


# -- adding a restriction ----------------------------------------------------------------------

LEAVES: list[Condition] = [
    Compare("intent.commercial", "eq", True),
    Compare("intent.competes_with", "contains", "contoso"),
    Compare("intent.distribution", "in", ("api", "open-weights")),
    Compare("class.role", "eq", "judgement"),
    Compare("class.organization", "eq", "acme"),
    Compare("intent.monthly_active_users", "gt", 1000),
    Compare("path.hops", "gt", 1),
]


def conditions() -> st.SearchStrategy[Condition]:
    return st.recursive(
        st.sampled_from([ALWAYS, *LEAVES]),
        lambda inner: st.one_of(
            st.builds(Not, inner),
            st.lists(inner, min_size=1, max_size=3).map(lambda p: AllOf(tuple(p))),
            st.lists(inner, min_size=1, max_size=3).map(lambda p: AnyOf(tuple(p))),
        ),
        max_leaves=5,
    )


@st.composite
def clauses(draw: st.DrawFn, clause_id: str, restrictive: bool = False) -> Clause:
    effects = (
        ["deny", "review", "obligations"]
        if restrictive
        else ["deny", "review", "obligations", "allow"]
    )
    effect = draw(st.sampled_from(effects))
    obligations: tuple[Obligation, ...] = ()
    if effect == "obligations":
        doc = library().require("northwind/community-licence@2024-07-23")
        obligations = doc.clauses[0].obligations[: draw(st.integers(1, 2))]
    return Clause(
        id=clause_id,
        section="§x",
        paraphrase="A generated clause.",
        citation="https://example.com",
        effect=effect,
        when=draw(conditions()),
        obligations=obligations,
        passes_to_derivatives=draw(st.booleans()),
        confidence=draw(st.sampled_from([None, "high", "medium"])),
    )


@st.composite
def documents(draw: st.DrawFn) -> TermsDocument:
    base = library().require("fabrikam/open-model-licence@2024-04-01")
    binds = draw(st.sampled_from(["licence", "contract"]))
    count = draw(st.integers(0, 3))
    items = [draw(clauses(f"c{i}")) for i in range(count)]
    if binds == "contract":
        items = [replace(c, passes_to_derivatives=False) for c in items]
    return replace(
        base,
        binds=binds,
        confidence=draw(st.sampled_from(["high", "medium", "low"])),
        clauses=tuple(items),
    )


@st.composite
def fact_sets(draw: st.DrawFn) -> dict[str, Any]:
    facts: dict[str, Any] = dict(draw(intents()).facts())
    optional: dict[str, st.SearchStrategy[Any]] = {
        "intent.monthly_active_users": st.integers(0, 5000),
        "class.role": st.sampled_from(["judgement", "response"]),
        "class.organization": st.sampled_from(["acme", "other"]),
    }
    for name, values in optional.items():
        if draw(st.booleans()):
            facts[name] = draw(values)
    if draw(st.booleans()):
        facts.pop("intent.competes_with", None)
    return facts


@settings(max_examples=300, deadline=None)
@given(documents(), fact_sets(), st.integers(1, 3), st.data())
def test_adding_a_restriction_never_loosens_a_document(
    doc: TermsDocument, facts: dict[str, Any], hops: int, data: st.DataObject
) -> None:
    extra = data.draw(clauses("extra", restrictive=True))
    if doc.binds == "contract":
        extra = replace(extra, passes_to_derivatives=False)
    facts = {**facts, "path.hops": hops, "path.inherited": hops > 1}
    before = assess(doc, facts, hops)
    after = assess(replace(doc, clauses=(*doc.clauses, extra)), facts, hops)
    rank_before = SEVERITY[before.outcome] if before else 0
    rank_after = SEVERITY[after.outcome] if after else 0
    assert rank_after >= rank_before


@settings(max_examples=100, deadline=None)
@given(datasets_of_records(), intents(), st.data())
def test_adding_a_restriction_never_loosens_a_report(
    records: list[Manifest], plan: Intent, data: st.DataObject
) -> None:
    lib = library()
    target = data.draw(st.sampled_from([d.id for d in lib.documents]))
    doc = lib.require(target)
    extra = data.draw(clauses("extra", restrictive=True))
    if doc.binds == "contract":
        extra = replace(extra, passes_to_derivatives=False)
    stricter = PolicyLibrary(
        [replace(d, clauses=(*d.clauses, extra)) if d.id == target else d for d in lib.documents],
        lib.catalog,
    )
    classes = group_records(records)
    before = evaluate(classes, lib, plan)
    after = evaluate(classes, stricter, plan)
    assert SEVERITY[after.outcome] >= SEVERITY[before.outcome]
    old, new = before.decision(target), after.decision(target)
    if old is not None:
        assert new is not None and SEVERITY[new.outcome] >= SEVERITY[old.outcome]
