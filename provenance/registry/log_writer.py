"""One write transaction on the registry: the log head locked, each evidence row recorded by a new
log entry, and the head moved on at the end.

:class:`LogWriter` appends rows and also records the evidence several writes share (trust store
states, keys, models, lineage edges), each only when not already stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import insert, update
from sqlmodel import Session, col, select

from provenance import canonical
from provenance.keys import VerifyingKey
from provenance.registry import db
from provenance.registry.logtree import Frontier, body_hash, entry_hash, leaf, now_text
from provenance.registry.tables import (
    KIND_OF,
    AuditInputsRow,
    EdgeRow,
    KeyRow,
    LogEntry,
    LogHead,
    ModelRow,
    ReauditRunRow,
    RegistryTable,
    TrustStateRow,
    body_columns,
)
from provenance.trust import TrustStore


def trust_digest(trust: TrustStore) -> str:
    """The digest a trust store's state is recorded under (of its canonical JSON)."""
    return "sha256:" + hashlib.sha256(canonical.canonicalize(trust.to_dict())).hexdigest()


class LogWriter:
    """One write transaction: the log head locked, rows appended each with its log entry, and the
    head moved on by :meth:`finish`."""

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

    def record_audit_inputs(self, audit_seq: int, digest: str, inputs: Mapping[str, Any]) -> None:
        """Store what the terms engine judged in the audit run at ``audit_seq`` (report
        ``digest``): ``JudgementInputs.to_dict()``."""
        classes = inputs.get("classes")
        self.append(
            AuditInputsRow,
            [
                {
                    "audit_seq": audit_seq,
                    "report_digest": digest,
                    "classes": len(classes) if isinstance(classes, list) else 0,
                    "inputs": canonical.canonicalize(inputs).decode("utf-8"),
                    "recorded_at": self.now,
                }
            ],
            [f"judgement inputs of audit {digest[:12]}"],
        )

    def record_reaudits(self, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        """Store re-judgements of recorded audits; returns their log entries."""
        start = self.frontier.size
        self.append(
            ReauditRunRow,
            [{**row, "reaudited_at": self.now} for row in rows],
            [
                f"re-audit of audit #{row['audit_seq']} "
                f"{row['outcome_before']} → {row['outcome_after']}"
                for row in rows
            ],
        )
        return list(range(start, self.frontier.size))
