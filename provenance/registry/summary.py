"""``provenance summary``: a draft of the data-sources parts of the EU AI Act public summary.

Article 53(1)(d) of Regulation (EU) 2024/1689 requires providers of general-purpose AI models to
publish a summary of the content used for training, following the template the Commission published
in July 2025 (sections: 1. general information, 2. list of data sources — publicly available
datasets, private third-party datasets, crawled data, user data, synthetic data, other sources —
and 3. data processing aspects). This module drafts what the registry can evidence: the model's
dependencies, the size of its registered training data, publicly available datasets it was declared
trained on, synthetic data by generator and terms, and data of unrecorded origin. Every other part
is marked for the provider to complete; the draft is a starting point for people, not a filing.
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass
from typing import Any

from provenance.errors import InputError
from provenance.policy.model import Catalog
from provenance.registry.model import Dataset, Snapshot, TermsResolver

TEMPLATE = "European Commission template for the public summary of training content (July 2025)"
TODO = "Not recorded in the evidence registry: to be completed by the provider."


@dataclass(frozen=True)
class Block:
    kind: str
    """``h1``, ``h2``, ``h3``, ``p``, ``ul`` or ``table``."""
    text: str = ""
    items: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()


def summary_blocks(
    snapshot: Snapshot,
    model_name: str,
    resolver: TermsResolver,
    catalog: Catalog | None = None,
    evidence: dict[str, Any] | None = None,
) -> list[Block]:
    model = snapshot.model(model_name)
    if model is None:
        raise InputError(f"the registry holds no model '{model_name}'")
    trained = snapshot.trained_on(model.name)
    datasets = [d for _, d in trained if d is not None]
    undeclared = [e.target for e, d in trained if d is None]
    bases = [e.target for e in snapshot.bases(model.name)]
    records = sum(d.records for d in datasets)
    synthetic = sum(d.synthetic for d in datasets)
    untagged = sum(d.untagged for d in datasets)
    days = [g.day for d in datasets for g in d.groups if g.day]
    out = [
        Block("h1", f"Public summary of training content: {model.name} (draft)"),
        Block(
            "p",
            f"Drafted from the evidence registry following the structure of the {TEMPLATE}. "
            "Only the parts the registry can evidence are filled in; check every statement "
            "before publication.",
        ),
        Block("h2", "1. General information"),
        Block("h3", "1.1 Provider identification"),
        Block("p", f"Organisation: {model.organization or TODO}"),
        Block("h3", "1.2 Model identification"),
        Block(
            "ul",
            items=(
                f"Model: {model.name}",
                "Dependencies (base models): " + (", ".join(bases) if bases else "none declared"),
                f"Registered in the evidence registry at {model.registered_at} (log entry "
                f"#{model.log_seq})",
            ),
        ),
        Block("h3", "1.3 Modalities, overall training data size and other characteristics"),
        Block(
            "ul",
            items=(
                "Modality: text (records of JSON data).",
                f"Registered training data: {records:,} records in {len(datasets)} dataset(s); "
                "token counts are not recorded in the registry.",
                "Latest generation date of synthetic data: " + (max(days) if days else "unknown"),
            ),
        ),
        Block("h2", "2. List of data sources"),
        Block("h3", "2.1 Publicly available datasets"),
        *_public(snapshot, datasets, undeclared, catalog),
        Block("h3", "2.2 Private non-publicly available datasets obtained from third parties"),
        Block("p", TODO),
        Block("h3", "2.3 Data crawled and scraped from online sources"),
        Block("p", TODO),
        Block("h3", "2.4 User data"),
        Block("p", TODO),
        Block("h3", "2.5 Synthetic data"),
        *_synthetic(snapshot, model.organization, datasets, resolver, synthetic, records),
        Block("h3", "2.6 Other sources of data"),
        *_other(datasets, undeclared, catalog, untagged),
        Block("h2", "3. Data processing aspects"),
        Block("p", TODO),
        Block("h2", "Totals"),
        Block(
            "table",
            headers=(
                "dataset",
                "digest",
                "records",
                "synthetic (signed manifests)",
                "origin not recorded",
            ),
            rows=(
                *(
                    (d.name, d.digest, f"{d.records:,}", f"{d.synthetic:,}", f"{d.untagged:,}")
                    for d in datasets
                ),
                ("total", "", f"{records:,}", f"{synthetic:,}", f"{untagged:,}"),
            ),
        ),
    ]
    out.extend(_evidence(snapshot, datasets, evidence))
    return out


def _public(
    snapshot: Snapshot, datasets: list[Dataset], undeclared: list[str], catalog: Catalog | None
) -> list[Block]:
    items = []
    for name in [*undeclared, *(d.name for d in datasets)]:
        entry = None if catalog is None else catalog.dataset(name)
        if entry is None:
            continue
        source = f" — {entry.source}" if entry.source else ""
        licence = f" (licence: {', '.join(entry.licence)})" if entry.licence else ""
        items.append(f"{entry.name}{licence}{source}")
    if not items:
        return [Block("p", "None declared in the registry. " + TODO)]
    return [Block("ul", items=tuple(items))]


def _synthetic(
    snapshot: Snapshot,
    organization: str | None,
    datasets: list[Dataset],
    resolver: TermsResolver,
    synthetic: int,
    records: int,
) -> list[Block]:
    if synthetic == 0:
        return [Block("p", "No record of the registered training data carries a signed manifest.")]
    tally: Counter[tuple[str, str, str, str, str]] = Counter()
    for dataset in datasets:
        for group in dataset.groups:
            own = (
                "the provider"
                if organization and group.organization == organization
                else (group.organization or "unknown")
            )
            writer = snapshot.generator_model(group)
            model = group.effective_model + (" (provider's own model)" if writer else "")
            tally[
                (
                    group.provider,
                    model,
                    group.service or "unknown",
                    ", ".join(resolver.terms(group)) or "no terms known",
                    own,
                )
            ] += group.records
    share = synthetic / records if records else 0.0
    rows = tuple(
        (*key, f"{count:,}") for key, count in sorted(tally.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    return [
        Block(
            "p",
            f"Yes. {synthetic:,} of {records:,} registered training records ({share:.1%}) were "
            "generated by AI models, as their signed provenance manifests state:",
        ),
        Block(
            "table",
            headers=("provider", "model", "service", "terms in force", "generated by", "records"),
            rows=rows,
        ),
    ]


def _other(
    datasets: list[Dataset], undeclared: list[str], catalog: Catalog | None, untagged: int
) -> list[Block]:
    items = [
        f"{d.name}: {d.untagged:,} records without a provenance manifest (origin not recorded)"
        for d in datasets
        if d.untagged
    ]
    items += [
        f"{name}: declared as training data but not ingested in the registry"
        for name in undeclared
        if catalog is None or catalog.dataset(name) is None
    ]
    if not items:
        return [Block("p", "None recorded in the registry.")]
    return [Block("ul", items=tuple(items))]


def _evidence(
    snapshot: Snapshot, datasets: list[Dataset], evidence: dict[str, Any] | None
) -> list[Block]:
    items = []
    for dataset in datasets:
        for audit in snapshot.audits_of(dataset):
            items.append(
                f"Audit of {dataset.name} recorded {audit.recorded_at} (log entry #{audit.log_seq}): "
                f"{audit.verdict}, outcome {audit.outcome}"
            )
    if evidence:
        items.append(
            f"Registry {evidence.get('origin')}: log of {evidence.get('size')} entries, "
            f"root {evidence.get('root')}"
        )
    if not items:
        return []
    return [Block("h2", "Evidence"), Block("ul", items=tuple(items))]


# ---- rendering ---------------------------------------------------------------------------


def markdown(blocks: list[Block]) -> str:
    out: list[str] = []
    for block in blocks:
        if block.kind in ("h1", "h2", "h3"):
            out.append("#" * int(block.kind[1]) + " " + block.text)
        elif block.kind == "p":
            out.append(block.text)
        elif block.kind == "ul":
            out.append("\n".join(f"- {_md(i)}" for i in block.items))
        else:
            lines = [
                "| " + " | ".join(block.headers) + " |",
                "|" + "---|" * len(block.headers),
            ]
            lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in block.rows]
            out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def html_page(blocks: list[Block]) -> str:
    title = next((b.text for b in blocks if b.kind == "h1"), "Summary")
    body: list[str] = []
    for block in blocks:
        if block.kind in ("h1", "h2", "h3"):
            body.append(f"<{block.kind}>{html.escape(block.text)}</{block.kind}>")
        elif block.kind == "p":
            body.append(f"<p>{html.escape(block.text)}</p>")
        elif block.kind == "ul":
            body.append(
                "<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in block.items) + "</ul>"
            )
        else:
            head = "".join(f"<th>{html.escape(h)}</th>" for h in block.headers)
            rows = "".join(
                "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                for row in block.rows
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
    style = (
        "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
        "table{border-collapse:collapse}td,th{border:1px solid #999;padding:.3rem .5rem;"
        "text-align:left}"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{style}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
