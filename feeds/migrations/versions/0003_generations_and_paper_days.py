"""Write generations (the daemon indexes what other processes wrote), paper days, run owners.

``generation`` is one row bumped by every transaction that writes papers, and
``papers.generation`` says which one last changed a paper: the daemon polls
the row and indexes the papers stamped after the value it last saw.
``paper_days`` lists papers that have no announcement (snapshot, OAI, API) by
the day of their first and latest version; existing such papers are filled in
here. ``crawl_runs.owner`` names the process running a crawl or import, so a
run whose process died is marked aborted instead of staying ``running``.
Every step is skipped where a ``create_all`` database already has it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_BATCH = 5000


def _day(value: dt.datetime | None) -> dt.date | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.date()


def _rows(row: Any) -> list[dict[str, Any]]:
    """The days of one paper (the rule of ``feeds.upsert.day_rows``, frozen as of this revision)."""
    cats = list(dict.fromkeys((row.categories or "").split()))
    first, latest = _day(row.submitted), _day(row.updated)
    out: dict[tuple[str, dt.date], str] = {}
    if first is None:
        first = latest
    if first is not None:
        for i, cat in enumerate(cats):
            out[(cat, first)] = "new" if i == 0 else "cross"
    if latest is not None and (row.latest_version or 1) > 1:
        for i, cat in enumerate(cats):
            out.setdefault((cat, latest), "replace" if i == 0 else "replace-cross")
    return [
        {"paper_id": row.id, "category": cat[:32], "date": day, "type": kind}
        for (cat, day), kind in out.items()
    ]


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    tables = set(inspector.get_table_names())
    if "generation" not in tables:
        op.create_table(
            "generation",
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
            sa.Column("value", sa.BigInteger(), nullable=False),
        )
    if "generation" not in {c["name"] for c in inspector.get_columns("papers")}:
        op.add_column("papers", sa.Column("generation", sa.BigInteger(), nullable=True))
    if "ix_papers_generation" not in {ix["name"] for ix in inspector.get_indexes("papers")}:
        op.create_index("ix_papers_generation", "papers", ["generation", "id"])
    if "owner" not in {c["name"] for c in inspector.get_columns("crawl_runs")}:
        op.add_column("crawl_runs", sa.Column("owner", sa.String(160), nullable=True))
    if "paper_days" not in tables:
        op.create_table(
            "paper_days",
            sa.Column(
                "paper_id", sa.String(64), sa.ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True
            ),
            sa.Column("category", sa.String(32), primary_key=True),
            sa.Column("date", sa.Date(), primary_key=True),
            sa.Column("type", sa.String(16), nullable=False),
        )
        op.create_index("ix_paper_days_category_date", "paper_days", ["category", "date"])
        _fill_paper_days(bind)


def _fill_paper_days(bind: sa.Connection) -> None:
    meta = sa.MetaData()
    papers = sa.Table(
        "papers",
        meta,
        sa.Column("id", sa.String(64)),
        sa.Column("categories", sa.Text()),
        sa.Column("submitted", sa.DateTime(timezone=True)),
        sa.Column("updated", sa.DateTime(timezone=True)),
        sa.Column("latest_version", sa.Integer()),
    )
    announcements = sa.Table("announcements", meta, sa.Column("paper_id", sa.String(64)))
    days = sa.Table(
        "paper_days",
        meta,
        sa.Column("paper_id", sa.String(64)),
        sa.Column("category", sa.String(32)),
        sa.Column("date", sa.Date()),
        sa.Column("type", sa.String(16)),
    )
    unannounced = (
        sa.select(papers)
        .where(~sa.exists().where(announcements.c.paper_id == papers.c.id))
        .order_by(papers.c.id)
    )
    last = ""
    while True:  # keyset pages: one cursor at a time, whatever the dialect
        page = bind.execute(unannounced.where(papers.c.id > last).limit(_BATCH)).all()
        if not page:
            return
        rows = [r for paper in page for r in _rows(paper)]
        if rows:
            bind.execute(days.insert(), rows)
        last = page[-1].id


def downgrade() -> None:
    op.drop_index("ix_paper_days_category_date", table_name="paper_days")
    op.drop_table("paper_days")
    with op.batch_alter_table("crawl_runs") as batch:
        batch.drop_column("owner")
    op.drop_index("ix_papers_generation", table_name="papers")
    with op.batch_alter_table("papers") as batch:
        batch.drop_column("generation")
    op.drop_table("generation")
