"""Checks of what is derived from signed evidence, for ``provenance log verify``: contributions
recomputed from their manifests, and each dataset's members rebuilding its ``dataset_digest``."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from provenance import merkle
from provenance.errors import ProvenanceError
from provenance.registry import manifests as stored
from provenance.registry.integrity_report import LogReport, Problem
from provenance.registry.integrity_rows import YIELD_ROWS
from provenance.registry.logtree import Frontier
from provenance.registry.tables import ContributionRow, DatasetRow, ManifestRow, MemberRow

_CONTRIBUTION_FIELDS = (
    "position",
    "record_id",
    "content_digest",
    "pointer",
    "role",
    "provider",
    "model",
    "model_returned",
    "service",
    "terms_id",
    "terms_digest",
    "generated_at",
    "generated_day",
    "organization",
)


def check_contributions(session: Session, report: LogReport) -> None:
    batch: list[tuple[str, str]] = []

    def flush() -> None:
        digests = [d for d, _ in batch]
        found: dict[str, list[tuple[Any, ...]]] = {}
        for row in session.exec(
            select(ContributionRow).where(col(ContributionRow.envelope_digest).in_(digests))
        ).all():
            found.setdefault(row.envelope_digest, []).append(
                tuple(getattr(row, f) for f in _CONTRIBUTION_FIELDS)
            )
        for digest, prov_text in batch:
            try:
                manifest = stored.manifest_of(json.loads(prov_text))
                expected = sorted(
                    tuple(r[f] for f in _CONTRIBUTION_FIELDS)
                    for r in stored.contribution_rows(manifest, digest)
                )
            except (ProvenanceError, ValueError):
                report.add(
                    Problem(
                        "derived", f"manifest {digest[:16]}… no longer parses", table="manifests"
                    )
                )
                continue
            if sorted(found.get(digest, [])) != expected:
                report.add(
                    Problem(
                        "derived",
                        f"the contributions of manifest {digest[:16]}… differ from what it signs",
                        table="contributions",
                    )
                )
        batch.clear()

    query = sa_select(col(ManifestRow.envelope_digest), col(ManifestRow.provenance)).order_by(
        col(ManifestRow.id)
    )
    for digest, prov_text in session.execute(query.execution_options(yield_per=1000)):
        batch.append((digest, prov_text))
        if len(batch) >= 500:
            flush()
    if batch:
        flush()
    orphans = session.execute(
        sa_select(func.count()).where(
            col(ContributionRow.envelope_digest).not_in(sa_select(col(ManifestRow.envelope_digest)))
        )
    ).scalar_one()
    if orphans:
        report.add(
            Problem(
                "derived",
                f"{orphans} contribution row(s) belong to no stored manifest",
                table="contributions",
            )
        )


def check_datasets(session: Session, report: LogReport) -> None:
    datasets = session.exec(select(DatasetRow).order_by(col(DatasetRow.log_seq))).all()
    checked: dict[str, tuple[int, str]] = {}
    for dataset in datasets:
        digest = dataset.dataset_digest
        if digest not in checked:
            frontier = Frontier()
            problem = ""
            query = (
                sa_select(col(MemberRow.position), col(MemberRow.content_digest))
                .where(col(MemberRow.dataset_digest) == digest)
                .order_by(col(MemberRow.position))
            )
            for position, content in session.execute(query.execution_options(yield_per=YIELD_ROWS)):
                if position != frontier.size and not problem:
                    problem = f"member {frontier.size} is missing"
                try:
                    frontier.push(merkle.leaf_hash(bytes.fromhex(content)))
                except ValueError:
                    problem = problem or f"member {position} has no valid content digest"
            checked[digest] = (
                frontier.size,
                problem
                or (
                    ""
                    if "sha256:" + frontier.root().hex() == digest
                    else "its members do not rebuild its digest"
                ),
            )
        size, problem = checked[digest]
        if not problem and size != dataset.records:
            problem = f"it has {size} members, registered with {dataset.records}"
        if problem:
            report.add(
                Problem(
                    "dataset",
                    f"dataset {dataset.name} ({digest[:19]}…): {problem}",
                    dataset.log_seq,
                    "datasets",
                )
            )
