"""The paper database schema (SQLAlchemy 2.x), the same on SQLite and PostgreSQL.

Papers are keyed by the arXiv id without version; every announcement of a paper
in a category on a day is its own row, so a cross-list or a replacement adds a
row instead of duplicating the paper. Text is kept twice: as arXiv sent it
(``*_tex``) and cleaned for display and search (TeX accents to Unicode, hard
line breaks joined).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from feeds.ids import abs_url, pdf_url

__all__ = [
    "Announcement",
    "Base",
    "Click",
    "CrawlRun",
    "FaqAnswer",
    "Generation",
    "HttpCache",
    "Paper",
    "PaperDay",
    "Preference",
    "Star",
    "Version",
    "table_of",
]

ANNOUNCE_TYPES = ("new", "cross", "replace", "replace-cross")


class Base(DeclarativeBase):
    pass


class Paper(Base):
    __tablename__ = "papers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # "2401.06769", "hep-th/9901001"
    title: Mapped[str] = mapped_column(Text)
    title_tex: Mapped[str] = mapped_column(Text)
    abstract: Mapped[str] = mapped_column(Text, default="")
    abstract_tex: Mapped[str] = mapped_column(Text, default="")
    authors: Mapped[list[str]] = mapped_column(JSON, default=list)  # cleaned, in order
    authors_tex: Mapped[str] = mapped_column(Text, default="")  # as arXiv sent them
    comments: Mapped[str | None] = mapped_column(Text)
    journal_ref: Mapped[str | None] = mapped_column(Text)
    doi: Mapped[str | None] = mapped_column(Text)
    report_no: Mapped[str | None] = mapped_column(Text)
    primary_category: Mapped[str] = mapped_column(String(32), index=True)
    categories: Mapped[str] = mapped_column(Text)  # space-separated, primary first (arXiv's form)
    license: Mapped[str | None] = mapped_column(Text)
    submitted: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))  # v1
    updated: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), index=True)  # latest version
    latest_version: Mapped[int] = mapped_column(Integer, default=1)
    source: Mapped[str] = mapped_column(String(16), default="api")  # rss | api | oai | snapshot
    fetched_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    # the write generation (``Generation``) of the transaction that last changed the paper (migration 0003)
    generation: Mapped[int | None] = mapped_column(BigInteger)

    versions: Mapped[list[Version]] = relationship(
        back_populates="paper", order_by="Version.version", cascade="all, delete-orphan", lazy="selectin"
    )
    announcements: Mapped[list[Announcement]] = relationship(
        back_populates="paper", cascade="all, delete-orphan", lazy="selectin"
    )

    # added by migration 0002: the crawler looks up feed-only papers (source='rss') on every run;
    # by 0003: the daemon reads what changed since the generation it last indexed
    __table_args__ = (
        Index("ix_papers_source", "source"),
        Index("ix_papers_generation", "generation", "id"),
    )

    @property
    def category_list(self) -> list[str]:
        return self.categories.split()

    @property
    def abs_url(self) -> str:
        return abs_url(self.id)

    @property
    def pdf_url(self) -> str:
        return pdf_url(self.id)


class Version(Base):
    __tablename__ = "versions"

    paper_id: Mapped[str] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    created: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    size: Mapped[str | None] = mapped_column(String(32))

    paper: Mapped[Paper] = relationship(back_populates="versions")


class Announcement(Base):
    """A paper listed in a category on an announcement day (arXiv's date, not ours)."""

    __tablename__ = "announcements"

    paper_id: Mapped[str] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True)
    category: Mapped[str] = mapped_column(String(32), primary_key=True)
    date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    type: Mapped[str] = mapped_column(String(16))  # one of ANNOUNCE_TYPES
    position: Mapped[int] = mapped_column(Integer, default=0)  # order in arXiv's list

    paper: Mapped[Paper] = relationship(back_populates="announcements")

    __table_args__ = (
        Index("ix_announcements_category_date", "category", "date"),
        Index("ix_announcements_date", "date"),  # added by migration 0002
    )


