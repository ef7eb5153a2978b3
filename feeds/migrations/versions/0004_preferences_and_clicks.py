"""Readers' preference keywords (the ❤ order) and click counts after [PDF] and [FAQ].

Both are small tables of this instance's readers; nothing existing changes.
Every step is skipped where a ``create_all`` database already has it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    tables = set(sa.inspect(op.get_bind()).get_table_names())
    if "preferences" not in tables:
        op.create_table(
            "preferences",
            sa.Column("keyword", sa.String(200), primary_key=True),
            sa.Column("weight", sa.Integer(), nullable=False, server_default="1"),
            sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        )
    if "clicks" not in tables:
        op.create_table(
            "clicks",
            sa.Column(
                "paper_id", sa.String(64), sa.ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True
            ),
            sa.Column("kind", sa.String(8), primary_key=True),
            sa.Column("count", sa.Integer(), nullable=False, server_default="0"),
            sa.Column("last", sa.DateTime(timezone=True), nullable=False),
        )


def downgrade() -> None:
    op.drop_table("clicks")
    op.drop_table("preferences")
