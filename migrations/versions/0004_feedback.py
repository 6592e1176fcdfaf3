"""Users' feedback on related phrases (`POST /v1/feedback`) and the click benchmarks built from it
(`POST /v1/admin/benchmarks`).

`feedback`: one row per impression (query, phrases shown, phrases clicked, JSON lists), the model name the
client reports, the index serving at the time, an opaque client id, and `assignment` (reserved for the A/B
split of traffic between named models). Indexed by creation time (exports and benchmarks read a window).
`click_benchmarks`: one row per built benchmark file (path relative to MMWE_DATA_DIR, rows, source window,
min_impressions, seed, sha256), looked up by name, newest first.

Written by hand (reviewed against app/db/models.py); works on SQLite and PostgreSQL.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("shown", sa.JSON(), nullable=False),
        sa.Column("clicked", sa.JSON(), nullable=False),
        sa.Column("served_by", sa.String(128), nullable=True),
        sa.Column("index_name", sa.String(256), nullable=True),
        sa.Column("index_generation", sa.Integer(), nullable=True),
        sa.Column("client", sa.String(128), nullable=True),
        sa.Column("assignment", sa.String(64), nullable=True),
    )
    op.create_index("ix_feedback_created_at", "feedback", ["created_at"])
    op.create_table(
        "click_benchmarks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("feedback_records", sa.Integer(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("min_impressions", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_click_benchmarks_name_id", "click_benchmarks", ["name", "id"])
    op.create_index("ix_click_benchmarks_created_at", "click_benchmarks", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_click_benchmarks_created_at", table_name="click_benchmarks")
    op.drop_index("ix_click_benchmarks_name_id", table_name="click_benchmarks")
    op.drop_table("click_benchmarks")
    op.drop_index("ix_feedback_created_at", table_name="feedback")
    op.drop_table("feedback")
