"""The evidence registry: append-only log, keys and trust, manifests, datasets, lineage, audits.

Revision ID: 0001
Revises:
Create Date: 2025-07-01
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True)


def _log_seq() -> sa.Column[int]:
    return sa.Column("log_seq", sa.Integer(), nullable=False, unique=True)


def _s(name: str, length: int, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(length), nullable=nullable)


def _t(name: str, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.Text(), nullable=nullable)


def _i(name: str, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "log_entries",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        _s("kind", 32),
        _t("label"),
        _s("body_hash", 64),
        _s("entry_hash", 64),
    )
    head = op.create_table(
        "log_head",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        _s("origin", 64),
        _i("size"),
        _t("frontier"),
        _s("created_at", 40),
    )
    op.create_table(
        "checkpoints",
        _id(),
        _i("size"),
        _s("root", 64),
        _s("keyid", 64),
        _s("created_at", 40),
        _t("envelope"),
    )
    op.create_table(
        "trust_states",
        _id(),
        _log_seq(),
        sa.Column("digest", sa.String(71), nullable=False, unique=True),
        _i("version"),
        _t("document"),
        _s("recorded_at", 40),
    )
    op.create_table(
        "keys",
        _id(),
        _log_seq(),
        sa.Column("keyid", sa.String(64), nullable=False, unique=True),
        _t("name"),
        _s("algorithm", 32),
        _t("public_key"),
        _s("recorded_at", 40),
    )
    op.create_table(
        "manifests",
        _id(),
        _log_seq(),
        sa.Column("envelope_digest", sa.String(64), nullable=False, unique=True),
        _t("record_id"),
        _s("content_digest", 64),
        _s("mode", 8),
        _s("batch_root", 64, nullable=True),
        _s("signer_keyid", 64),
        _s("signed_at", 40, nullable=True),
        _t("organization", nullable=True),
        _t("provenance"),
        _s("ingested_at", 40),
    )
    op.create_index("ix_manifests_record_id", "manifests", ["record_id"])
    op.create_index("ix_manifests_content_digest", "manifests", ["content_digest"])
    op.create_table(
        "contributions",
        _id(),
        _s("envelope_digest", 64),
        _i("position"),
        _t("record_id"),
        _s("content_digest", 64),
        _t("pointer"),
        _s("role", 32),
        _s("provider", 200),
        _s("model", 400),
        _t("model_returned", nullable=True),
        _t("service", nullable=True),
        _s("terms_id", 400, nullable=True),
        _t("terms_digest", nullable=True),
        _s("generated_at", 40, nullable=True),
        _s("generated_day", 10, nullable=True),
        _t("organization", nullable=True),
        sa.UniqueConstraint(
            "envelope_digest", "position", name="uq_contributions_manifest_position"
        ),
    )
    for column in ("envelope_digest", "provider", "model", "terms_id", "generated_day"):
        op.create_index(f"ix_contributions_{column}", "contributions", [column])
    op.create_table(
        "dataset_members",
        _id(),
        _log_seq(),
        _s("dataset_digest", 71),
        _i("position"),
        _s("content_digest", 64),
        _t("record_id", nullable=True),
        _s("status", 32),
        _s("envelope_digest", 64, nullable=True),
        sa.UniqueConstraint("dataset_digest", "position", name="uq_members_dataset_position"),
    )
    op.create_index("ix_dataset_members_content_digest", "dataset_members", ["content_digest"])
    op.create_index("ix_dataset_members_envelope_digest", "dataset_members", ["envelope_digest"])
    op.create_table(
        "datasets",
        _id(),
        _log_seq(),
        _s("name", 400),
        _s("dataset_digest", 71),
        _i("records"),
        _i("manifests"),
        _t("files"),
        _s("trust_digest", 71, nullable=True),
        _s("registered_at", 40),
        sa.UniqueConstraint("name", "dataset_digest", name="uq_datasets_name_digest"),
    )
    op.create_index("ix_datasets_name", "datasets", ["name"])
    op.create_index("ix_datasets_dataset_digest", "datasets", ["dataset_digest"])
    op.create_table(
        "models",
        _id(),
        _log_seq(),
        sa.Column("name", sa.String(400), nullable=False, unique=True),
        _t("organization", nullable=True),
        _s("registered_at", 40),
    )
    op.create_table(
        "lineage_edges",
        _id(),
        _log_seq(),
        _s("model", 400),
        _s("kind", 32),
        _s("target", 400),
        _s("target_digest", 71),
        _s("activity", 32, nullable=True),
        _s("declared_at", 40),
        sa.UniqueConstraint(
            "model", "kind", "target", "target_digest", name="uq_edges_declaration"
        ),
    )
    op.create_index("ix_lineage_edges_model", "lineage_edges", ["model"])
    op.create_index("ix_lineage_edges_target", "lineage_edges", ["target"])
    op.create_table(
        "audit_runs",
        _id(),
        _log_seq(),
        sa.Column("report_digest", sa.String(64), nullable=False, unique=True),
        _s("recorded_at", 40),
        _s("generated_at", 40),
        _s("tool_version", 40),
        _s("verdict", 8),
        _s("outcome", 8),
        _s("fail_on", 8),
        _s("target", 400),
        _t("intent"),
        _s("dataset_digest", 71),
        _t("policies"),
        _i("trust_store_version", nullable=True),
        _t("report"),
    )
    op.create_index("ix_audit_runs_target", "audit_runs", ["target"])
    op.create_index("ix_audit_runs_dataset_digest", "audit_runs", ["dataset_digest"])
    op.create_table(
        "terms_documents",
        _id(),
        _log_seq(),
        _s("doc_id", 400),
        sa.Column("digest", sa.String(71), nullable=False, unique=True),
        _t("title", nullable=True),
        _t("content"),
        _s("recorded_at", 40),
    )
    op.create_index("ix_terms_documents_doc_id", "terms_documents", ["doc_id"])
    op.bulk_insert(
        head,
        [
            {
                "id": 1,
                "origin": uuid.uuid4().hex,
                "size": 0,
                "frontier": "[]",
                "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            }
        ],
    )


def downgrade() -> None:
    for table in (
        "terms_documents",
        "audit_runs",
        "lineage_edges",
        "models",
        "datasets",
        "dataset_members",
        "contributions",
        "manifests",
        "keys",
        "trust_states",
        "checkpoints",
        "log_head",
        "log_entries",
    ):
        op.drop_table(table)
