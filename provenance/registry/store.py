"""The registry store: opening it, writing evidence through the log, reading it back.

Every write runs in one transaction that first locks the log head (the row that holds the log's size
and Merkle frontier), appends one log entry per evidence row, and moves the head on. Writes are
idempotent: each evidence table has a natural key (a manifest's envelope digest, a dataset's name and
digest, a member's dataset and position, a report's digest …) and a row already present is not
written again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Engine, func, insert, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from provenance import canonical
from provenance.keys import VerifyingKey
from provenance.registry import db
from provenance.registry.logtree import Frontier, body_hash, entry_hash, leaf, now_text
from provenance.registry.model import (
    FINE_TUNED_FROM,
    TRAINED_ON,
    Audit,
    Dataset,
    Decision,
    Edge,
    Group,
    Model,
    Snapshot,
)
from provenance.registry.tables import (
    KIND_OF,
    AuditRunRow,
    CheckpointRow,
    ContributionRow,
    DatasetRow,
    EdgeRow,
    KeyRow,
    LogEntry,
    LogHead,
    ManifestRow,
    MemberRow,
    ModelRow,
    RegistryTable,
    TermsRow,
    TrustStateRow,
    body_columns,
)
from provenance.trust import TrustStore

T = TypeVar("T")


def trust_digest(trust: TrustStore) -> str:
    return "sha256:" + hashlib.sha256(canonical.canonicalize(trust.to_dict())).hexdigest()


class Writer:
    """One write transaction with the log head locked."""

    def __init__(self, session: Session) -> None:
        self.session = session
        head = session.execute(select(LogHead).where(col(LogHead.id) == 1).with_for_update())
        row = head.scalar_one_or_none()
        if row is None:
            raise db.RegistryError("the registry has no log head: run 'provenance db upgrade'")
        self.origin = row.origin
        self.frontier = Frontier.from_json(row.size, row.frontier)
        self._start = self.frontier.size
        self.now = now_text()

    def append(
        self, table: type[RegistryTable], rows: Sequence[dict[str, Any]], labels: Sequence[str]
    ) -> None:
        """Insert ``rows`` into ``table``, each recorded by a new log entry."""
        if not rows:
            return
        kind = KIND_OF[str(table.__tablename__)]
        columns = body_columns(table)
        entries = []
        for row, label in zip(rows, labels, strict=True):
            seq = self.frontier.size
            digest = body_hash(kind, {c: row.get(c) for c in columns})
            entry = entry_hash(seq, kind, label, digest)
            entries.append(
                {"seq": seq, "kind": kind, "label": label, "body_hash": digest, "entry_hash": entry}
            )
            row["log_seq"] = seq
            self.frontier.push(leaf(entry))
        self.session.execute(insert(LogEntry), entries)
        self.session.execute(insert(table), list(rows))

    def finish(self) -> int:
        """Move the head on; returns how many entries this transaction appended."""
        added = self.frontier.size - self._start
        if added:
            self.session.execute(
                update(LogHead)
                .where(col(LogHead.id) == 1)
                .values(size=self.frontier.size, frontier=self.frontier.to_json())
            )
        return added

    # ---- evidence ---------------------------------------------------------------------------

    def record_trust(self, trust: TrustStore) -> str:
        """Store the trust store's state and its keys when new; returns its digest."""
        digest = trust_digest(trust)
        found = self.session.execute(
            select(TrustStateRow.id).where(col(TrustStateRow.digest) == digest)
        ).first()
        if found is None:
            document = canonical.canonicalize(trust.to_dict()).decode("utf-8")
            self.append(
                TrustStateRow,
                [
                    {
                        "digest": digest,
                        "version": trust.version,
                        "document": document,
                        "recorded_at": self.now,
                    }
                ],
                [f"trust store version {trust.version} {digest[:19]}…"],
            )
        for entry in trust.keys:
            self.record_key(entry.name, entry.key)
        return digest

    def record_key(self, name: str, key: VerifyingKey) -> None:
        found = self.session.execute(
            select(KeyRow.id).where(col(KeyRow.keyid) == key.keyid)
        ).first()
        if found is not None:
            return
        self.append(
            KeyRow,
            [
                {
                    "keyid": key.keyid,
                    "name": name,
                    "algorithm": key.algorithm,
                    "public_key": key.pem().decode("ascii"),
                    "recorded_at": self.now,
                }
            ],
            [f"key {name} {key.keyid[:16]}"],
        )

    def ensure_model(self, name: str, organization: str | None = None) -> bool:
        found = self.session.execute(select(ModelRow.id).where(col(ModelRow.name) == name)).first()
        if found is not None:
            return False
        self.append(
            ModelRow,
            [{"name": name, "organization": organization, "registered_at": self.now}],
            [f"model {name}"],
        )
        return True

    def add_edge(
        self, model: str, kind: str, target: str, target_digest: str, activity: str | None
    ) -> bool:
        found = self.session.execute(
            select(EdgeRow.id).where(
                col(EdgeRow.model) == model,
                col(EdgeRow.kind) == kind,
                col(EdgeRow.target) == target,
                col(EdgeRow.target_digest) == target_digest,
            )
        ).first()
        if found is not None:
            return False
        self.append(
            EdgeRow,
            [
                {
                    "model": model,
                    "kind": kind,
                    "target": target,
                    "target_digest": target_digest,
                    "activity": activity,
                    "declared_at": self.now,
                }
            ],
            [f"{model} {kind} {target}"],
        )
        return True


