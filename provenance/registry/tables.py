"""The registry's tables (sqlmodel), on a metadata of their own.

Every evidence row carries ``log_seq``: the position of the append-only log entry that recorded it
(``provenance.registry.logtree``). The entry holds the SHA-256 of the row's *body* — every column
but ``id`` and ``log_seq`` — so a row changed, deleted or moved after it was written no longer
matches its entry. Columns are plain strings and integers (times as RFC 3339 UTC text, JSON as
canonical text) so that a body hashes the same on SQLite and PostgreSQL.

``contributions`` is derived from ``manifests`` (each stored manifest's signed statement) and is
checked against it rather than logged. ``log_head`` and ``checkpoints`` describe the log itself.

The schema is created and changed only by the Alembic migrations in ``migrations/versions``; a test
compares these models with the migrated schema.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Index, Text, UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

metadata_registry = registry()


class RegistryTable(SQLModel, registry=metadata_registry):
    """Base of the registry's tables; their metadata is separate from any other sqlmodel user."""


def _text() -> Any:
    return Field(sa_type=Text)


def _opt_text() -> Any:
    return Field(default=None, sa_type=Text, nullable=True)


class LogEntry(RegistryTable, table=True):
    """One entry of the append-only log: a row written to an evidence table."""

    __tablename__ = "log_entries"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    kind: str = Field(max_length=32)
    """The evidence table the row was written to (see ``LOGGED``)."""
    label: str = _text()
    """A short human description of the row (``manifest r5 sha256:ab12…``)."""
    body_hash: str = Field(max_length=64)
    entry_hash: str = Field(max_length=64)
    """Hex SHA-256 over seq, kind, label and body hash: the Merkle tree's leaf data."""


class LogHead(RegistryTable, table=True):
    """The log's size and compact Merkle frontier; its row is locked by every write."""

    __tablename__ = "log_head"

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    origin: str = Field(max_length=64)
    """Random id of this registry, named in every checkpoint."""
    size: int
    frontier: str = _text()
    """JSON ``[[width, hex], …]``: roots of the perfect subtrees of the log so far."""
    created_at: str = Field(max_length=40)


class CheckpointRow(RegistryTable, table=True):
    """A signed checkpoint (tree size and root) made of this registry's log."""

    __tablename__ = "checkpoints"

    id: int | None = Field(default=None, primary_key=True)
    size: int
    root: str = Field(max_length=64)
    keyid: str = Field(max_length=64)
    created_at: str = Field(max_length=40)
    envelope: str = _text()


class TrustStateRow(RegistryTable, table=True):
    """A state of the trust store seen by a write (a trust change when the digest is new)."""

    __tablename__ = "trust_states"

    id: int | None = Field(default=None, primary_key=True)
    log_seq: int = Field(unique=True)
    digest: str = Field(max_length=71, unique=True)
    version: int
    document: str = _text()
    """The trust store as canonical JSON."""
    recorded_at: str = Field(max_length=40)


class KeyRow(RegistryTable, table=True):
    """A public key that appeared in a trust store or signed registry evidence."""

    __tablename__ = "keys"

    id: int | None = Field(default=None, primary_key=True)
    log_seq: int = Field(unique=True)
    keyid: str = Field(max_length=64, unique=True)
    name: str = _text()
    algorithm: str = Field(max_length=32)
    public_key: str = _text()
    recorded_at: str = Field(max_length=40)


class ManifestRow(RegistryTable, table=True):
    """A verified manifest, with its ``_provenance`` object kept as it was signed."""

    __tablename__ = "manifests"

    id: int | None = Field(default=None, primary_key=True)
    log_seq: int = Field(unique=True)
    envelope_digest: str = Field(max_length=64, unique=True)
    """Hex SHA-256 of ``provenance`` (the natural key: the same manifest is stored once)."""
    record_id: str = Field(sa_type=Text, index=True)
    content_digest: str = Field(max_length=64, index=True)
    mode: str = Field(max_length=8)
    """``dsse`` (one envelope per record) or ``batch`` (Merkle batch)."""
    batch_root: str | None = Field(default=None, max_length=64, nullable=True)
    signer_keyid: str = Field(max_length=64)
    signed_at: str | None = Field(default=None, max_length=40, nullable=True)
    organization: str | None = _opt_text()
    provenance: str = _text()
    """The record's ``_provenance`` as canonical JSON (a batch sidecar envelope is embedded)."""
    ingested_at: str = Field(max_length=40)


