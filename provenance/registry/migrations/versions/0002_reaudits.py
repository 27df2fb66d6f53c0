"""Re-audits: what each recorded audit judged (``audit_inputs``), and recorded audits judged again
against a terms library (``reaudit_runs``). Both are logged rows.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True)


def _log_seq() -> sa.Column[int]:
    return sa.Column("log_seq", sa.Integer(), nullable=False, unique=True)


def _s(name: str, length: int, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(length), nullable=nullable)


def _t(name: str) -> sa.Column[str]:
    return sa.Column(name, sa.Text(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "audit_inputs",
        _id(),
        _log_seq(),
        sa.Column("audit_seq", sa.Integer(), nullable=False, unique=True),
        sa.Column("report_digest", sa.String(64), nullable=False, unique=True),
        sa.Column("classes", sa.Integer(), nullable=False),
        _t("inputs"),
        _s("recorded_at", 40),
    )
    op.create_table(
        "reaudit_runs",
        _id(),
        _log_seq(),
        sa.Column("audit_seq", sa.Integer(), nullable=False),
        _s("report_digest", 64),
        _s("reaudited_at", 40),
        _s("tool_version", 40),
        _s("library_digest", 71, nullable=True),
        _t("library"),
        _s("outcome_before", 8),
        _s("outcome_after", 8),
        _t("changes"),
    )
    op.create_index("ix_reaudit_runs_audit_seq", "reaudit_runs", ["audit_seq"])


def downgrade() -> None:
    op.drop_index("ix_reaudit_runs_audit_seq", table_name="reaudit_runs")
    op.drop_table("reaudit_runs")
    op.drop_table("audit_inputs")