@dataclass(frozen=True)
class PendingManifest:
    """A verified manifest ready to store."""

    envelope_digest: str
    record_id: str
    content_digest: str
    mode: str
    batch_root: str | None
    signer_keyid: str
    signed_at: str | None
    organization: str | None
    provenance: str
    contributions: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class PendingMember:
    position: int
    content_digest: str
    record_id: str | None
    status: str
    envelope_digest: str | None


@dataclass(frozen=True)
class LineageResult:
    model_added: bool
    edges_added: int
    undeclared: tuple[str, ...]
    """Datasets named that are not in the registry (recorded by name only)."""


@dataclass(frozen=True)
class AuditRecord:
    report_digest: str
    added: bool
    terms_added: int
    log_seq: int | None


class Registry:
    """An opened registry database."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url

    @classmethod
    def open(cls, url: str | None = None, *, migrate: bool = True) -> Registry:
        """Open the registry at ``url`` (see :func:`provenance.registry.db.database_url`),
        bringing its schema up to date first unless ``migrate`` is false."""
        resolved = db.database_url(url)
        engine = db.make_engine(resolved)
        try:
            if migrate:
                db.upgrade(engine)
        except Exception:
            engine.dispose()
            raise
        return cls(engine, resolved)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def is_sqlite(self) -> bool:
        return db.is_sqlite(self.engine)

    # ---- writing ----------------------------------------------------------------------------

    def write(self, work: Callable[[Writer], T]) -> T:
        def run(session: Session) -> T:
            writer = Writer(session)
            result = work(writer)
            writer.finish()
            return result

        return db.run_write(self.engine, run)

    def store_chunk(
        self,
        dataset_digest: str,
        manifests: Sequence[PendingManifest],
        members: Sequence[PendingMember],
    ) -> tuple[int, int]:
        """Store manifests and dataset members not yet present; returns how many of each were
        added."""

        def work(w: Writer) -> tuple[int, int]:
            digests = [m.envelope_digest for m in manifests]
            known: set[str] = set()
            for start in range(0, len(digests), 500):
                part = digests[start : start + 500]
                known.update(
                    w.session.execute(
                        select(ManifestRow.envelope_digest).where(
                            col(ManifestRow.envelope_digest).in_(part)
                        )
                    ).scalars()
                )
            new = []
            seen: set[str] = set()
            for m in manifests:
                if m.envelope_digest in known or m.envelope_digest in seen:
                    continue
                seen.add(m.envelope_digest)
                new.append(m)
            w.append(
                ManifestRow,
                [
                    {
                        "envelope_digest": m.envelope_digest,
                        "record_id": m.record_id,
                        "content_digest": m.content_digest,
                        "mode": m.mode,
                        "batch_root": m.batch_root,
                        "signer_keyid": m.signer_keyid,
                        "signed_at": m.signed_at,
                        "organization": m.organization,
                        "provenance": m.provenance,
                        "ingested_at": w.now,
                    }
                    for m in new
                ],
                [f"manifest {m.record_id} sha256:{m.content_digest[:12]}" for m in new],
            )
            contributions = [c for m in new for c in m.contributions]
            if contributions:
                w.session.execute(insert(ContributionRow), contributions)
            positions = [m.position for m in members]
            present: set[int] = set()
            if positions:
                present.update(
                    w.session.execute(
                        select(MemberRow.position).where(
                            col(MemberRow.dataset_digest) == dataset_digest,
                            col(MemberRow.position) >= min(positions),
                            col(MemberRow.position) <= max(positions),
                        )
                    ).scalars()
                )
            fresh = [m for m in members if m.position not in present]
            w.append(
                MemberRow,
                [
                    {
                        "dataset_digest": dataset_digest,
                        "position": m.position,
                        "content_digest": m.content_digest,
                        "record_id": m.record_id,
                        "status": m.status,
                        "envelope_digest": m.envelope_digest,
                    }
                    for m in fresh
                ],
                [f"member {m.position} of {dataset_digest[:19]}…" for m in fresh],
            )
            return len(new), len(fresh)

        return self.write(work)

    def stored_prefix(self, dataset_digest: str) -> int:
        """How many leading positions of a dataset are stored with no gap."""
        with db.read_session(self.engine) as session:
            count, top = session.execute(
                sa_select(func.count(), func.max(MemberRow.position)).where(
                    col(MemberRow.dataset_digest) == dataset_digest
                )
            ).one()
        if not count or top is None or count != top + 1:
            return 0
        return int(count)

    def dataset_exists(self, name: str, digest: str) -> bool:
        with db.read_session(self.engine) as session:
            return (
                session.execute(
                    select(DatasetRow.id).where(
                        col(DatasetRow.name) == name, col(DatasetRow.dataset_digest) == digest
                    )
                ).first()
                is not None
            )

    def add_dataset(
        self,
        name: str,
        digest: str,
        records: int,
        manifests: int,
        files: Sequence[str],
        trust: str | None,
    ) -> bool:
        """Register a dataset whose members are all stored; False when it already was."""

        def work(w: Writer) -> bool:
            found = w.session.execute(
                select(DatasetRow.id).where(
                    col(DatasetRow.name) == name, col(DatasetRow.dataset_digest) == digest
                )
            ).first()
            if found is not None:
                return False
            stored = w.session.execute(
                sa_select(func.count()).where(col(MemberRow.dataset_digest) == digest)
            ).scalar_one()
            if stored != records:
                raise db.RegistryError(
                    f"dataset {name}: {stored} of {records} records are stored; run the ingest again"
                )
            w.append(
                DatasetRow,
                [
                    {
                        "name": name,
                        "dataset_digest": digest,
                        "records": records,
                        "manifests": manifests,
                        "files": json.dumps(list(files)),
                        "trust_digest": trust,
                        "registered_at": w.now,
                    }
                ],
                [f"dataset {name} {digest[:19]}…"],
            )
            return True

        return self.write(work)

    def record_trust(self, trust: TrustStore) -> str:
        return self.write(lambda w: w.record_trust(trust))

    def declare_lineage(
        self,
        model: str,
        trained_on: Sequence[str],
        *,
        base_model: str | None = None,
        activity: str | None = None,
        organization: str | None = None,
    ) -> LineageResult:
        """Declare ``model`` trained on datasets (names or digests) and built on ``base_model``."""
        snapshot = self.snapshot()
        targets: list[tuple[str, str]] = []
        undeclared: list[str] = []
        for name in trained_on:
            found = snapshot.dataset(name)
            if found is None:
                undeclared.append(name)
                targets.append((name, ""))
            else:
                targets.append((found.name, found.digest))

        def work(w: Writer) -> LineageResult:
            added = w.ensure_model(model, organization)
            edges = 0
            if base_model:
                w.ensure_model(base_model)
                edges += w.add_edge(model, FINE_TUNED_FROM, base_model, "", None)
            for target, digest in targets:
                edges += w.add_edge(model, TRAINED_ON, target, digest, activity)
            return LineageResult(added, edges, tuple(undeclared))

        return self.write(work)

    def record_audit(
        self,
        report: Mapping[str, Any],
        terms_files: Iterable[tuple[str, str, str | None, str]],
        trust: TrustStore | None,
    ) -> AuditRecord:
        """Store an audit report (``AuditReport.to_dict()``) and the terms files it used
        (``(id, digest, title, text)``); nothing is added when the same report is there."""
        text = canonical.canonicalize(report).decode("utf-8")
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        intent = report.get("intent") or {}
        target = str((intent.get("target") or {}).get("name") or "")
        policies = [
            {"id": p.get("id"), "digest": p.get("digest")} for p in report.get("policies", [])
        ]
        files = list(terms_files)

        def work(w: Writer) -> AuditRecord:
            if trust is not None:
                w.record_trust(trust)
            added_terms = 0
            for doc_id, doc_digest, title, content in files:
                found = w.session.execute(
                    select(TermsRow.id).where(col(TermsRow.digest) == doc_digest)
                ).first()
                if found is None:
                    w.append(
                        TermsRow,
                        [
                            {
                                "doc_id": doc_id,
                                "digest": doc_digest,
                                "title": title,
                                "content": content,
                                "recorded_at": w.now,
                            }
                        ],
                        [f"terms {doc_id}"],
                    )
                    added_terms += 1
            found_run = w.session.execute(
                select(AuditRunRow.log_seq).where(col(AuditRunRow.report_digest) == digest)
            ).first()
            if found_run is not None:
                return AuditRecord(digest, False, added_terms, int(found_run[0]))
            row = {
                "report_digest": digest,
                "recorded_at": w.now,
                "generated_at": str(report.get("generated_at") or ""),
                "tool_version": str(report.get("tool_version") or ""),
                "verdict": str(report.get("verdict") or ""),
                "outcome": str(report.get("outcome") or ""),
                "fail_on": str(report.get("fail_on") or ""),
                "target": target,
                "intent": canonical.canonicalize(intent).decode("utf-8"),
                "dataset_digest": str(report.get("dataset_digest") or ""),
                "policies": canonical.canonicalize(policies).decode("utf-8"),
                "trust_store_version": report.get("trust_store_version"),
                "report": text,
            }
            w.append(AuditRunRow, [row], [f"audit of {target} {digest[:12]}"])
            return AuditRecord(digest, True, added_terms, w.frontier.size - 1)

        return self.write(work)

    def add_checkpoint(
        self, size: int, root: str, keyid: str, created_at: str, envelope: str
    ) -> None:
        def work(session: Session) -> None:
            session.execute(
                insert(CheckpointRow).values(
                    size=size, root=root, keyid=keyid, created_at=created_at, envelope=envelope
                )
            )

        db.run_write(self.engine, work)

    # ---- reading ----------------------------------------------------------------------------

    def head(self) -> tuple[str, int]:
        """The registry's origin id and log size."""
        with db.read_session(self.engine) as session:
            row = session.execute(sa_select(col(LogHead.origin), col(LogHead.size))).one()
        return str(row[0]), int(row[1])

    def tree_head(self) -> tuple[str, int, str]:
        """The registry's origin id, log size and root (as the log head records them)."""
        with db.read_session(self.engine) as session:
            head = session.exec(select(LogHead).where(col(LogHead.id) == 1)).one()
        return head.origin, head.size, Frontier.from_json(head.size, head.frontier).root().hex()

    def entry_hashes(self, session: Session) -> list[bytes]:
        """Every entry hash in log order (raises when the log has a gap)."""
        out: list[bytes] = []
        result = session.execute(
            sa_select(col(LogEntry.seq), col(LogEntry.entry_hash)).order_by(col(LogEntry.seq))
        )
        for seq, value in result:
            if seq != len(out):
                raise db.RegistryError(
                    f"the log has no entry #{len(out)}: run 'provenance log verify'"
                )
            out.append(bytes.fromhex(value))
        return out

    def checkpoints(self) -> list[CheckpointRow]:
        with db.read_session(self.engine) as session:
            return list(session.exec(select(CheckpointRow).order_by(col(CheckpointRow.id))).all())

    def counts(self) -> dict[str, int]:
        """Rows per table, for reports and tests."""
        tables: dict[str, type[RegistryTable]] = {
            "log_entries": LogEntry,
            "manifests": ManifestRow,
            "contributions": ContributionRow,
            "dataset_members": MemberRow,
            "datasets": DatasetRow,
            "models": ModelRow,
            "lineage_edges": EdgeRow,
            "audit_runs": AuditRunRow,
            "terms_documents": TermsRow,
            "keys": KeyRow,
            "trust_states": TrustStateRow,
            "checkpoints": CheckpointRow,
        }
        with db.read_session(self.engine) as session:
            return {
                name: int(session.execute(sa_select(func.count()).select_from(table)).scalar_one())
                for name, table in tables.items()
            }

    def snapshot(self) -> Snapshot:
        with db.read_session(self.engine) as session:
            return load_snapshot(session)

    def manifests_for(self, key: str) -> list[ManifestRow]:
        """Stored manifests of a record id or a content digest (hex, with or without sha256:)."""
        digest = key.removeprefix("sha256:").lower()
        with db.read_session(self.engine) as session:
            rows = session.exec(
                select(ManifestRow)
                .where(
                    (col(ManifestRow.record_id) == key)
                    | (col(ManifestRow.content_digest) == digest)
                )
                .order_by(col(ManifestRow.log_seq))
            ).all()
            return list(rows)

    def datasets_holding(self, content_digest: str) -> list[tuple[str, int, str]]:
        """``(dataset digest, position, status)`` of every stored member with this content."""
        with db.read_session(self.engine) as session:
            rows = session.execute(
                sa_select(
                    col(MemberRow.dataset_digest), col(MemberRow.position), col(MemberRow.status)
                )
                .where(col(MemberRow.content_digest) == content_digest)
                .order_by(col(MemberRow.log_seq))
            ).all()
        return [(str(a), int(b), str(c)) for a, b, c in rows]

    def contributions_of(self, envelope_digest: str) -> list[ContributionRow]:
        with db.read_session(self.engine) as session:
            return list(
                session.exec(
                    select(ContributionRow)
                    .where(col(ContributionRow.envelope_digest) == envelope_digest)
                    .order_by(col(ContributionRow.position))
                ).all()
            )

    def members(self, session: Session, dataset_digest: str) -> Iterator[MemberRow]:
        result = session.exec(
            select(MemberRow)
            .where(col(MemberRow.dataset_digest) == dataset_digest)
            .order_by(col(MemberRow.position))
            .execution_options(yield_per=2000)
        )
        yield from result

    def manifests_by_digest(
        self, session: Session, digests: Sequence[str]
    ) -> dict[str, ManifestRow]:
        out: dict[str, ManifestRow] = {}
        for start in range(0, len(digests), 500):
            part = list(digests[start : start + 500])
            for row in session.exec(
                select(ManifestRow).where(col(ManifestRow.envelope_digest).in_(part))
            ).all():
                out[row.envelope_digest] = row
        return out

    def record_rows(
        self, where_digests: Sequence[str] | None = None
    ) -> Iterator[tuple[ContributionRow, str | None]]:
        """Every stored contribution with the dataset digest of each member holding it (None for
        a manifest that belongs to no registered dataset)."""
        with db.read_session(self.engine) as session:
            registered = set(session.execute(select(DatasetRow.dataset_digest)).scalars())
            query = (
                sa_select(ContributionRow, col(MemberRow.dataset_digest))
                .join(
                    MemberRow,
                    col(MemberRow.envelope_digest) == col(ContributionRow.envelope_digest),
                    isouter=True,
                )
                .order_by(col(ContributionRow.id))
            )
            if where_digests is not None:
                query = query.where(col(MemberRow.dataset_digest).in_(list(where_digests)))
            for contribution, digest in session.execute(query.execution_options(yield_per=2000)):
                yield contribution, (digest if digest in registered else None)


def load_snapshot(session: Session) -> Snapshot:
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
