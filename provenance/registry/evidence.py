"""``provenance evidence DATASET|MODEL -o bundle.zip``: gather the evidence about one subject.

The subject's closure (a dataset and everything upstream of it, or a model, its training data, its
base models and everything upstream of those) decides what goes in: the datasets' members and
manifests, the audits recorded for those datasets (or for the model as target), the terms documents
those audits used, the lineage, the keys and trust store states, and a fresh checkpoint with an
inclusion proof for every log entry the bundle relies on. The store is checked against its log
first: a bundle is never made from a store that fails ``provenance log verify``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from sqlalchemy import Table
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from provenance import __version__, canonical, merkle
from provenance.errors import InputError
from provenance.keys import PrivateKeySigner
from provenance.policy.model import Catalog
from provenance.registry import db
from provenance.registry.bundle import REPORT_PREDICATE, sign_json, statement, write_bundle
from provenance.registry.integrity import verify_log
from provenance.registry.logtree import Frontier, inclusion_paths, leaf, make_checkpoint
from provenance.registry.model import Closure, Dataset, Snapshot
from provenance.registry.prov import lineage_declaration, prov_document
from provenance.registry.store import Registry
from provenance.registry.tables import (
    LOGGED,
    AuditRunRow,
    LogEntry,
    MemberRow,
    RegistryTable,
    TrustStateRow,
    body_columns,
)

MAX_MANIFESTS = 100_000
"""Datasets with more records carry a sample of manifests with inclusion proofs instead."""
SAMPLE = 100
_SAFE = re.compile(r"[^A-Za-z0-9._@-]+")


@dataclass(frozen=True)
class BundleInfo:
    kind: str
    name: str
    datasets: int
    manifests: int
    reports: int
    checkpoint_size: int
    checkpoint_root: str
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def resolve_subject(snapshot: Snapshot, name: str, kind: str | None) -> tuple[str, Closure, str]:
    """``(kind, closure, display name)`` of a model or dataset named ``name``."""
    if kind not in (None, "model", "dataset"):
        raise InputError(f"unknown subject kind '{kind}'", hint="use model or dataset")
    model = snapshot.model(name) if kind != "dataset" else None
    if model is not None:
        return "model", snapshot.closure(model=model.name), model.name
    dataset = snapshot.dataset(name) if kind != "model" else None
    if dataset is not None:
        return "dataset", snapshot.closure(dataset=dataset), dataset.name
    raise InputError(f"the registry holds no model or dataset '{name}'")


def build_bundle(
    registry: Registry,
    subject: str,
    signer: PrivateKeySigner,
    *,
    kind: str | None = None,
    max_manifests: int = MAX_MANIFESTS,
    sample: int = SAMPLE,
    catalog: Catalog | None = None,
) -> tuple[bytes, BundleInfo]:
    checked = verify_log(registry)
    if not checked.ok or checked.frontier is None:
        raise db.RegistryError(
            "the store does not match its log; no bundle is made from it",
            hint="run 'provenance log verify' to see what changed",
        )
    snapshot = registry.snapshot()
    subject_kind, closure, name = resolve_subject(snapshot, subject, kind)
    datasets = sorted(closure.datasets.values(), key=lambda d: d.log_seq)
    digests = {d.digest for d in datasets}
    audits = [
        a
        for a in snapshot.audits
        if a.dataset_digest in digests or (subject_kind == "model" and a.target == name)
    ]
    files: dict[str, bytes] = {}
    with db.read_session(registry.engine) as session:
        leaves = [merkle.leaf_hash(v) for v in registry.entry_hashes(session)[: checked.size]]
        frontier = Frontier()
        for value in leaves:
            frontier.push(value)
        if frontier.root().hex() != checked.root:
            raise db.RegistryError("the log changed while the bundle was being made; try again")
        wanted: set[int] = {d.log_seq for d in datasets} | {a.log_seq for a in audits}
        wanted |= {m.log_seq for m in closure.models.values()}
        wanted |= {e.log_seq for e in snapshot.edges if e.model.casefold() in closure.models}
        policy_digests = {d for a in audits for _, d in a.policies if d}
        terms_rows = _rows_where(session, "terms", lambda t: t.c.digest.in_(sorted(policy_digests)))
        trust_rows = _rows_where(session, "trust", None)
        key_rows = _rows_where(session, "key", None)
        reaudit_rows = _rows_where(
            session, "reaudit", lambda t: t.c.audit_seq.in_([a.log_seq for a in audits])
        )
        for rows in (terms_rows, trust_rows, key_rows, reaudit_rows):
            wanted |= {int(r["log_seq"]) for r in rows}
        if reaudit_rows:
            columns = body_columns(LOGGED["reaudit"])
            files["reaudits.jsonl"] = b"".join(
                _line({"seq": int(r["log_seq"]), **{c: r[c] for c in columns}})
                for r in reaudit_rows
            )
        for row in terms_rows:
            path = f"terms/{_SAFE.sub('_', str(row['doc_id']))}.yaml"
            files[path] = str(row["content"]).encode("utf-8")
        files["log/entries.jsonl"] = _entries(session, sorted(wanted), leaves)
        manifest_digests: set[str] = set()
        sample_ids = {i for a in audits for i in _sample_ids(session, a.log_seq)}
        for number, dataset in enumerate(datasets, 1):
            stem = f"datasets/{number:03d}"
            mode = "full" if dataset.records <= max_manifests else "sample"
            files[stem + ".json"] = _dump(
                {
                    "name": dataset.name,
                    "dataset_digest": dataset.digest,
                    "records": dataset.records,
                    "mode": mode,
                    "log_entry": dataset.log_seq,
                }
            )
            members = list(registry.members(session, dataset.digest))
            if mode == "full":
                files[stem + ".members.jsonl"] = b"".join(_line(_member(m)) for m in members)
                manifest_digests |= {m.envelope_digest for m in members if m.envelope_digest}
            else:
                chosen = {m.position for m in members[:sample]}
                chosen |= {m.position for m in members if m.record_id in sample_ids}
                proofs = inclusion_paths(
                    [merkle.leaf_hash(bytes.fromhex(m.content_digest)) for m in members], chosen
                )
                lines = []
                for m in members:
                    if m.position in chosen:
                        lines.append(
                            _line({**_member(m), "proof": [p.hex() for p in proofs[m.position]]})
                        )
                        if m.envelope_digest:
                            manifest_digests.add(m.envelope_digest)
                files[stem + ".sample.jsonl"] = b"".join(lines)
        manifests = registry.manifests_by_digest(session, sorted(manifest_digests))
        files["manifests.jsonl"] = b"".join(
            _line(
                {
                    "envelope_digest": m.envelope_digest,
                    "record_id": m.record_id,
                    "content_digest": m.content_digest,
                    "provenance": json.loads(m.provenance),
                }
            )
            for _, m in sorted(manifests.items())
        )
        reports = session.exec(
            select(AuditRunRow).where(col(AuditRunRow.log_seq).in_([a.log_seq for a in audits]))
        ).all()
        for run in reports:
            payload = statement(
                [(f"dataset:{run.dataset_digest}", run.dataset_digest.removeprefix("sha256:"))],
                REPORT_PREDICATE,
                json.loads(run.report),
            )
            files[f"reports/{run.log_seq:08d}.dsse.json"] = sign_json(signer, payload)
        trust_state = session.exec(
            select(TrustStateRow).order_by(col(TrustStateRow.log_seq).desc())
        ).first()
    if trust_state is not None:
        files["trust.yaml"] = yaml.safe_dump(
            json.loads(trust_state.document), sort_keys=False
        ).encode("utf-8")
    for row in key_rows:
        files[f"keys/{row['keyid']}.pub"] = str(row["public_key"]).encode("ascii")
    files["registry-key.pub"] = signer.verifying_key().pem()
    checkpoint = make_checkpoint(signer, checked.origin, frontier)
    registry.add_checkpoint(
        checkpoint.size,
        checkpoint.root,
        signer.keyid,
        checkpoint.created_at,
        json.dumps(dict(checkpoint.envelope)),
    )
    files["checkpoint.json"] = checkpoint.to_json().encode("utf-8")
    files["lineage.prov.json"] = _dump(prov_document(snapshot, closure))
    files["lineage.yaml"] = yaml.safe_dump(
        lineage_declaration(snapshot, closure, catalog).to_dict(), sort_keys=False
    ).encode("utf-8")
    files["README.txt"] = _readme(subject_kind, name).encode("utf-8")
    predicate = {
        "subject": {
            "kind": subject_kind,
            "name": name,
            **_subject_digest(closure, subject_kind, name),
        },
        "created_at": checkpoint.created_at,
        "tool_version": __version__,
        "registry": {
            "origin": checked.origin,
            "tree_size": checkpoint.size,
            "root": checkpoint.root,
        },
    }
    data = write_bundle(files, signer, predicate)
    info = BundleInfo(
        subject_kind,
        name,
        len(datasets),
        len(manifests),
        len(reports),
        checkpoint.size,
        checkpoint.root,
        len(data),
    )
    return data, info


def _subject_digest(closure: Closure, kind: str, name: str) -> dict[str, str]:
    if kind != "dataset":
        return {}
    for dataset in closure.datasets.values():
        if dataset.name == name:
            return {"dataset_digest": dataset.digest}
    return {}


def _rows_where(session: Session, kind: str, where: Any) -> list[dict[str, Any]]:
    model: type[RegistryTable] = LOGGED[kind]
    table: Table = model.__table__  # type: ignore[attr-defined]
    query = sa_select(table)
    if where is not None:
        query = query.where(where(table))
    return [dict(row._mapping) for row in session.execute(query.order_by(table.c.log_seq))]


def _entries(session: Session, seqs: Sequence[int], leaves: Sequence[bytes]) -> bytes:
    proofs = inclusion_paths(leaves, seqs)
    lines = []
    for start in range(0, len(seqs), 500):
        part = list(seqs[start : start + 500])
        for entry in session.exec(select(LogEntry).where(col(LogEntry.seq).in_(part))).all():
            model = LOGGED[entry.kind]
            table: Table = model.__table__  # type: ignore[attr-defined]
            row = session.execute(sa_select(table).where(table.c.log_seq == entry.seq)).one()
            values = dict(row._mapping)
            body = {c: values[c] for c in body_columns(model)}
            lines.append(
                (
                    entry.seq,
                    _line(
                        {
                            "seq": entry.seq,
                            "kind": entry.kind,
                            "label": entry.label,
                            "body_hash": entry.body_hash,
                            "entry_hash": entry.entry_hash,
                            "body": body,
                            "proof": [p.hex() for p in proofs[entry.seq]],
                        }
                    ),
                )
            )
            if leaf(entry.entry_hash) != leaves[entry.seq]:
                raise db.RegistryError(f"log entry #{entry.seq} changed while the bundle was made")
    return b"".join(line for _, line in sorted(lines))


def _sample_ids(session: Session, seq: int) -> set[str]:
    row = session.exec(select(AuditRunRow.report).where(col(AuditRunRow.log_seq) == seq)).first()
    if row is None:
        return set()
    report = json.loads(row)
    return {str(i) for d in report.get("decisions", []) for i in d.get("sample_ids", [])}


def _member(m: MemberRow) -> dict[str, Any]:
    return {
        "position": m.position,
        "content_digest": m.content_digest,
        "record_id": m.record_id,
        "status": m.status,
        "envelope_digest": m.envelope_digest,
    }


def _line(value: Any) -> bytes:
    return canonical.canonicalize(value) + b"\n"


def _dump(value: Any) -> bytes:
    return json.dumps(value, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"


def _readme(kind: str, name: str) -> str:
    return (
        f"Evidence bundle for {kind} {name}, made by provenance {__version__}.\n\n"
        "Check it offline with:\n\n"
        "    provenance evidence verify THIS.zip [--trust TRUST.yaml]\n\n"
        "Without --trust the bundle's own key and trust store are used: that shows the bundle is\n"
        "whole and unchanged since it was made. With your organisation's trust store it also\n"
        "shows who made it. See docs/registry.md for the layout.\n"
    )


def datasets_of(closure: Closure) -> list[Dataset]:
    return sorted(closure.datasets.values(), key=lambda d: d.log_seq)