class PaperDay(Base):
    """A paper with no announcement listed by its own dates (migration 0003): a snapshot, OAI or API paper
    on the day of its first version (``new``/``cross``) and of its latest (``replace``/``replace-cross``).

    Kept by the store in the transaction of every paper write, for papers without any announcement
    only: once arXiv's listing of a paper is crawled, that listing is where the paper is shown.
    """

    __tablename__ = "paper_days"

    paper_id: Mapped[str] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True)
    category: Mapped[str] = mapped_column(String(32), primary_key=True)
    date: Mapped[dt.date] = mapped_column(Date, primary_key=True)  # UTC day of the version
    type: Mapped[str] = mapped_column(String(16))  # one of ANNOUNCE_TYPES

    __table_args__ = (Index("ix_paper_days_category_date", "category", "date"),)


class Generation(Base):
    """One row counting the transactions that wrote papers (migration 0003).

    Every paper write, by any process, bumps it and stamps the papers it changes
    with the new value, in the same transaction; writers serialize on this row,
    so a reader that sees value N knows every paper stamped up to N is committed.
    """

    __tablename__ = "generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # always 1
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class Star(Base):
    __tablename__ = "stars"

    paper_id: Mapped[str] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True)
    starred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Preference(Base):
    """A reader's keyword for the ❤ order (migration 0004): papers are scored by the keywords they contain.

    Kept server-side so every browser of this instance shares one list, as the stars are.
    """

    __tablename__ = "preferences"

    keyword: Mapped[str] = mapped_column(String(200), primary_key=True)  # as typed, trimmed
    weight: Mapped[int] = mapped_column(Integer, default=1)  # how much a match counts (1..9)
    added_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Click(Base):
    """How often this instance's readers opened a paper's PDF or FAQ (migration 0004)."""

    __tablename__ = "clicks"

    paper_id: Mapped[str] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # pdf | faq
    count: Mapped[int] = mapped_column(Integer, default=0)
    last: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class CrawlRun(Base):
    """What was fetched, when, and how it ended: the crawl's memory across restarts."""

    __tablename__ = "crawl_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # rss | api | oai | snapshot
    key: Mapped[str] = mapped_column(Text)  # category, id list, date range or file
    started: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    finished: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # running | ok | empty | error | cancelled | aborted (its process died)
    status: Mapped[str] = mapped_column(String(16), default="running")
    detail: Mapped[str | None] = mapped_column(Text)
    announce_date: Mapped[dt.date | None] = mapped_column(Date)
    papers: Mapped[int] = mapped_column(Integer, default=0)
    # who runs it (host:pid:start), so a run whose process died is marked aborted (migration 0003)
    owner: Mapped[str | None] = mapped_column(String(160))

    __table_args__ = (Index("ix_crawl_runs_kind_key", "kind", "key"),)


class HttpCache(Base):
    """Validators for conditional GETs (ETag / Last-Modified) per URL."""

    __tablename__ = "http_cache"

    url: Mapped[str] = mapped_column(Text, primary_key=True)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    checked: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


def table_of(model: type[Base]) -> Table:
    """The ``Table`` a model maps, for Core statements (SQLAlchemy types ``__table__`` as FromClause)."""
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to a Table")
    return table


class FaqAnswer(Base):
    """A paper's FAQ from a language model, and the job that makes it (migration 0005).

    One row per paper version, language, model and prompt version: ``queued`` and ``running`` rows are
    the generation queue (restored in ``id`` order when the daemon starts), ``done`` rows the shared
    answers, ``error`` rows say what went wrong until someone asks again.
    """

    __tablename__ = "faq_answers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)  # queue order
    paper_id: Mapped[str] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    language: Mapped[str] = mapped_column(String(8))  # en | zh
    model: Mapped[str] = mapped_column(String(200))
    prompt_version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # queued | running | done | error
    text: Mapped[str] = mapped_column(Text, default="")  # the model's Markdown, as it wrote it
    note: Mapped[str | None] = mapped_column(Text)  # e.g. the paper was cut to the model's budget
    error: Mapped[str | None] = mapped_column(Text)
    restarts: Mapped[int] = mapped_column(Integer, default=0)  # runs cut short by the daemon's death
    input_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    requested_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint(
            "paper_id", "version", "language", "model", "prompt_version", name="uq_faq_answers_key"
        ),
        Index("ix_faq_answers_status", "status"),
    )