class ContributionRow(RegistryTable, table=True):
    """One contribution of a stored manifest, for queries (derived from the manifest)."""

    __tablename__ = "contributions"
    __table_args__ = (
        UniqueConstraint("envelope_digest", "position", name="uq_contributions_manifest_position"),
    )

    id: int | None = Field(default=None, primary_key=True)
    envelope_digest: str = Field(max_length=64, index=True)
    position: int
    record_id: str = _text()
    content_digest: str = Field(max_length=64)
    pointer: str = _text()
    role: str = Field(max_length=32)
    provider: str = Field(max_length=200, index=True)
    model: str = Field(max_length=400, index=True)
    model_returned: str | None = _opt_text()
    service: str | None = _opt_text()
    terms_id: str | None = Field(default=None, max_length=400, nullable=True, index=True)
    terms_digest: str | None = _opt_text()
    generated_at: str | None = Field(default=None, max_length=40, nullable=True)
    generated_day: str | None = Field(default=None, max_length=10, nullable=True, index=True)
    organization: str | None = _opt_text()


class MemberRow(RegistryTable, table=True):
    """A record at a position of a dataset (datasets are named by their digest)."""

    __tablename__ = "dataset_members"
    __table_args__ = (
        UniqueConstraint("dataset_digest", "position", name="uq_members_dataset_position"),
    )

    id: int | None = Field(default=None, primary_key=True)
    log_seq: int = Field(unique=True)
    dataset_digest: str = Field(max_length=71)
    position: int
    content_digest: str = Field(max_length=64, index=True)
    record_id: str | None = _opt_text()
    status: str = Field(max_length=32)
    """The verification status at ingest: ``ok``, ``missing-manifest`` or a failure."""
    envelope_digest: str | None = Field(default=None, max_length=64, nullable=True, index=True)


class DatasetRow(RegistryTable, table=True):
    """A dataset: a name for an ordered set of records, with the audit's ``dataset_digest``."""

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("name", "dataset_digest", name="uq_datasets_name_digest"),)

    id: int | None = Field(default=None, primary_key=True)
    log_seq: int = Field(unique=True)
    name: str = Field(max_length=400, index=True)
    dataset_digest: str = Field(max_length=71, index=True)
    records: int
    manifests: int
    files: str = _text()
    """JSON list of the files ingested."""
    trust_digest: str | None = Field(default=None, max_length=71, nullable=True)
    registered_at: str = Field(max_length=40)


class ModelRow(RegistryTable, table=True):
    """A model declared in the registry (trained here, or named as a base)."""

    __tablename__ = "models"

    id: int | None = Field(default=None, primary_key=True)
    log_seq: int = Field(unique=True)
    name: str = Field(max_length=400, unique=True)
    organization: str | None = _opt_text()
    registered_at: str = Field(max_length=40)


class EdgeRow(RegistryTable, table=True):
    """A lineage declaration: a model trained on a dataset, or built on base weights."""

    __tablename__ = "lineage_edges"
    __table_args__ = (
        UniqueConstraint("model", "kind", "target", "target_digest", name="uq_edges_declaration"),
        Index("ix_lineage_edges_target", "target"),
    )

    id: int | None = Field(default=None, primary_key=True)
    log_seq: int = Field(unique=True)
    model: str = Field(max_length=400, index=True)
    kind: str = Field(max_length=32)
    """``trained-on`` (target: a dataset) or ``fine-tuned-from`` (target: a base model)."""
    target: str = Field(max_length=400)
    target_digest: str = Field(default="", max_length=71)
    """The dataset digest for ``trained-on`` a registered dataset; empty otherwise."""
    activity: str | None = Field(default=None, max_length=32, nullable=True)
    declared_at: str = Field(max_length=40)


