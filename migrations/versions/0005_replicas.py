"""Replicas (issue 19): the served index as desired state (`served_index`), and what each serving process
serves (`replica`, one row per process and model, rewritten at every poll as its heartbeat).

Written by hand (reviewed against app/db/models.py); works on SQLite and PostgreSQL.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "served_index",
        sa.Column("model", sa.String(64), primary_key=True),
        sa.Column("index_dir", sa.Text(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=True),
    )
    op.create_table(
        "replica",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("model", sa.String(64), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("index_dir", sa.Text(), nullable=True),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
    )
    op.create_index("ix_replica_heartbeat_at", "replica", ["heartbeat_at"])


def downgrade() -> None:
    op.drop_index("ix_replica_heartbeat_at", table_name="replica")
    op.drop_table("replica")
    op.drop_table("served_index")
