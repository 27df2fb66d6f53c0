"""Reading the registry: its log head and entries, checkpoints, stored manifests, dataset
members and contributions, and the :class:`~provenance.registry.model.Snapshot` that queries use.

:class:`StoreReader` holds the opened database; :class:`provenance.registry.store.Registry` adds
opening and writing to it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Self

from sqlalchemy import Engine, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from provenance.registry import db
from provenance.registry.logtree import Frontier
from provenance.registry.model import Snapshot
from provenance.registry.snapshot_loader import load_snapshot
from provenance.registry.tables import (
    AuditInputsRow,
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
    ReauditRunRow,
    RegistryTable,
    TermsRow,
    TrustStateRow,
)


class StoreReader:
    """An opened registry database, read."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def is_sqlite(self) -> bool:
        return db.is_sqlite(self.engine)

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
            "audit_inputs": AuditInputsRow,
            "reaudit_runs": ReauditRunRow,
            "keys": KeyRow,
            "trust_states": TrustStateRow,
            "checkpoints": CheckpointRow,
        }
        with db.read_session(self.engine) as session:
            return {
                name: int(session.execute(sa_select(func.count()).select_from(table)).scalar_one())
                for name, table in tables.items()
            }

    def recorded_audits(
        self, since: str | None = None
    ) -> list[tuple[AuditRunRow, AuditInputsRow | None]]:
        """Every recorded audit run (those recorded on or after ``since``, an RFC 3339 date or
        time, when given), in log order, with what its terms engine judged (None when the run
        was recorded without it)."""
        with db.read_session(self.engine) as session:
            query = select(AuditRunRow).order_by(col(AuditRunRow.log_seq))
            if since is not None:
                query = query.where(col(AuditRunRow.recorded_at) >= since)
            runs = list(session.exec(query).all())
            inputs: dict[int, AuditInputsRow] = {}
            seqs = [r.log_seq for r in runs]
            for start in range(0, len(seqs), 500):
                part = seqs[start : start + 500]
                for row in session.exec(
                    select(AuditInputsRow).where(col(AuditInputsRow.audit_seq).in_(part))
                ).all():
                    inputs[row.audit_seq] = row
        return [(run, inputs.get(run.log_seq)) for run in runs]

    def reaudits(self, audit_seqs: Sequence[int] | None = None) -> list[ReauditRunRow]:
        """The recorded re-judgements (of the audit runs at ``audit_seqs`` when given), in log
        order."""
        with db.read_session(self.engine) as session:
            query = select(ReauditRunRow).order_by(col(ReauditRunRow.log_seq))
            if audit_seqs is not None:
                query = query.where(col(ReauditRunRow.audit_seq).in_(list(audit_seqs)))
            return list(session.exec(query).all())

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
