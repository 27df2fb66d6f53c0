"""The registry store: opening it, and writing evidence through the log (reading it back is
:class:`~provenance.registry.store_reader.StoreReader`'s).

Every write runs in one transaction that first locks the log head (the row that holds the log's size
and Merkle frontier), appends one log entry per evidence row, and moves the head on. Writes are
idempotent: each evidence table has a natural key (a manifest's envelope digest, a dataset's name and
digest, a member's dataset and position, a report's digest …) and a row already present is not
written again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import func, insert
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from provenance import canonical
from provenance.registry import db
from provenance.registry.log_writer import LogWriter
from provenance.registry.model import FINE_TUNED_FROM, TRAINED_ON
from provenance.registry.store_reader import StoreReader
from provenance.registry.tables import (
    AuditRunRow,
    CheckpointRow,
    ContributionRow,
    DatasetRow,
    ManifestRow,
    MemberRow,
    TermsRow,
)
from provenance.trust import TrustStore

T = TypeVar("T")


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


class Registry(StoreReader):
    """An opened registry database: opening it, and every write (each through a
    :class:`~provenance.registry.log_writer.LogWriter`); reading is :class:`StoreReader`'s."""

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

    def write(self, work: Callable[[LogWriter], T]) -> T:
        def run(session: Session) -> T:
            writer = LogWriter(session)
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

        def work(w: LogWriter) -> tuple[int, int]:
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

        def work(w: LogWriter) -> bool:
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

        def work(w: LogWriter) -> LineageResult:
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
        inputs: Mapping[str, Any] | None = None,
    ) -> AuditRecord:
        """Store an audit report (``AuditReport.to_dict()``) and the terms files it used
        (``(id, digest, title, text)``); nothing is added when the same report is there.
        ``inputs`` (``JudgementInputs.to_dict()``), what the terms engine judged, is stored beside
        the run so that ``reaudit`` can judge it again."""
        text = canonical.canonicalize(report).decode("utf-8")
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        intent = report.get("intent") or {}
        target = str((intent.get("target") or {}).get("name") or "")
        policies = [
            {"id": p.get("id"), "digest": p.get("digest")} for p in report.get("policies", [])
        ]
        files = list(terms_files)

        def work(w: LogWriter) -> AuditRecord:
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
            seq = w.frontier.size - 1
            if inputs is not None:
                w.record_audit_inputs(seq, digest, inputs)
            return AuditRecord(digest, True, added_terms, seq)

        return self.write(work)

    def record_reaudits(self, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        """Store re-judgements of recorded audits (``reaudit --record``), each a logged row of
        ``reaudit_runs`` (every column but ``id``, ``log_seq`` and ``reaudited_at``); returns
        their log entries."""
        return self.write(lambda w: w.record_reaudits(rows))

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
