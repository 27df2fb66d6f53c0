"""Reading the registry's models, datasets, lineage edges and audit runs into a
:class:`~provenance.registry.model.Snapshot`, the in-memory view that queries, lineage, the PROV
export and the EU summary work on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from provenance.registry.model import Audit, Dataset, Decision, Edge, Group, Model, Snapshot
from provenance.registry.tables import (
    AuditRunRow,
    ContributionRow,
    DatasetRow,
    EdgeRow,
    MemberRow,
    ModelRow,
)


def load_snapshot(session: Session) -> Snapshot:
    """Every model, dataset (with its status counts and contribution groups), edge and audit."""
    models = [
        Model(m.name, m.organization, m.registered_at, m.log_seq)
        for m in session.exec(select(ModelRow)).all()
    ]
    edges = [
        Edge(e.model, e.kind, e.target, e.target_digest, e.activity, e.declared_at, e.log_seq)
        for e in session.exec(select(EdgeRow)).all()
    ]
    rows = session.exec(select(DatasetRow)).all()
    digests = sorted({r.dataset_digest for r in rows})
    statuses: dict[str, dict[str, int]] = {}
    groups: dict[str, list[Group]] = {}
    if digests:
        for digest, status, count in session.execute(
            sa_select(col(MemberRow.dataset_digest), col(MemberRow.status), func.count())
            .where(col(MemberRow.dataset_digest).in_(digests))
            .group_by(col(MemberRow.dataset_digest), col(MemberRow.status))
        ):
            statuses.setdefault(digest, {})[status] = int(count)
        c = ContributionRow
        grouped = (
            sa_select(
                col(MemberRow.dataset_digest),
                *(col(getattr(c, name)) for name in _GROUP_COLUMNS),
                func.count(func.distinct(col(MemberRow.position))),
            )
            .join(c, col(c.envelope_digest) == col(MemberRow.envelope_digest))
            .where(col(MemberRow.dataset_digest).in_(digests))
            .group_by(col(MemberRow.dataset_digest), *(col(getattr(c, n)) for n in _GROUP_COLUMNS))
        )
        for digest, *fields, count in session.execute(grouped):
            groups.setdefault(digest, []).append(_group(fields, int(count)))
    datasets = [
        Dataset(
            r.name,
            r.dataset_digest,
            r.records,
            r.manifests,
            r.registered_at,
            r.log_seq,
            tuple(json.loads(r.files)),
            statuses.get(r.dataset_digest, {}),
            tuple(sorted(groups.get(r.dataset_digest, []), key=lambda g: _group_order(g))),
        )
        for r in rows
    ]
    audits = [_audit(a) for a in session.exec(select(AuditRunRow)).all()]
    return Snapshot(models, datasets, edges, audits)


_GROUP_COLUMNS = (
    "provider",
    "model",
    "model_returned",
    "service",
    "organization",
    "role",
    "generated_day",
    "terms_id",
)


def _group(fields: Sequence[Any], count: int) -> Group:
    provider, model, returned, service, organization, role, day, terms = fields
    return Group(provider, model, returned, service, organization, role, day, terms, count)


def _group_order(group: Group) -> tuple[str, ...]:
    return tuple("" if v is None else str(v) for v in group.key())


def _audit(row: AuditRunRow) -> Audit:
    report = json.loads(row.report)
    decisions = tuple(
        Decision(
            str(d.get("terms")),
            str(d.get("decision")),
            int(d.get("records") or 0),
            d.get("clause"),
        )
        for d in report.get("decisions", [])
    )
    policies = tuple((str(p.get("id")), p.get("digest")) for p in json.loads(row.policies))
    return Audit(
        row.report_digest,
        row.recorded_at,
        row.generated_at,
        row.verdict,
        row.outcome,
        row.fail_on,
        row.target,
        row.dataset_digest,
        policies,
        decisions,
        row.tool_version,
        row.log_seq,
    )
