"""Indexes the crawler's hot queries need: papers awaiting API details, announcements by day.

``papers.source`` is scanned on every crawl for feed-only papers (``'rss'``);
without an index that is a full scan of millions of imported rows.
``announcements.date`` serves "latest day" and per-day statistics.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_INDEXES = (("ix_papers_source", "papers", ["source"]), ("ix_announcements_date", "announcements", ["date"]))


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for name, table, columns in _INDEXES:
        if name not in {
            ix["name"] for ix in inspector.get_indexes(table)
        }:  # a create_all() database has them
            op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in _INDEXES:
        op.drop_index(name, table_name=table)