class AuditRunRow(RegistryTable, table=True):
    """A recorded ``provenance audit``: the report as its JSON, and what it was judged with."""

    __tablename__ = "audit_runs"

    id: int | None = Field(default=None, primary_key=True)
    log_seq: int = Field(unique=True)
    report_digest: str = Field(max_length=64, unique=True)
    recorded_at: str = Field(max_length=40)
    generated_at: str = Field(max_length=40)
    tool_version: str = Field(max_length=40)
    verdict: str = Field(max_length=8)
    outcome: str = Field(max_length=8)
    fail_on: str = Field(max_length=8)
    target: str = Field(max_length=400, index=True)
    intent: str = _text()
    dataset_digest: str = Field(max_length=71, index=True)
    policies: str = _text()
    """JSON list of ``{id, digest}`` of the terms documents used."""
    trust_store_version: int | None = Field(default=None, nullable=True)
    report: str = _text()
    """The report (``AuditReport.to_dict()``) as canonical JSON."""


class TermsRow(RegistryTable, table=True):
    """A terms document file an audit used, byte for byte."""

    __tablename__ = "terms_documents"

    id: int | None = Field(default=None, primary_key=True)
    log_seq: int = Field(unique=True)
    doc_id: str = Field(max_length=400, index=True)
    digest: str = Field(max_length=71, unique=True)
    title: str | None = _opt_text()
    content: str = _text()
    recorded_at: str = Field(max_length=40)


class AuditInputsRow(RegistryTable, table=True):
    """What the terms engine judged in a recorded audit, so that it can be judged again without
    the data (``provenance reaudit``): its record classes, the classes of the lineage's dataset
    files, the records without verified provenance and the lineage declaration."""

    __tablename__ = "audit_inputs"

    id: int | None = Field(default=None, primary_key=True)
    log_seq: int = Field(unique=True)
    audit_seq: int = Field(unique=True)
    """The log entry of the audit run (``audit_runs.log_seq``)."""
    report_digest: str = Field(max_length=64, unique=True)
    classes: int
    """How many record classes ``inputs`` holds."""
    inputs: str = _text()
    """``JudgementInputs.to_dict()`` as canonical JSON."""
    recorded_at: str = Field(max_length=40)


class ReauditRunRow(RegistryTable, table=True):
    """A recorded audit judged again (``provenance reaudit --record``) against a terms library."""

    __tablename__ = "reaudit_runs"

    id: int | None = Field(default=None, primary_key=True)
    log_seq: int = Field(unique=True)
    audit_seq: int = Field(index=True)
    """The log entry of the audit run judged again."""
    report_digest: str = Field(max_length=64)
    reaudited_at: str = Field(max_length=40)
    tool_version: str = Field(max_length=40)
    library_digest: str | None = Field(default=None, max_length=71, nullable=True)
    library: str = _text()
    """The terms library used, as canonical JSON (its digest and source, ``null`` when unknown)."""
    outcome_before: str = Field(max_length=8)
    outcome_after: str = Field(max_length=8)
    changes: str = _text()
    """Canonical JSON: the decisions that changed, each with the clause responsible, and the
    waivers that match nothing now."""


LOGGED: dict[str, type[RegistryTable]] = {
    "trust": TrustStateRow,
    "key": KeyRow,
    "manifest": ManifestRow,
    "member": MemberRow,
    "dataset": DatasetRow,
    "model": ModelRow,
    "edge": EdgeRow,
    "audit": AuditRunRow,
    "terms": TermsRow,
    "audit-inputs": AuditInputsRow,
    "reaudit": ReauditRunRow,
}
"""Log entry kind → the table whose rows it records."""

KIND_OF: dict[str, str] = {str(table.__tablename__): kind for kind, table in LOGGED.items()}


def body_columns(table: type[RegistryTable]) -> tuple[str, ...]:
    """The columns a row's body hash covers: every column but ``id`` and ``log_seq``."""
    return tuple(
        c.name
        for c in table.__table__.columns  # type: ignore[attr-defined]
        if c.name not in ("id", "log_seq")
    )
