"""Gated reloads (issue 17): `POST /v1/admin/reload` with a `gate` records the candidate, the two evaluation
runs (serving and candidate, on the same suite) and the decision.

Written by hand (reviewed against app/db/models.py `GatedReload`); works on SQLite and PostgreSQL.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gated_reloads",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "status",
            sa.Enum(
                "evaluating", "swapped", "refused", "failed", name="gate_status", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("model", sa.String(32), nullable=False),
        sa.Column("index_dir", sa.Text(), nullable=False),
        sa.Column("serving_dir", sa.Text(), nullable=True),
        sa.Column("gate", sa.JSON(), nullable=False),
        sa.Column(
            "serving_run_id",
            sa.Integer(),
            sa.ForeignKey("evaluation_runs.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column(
            "candidate_run_id",
            sa.Integer(),
            sa.ForeignKey("evaluation_runs.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("comparison", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("owner", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_gated_reloads_status", "gated_reloads", ["status"])


def downgrade() -> None:
    op.drop_index("ix_gated_reloads_status", table_name="gated_reloads")
    op.drop_table("gated_reloads")
