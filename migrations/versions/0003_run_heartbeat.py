"""Evaluation runs carry a heartbeat: the database is the queue, liveness is a timestamp, not a process id.

`heartbeat_at` is written by the worker supervising a running evaluation every MMWE_EVAL_HEARTBEAT_S; any
worker fails a running run whose heartbeat is older than MMWE_EVAL_HEARTBEAT_GRACE_S. The index on
(status, id) serves the queue's claim query (`oldest queued run`).

Written by hand (reviewed against app/db/models.py); works on SQLite (batch mode) and PostgreSQL.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("evaluation_runs") as batch:
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_evaluation_runs_status_id", "evaluation_runs", ["status", "id"])


def downgrade() -> None:
    op.drop_index("ix_evaluation_runs_status_id", table_name="evaluation_runs")
    with op.batch_alter_table("evaluation_runs") as batch:
        batch.drop_column("heartbeat_at")
