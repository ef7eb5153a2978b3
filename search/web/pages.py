"""What the paper pages show, read from the database with plain Core selects.

Day lists are the hot page (a busy category has 500+ papers a day), so they
load only the columns they render, in one query per table, and never touch
the ORM's lazy relationships.

A day is arXiv's announcement list where one was crawled (``announcements``)
together with the papers that have no announcement at all (snapshot, OAI or
API papers, ``paper_days``) listed by the day of their first version (new,
cross-list) or latest version (replacement). A category spec matches its
aliases too (``cs.NA`` is ``math.NA``, see :mod:`feeds.categories`).
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, SQLColumnExpression, distinct, func, literal, or_, select
from sqlalchemy.orm import Session

from feeds.categories import canonical
from feeds.ids import abs_url, pdf_url
from feeds.models import Announcement, Paper, PaperDay, Star, Version
from search.web.catspec import CategorySpec

__all__ = [
    "DayList",
    "PaperView",
    "calendar",
    "category_counts",
    "day_list",
    "load_papers",
    "mark_starred",
    "paper_details",
    "starred_ids",
    "starred_papers",
]

TYPE_RANK = {"new": 0, "cross": 1, "replace": 2, "replace-cross": 3}
SECTIONS = (("new", "New submissions"), ("cross", "Cross-lists"), ("replaced", "Replacements"))

_COLUMNS = (
    Paper.id,
    Paper.title,
    Paper.abstract,
    Paper.authors,
    Paper.categories,
    Paper.primary_category,
    Paper.comments,
    Paper.submitted,
    Paper.updated,
    Paper.latest_version,
)


@dataclass
class PaperView:
    """One paper as a list or page shows it."""

    id: str
    title: str
    abstract: str
    authors: list[str]
    categories: list[str]
    primary_category: str
    comments: str | None = None
    submitted: dt.datetime | None = None
    updated: dt.datetime | None = None
    latest_version: int = 1
    announce_type: str | None = None
    starred: bool = False
    because: list[str] = field(default_factory=list)  # For you: the words it shares with the stars
    # only on the paper page
    journal_ref: str | None = None
    doi: str | None = None
    license: str | None = None
    versions: list[tuple[int, dt.datetime | None]] = field(default_factory=list)
    announcements: list[tuple[dt.date, str, str]] = field(default_factory=list)

    @property
    def abs_url(self) -> str:
        return abs_url(self.id)

    @property
    def pdf_url(self) -> str:
        return pdf_url(self.id)


def _view(row: Row[Any], announce_type: str | None = None) -> PaperView:
    return PaperView(
        id=row.id,
        title=row.title,
        abstract=row.abstract or "",
        authors=list(row.authors or []),
        categories=(row.categories or "").split(),
        primary_category=row.primary_category,
        comments=row.comments,
        submitted=row.submitted,
        updated=row.updated,
        latest_version=row.latest_version or 1,
        announce_type=announce_type,
    )


def _category_clause(column: SQLColumnExpression[str], names: tuple[str, ...]) -> ColumnElement[bool]:
    """``cs`` means every ``cs.*`` category; anything else is exact."""
    clauses: list[ColumnElement[bool]] = []
    archives = [n for n in names if "." not in n]
    exact = [n for n in names if n not in archives]
    if exact:
        clauses.append(column.in_(exact))
    for a in archives:
        clauses.append(or_(column == a, column.like(f"{a}.%")))
    return or_(*clauses)


def _excluded(categories: list[str], exclude: tuple[str, ...]) -> bool:
    for cat in categories:
        for ex in exclude:
            if cat == ex or ("." not in ex and cat.startswith(ex + ".")):
                return True
    return False


@dataclass
class DayList:
    spec: CategorySpec
    date: dt.date | None
    sections: dict[str, list[PaperView]]
    previous: dt.date | None = None
    next: dt.date | None = None

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.sections.values())

    def papers(self) -> list[PaperView]:
        return [p for _key, _title in SECTIONS for p in self.sections[_key]]


_TABLES = (Announcement, PaperDay)


def _latest(session: Session, spec: CategorySpec, below: dt.date | None = None) -> dt.date | None:
    days = []
    for table in _TABLES:
        q = select(func.max(table.date)).where(_category_clause(table.category, spec.include))
        if below is not None:
            q = q.where(table.date < below)
        days.append(session.execute(q).scalar_one_or_none())
    return max((d for d in days if d is not None), default=None)


def _earliest_after(session: Session, spec: CategorySpec, after: dt.date) -> dt.date | None:
    days = [
        session.execute(
            select(func.min(table.date)).where(
                _category_clause(table.category, spec.include), table.date > after
            )
        ).scalar_one_or_none()
        for table in _TABLES
    ]
    return min((d for d in days if d is not None), default=None)


def _day_rows(spec: CategorySpec, date: dt.date) -> list[Select[Any]]:
    """The day's rows in both tables: (type, position, category, the paper's columns)."""
    return [
        select(Announcement.type, Announcement.position, Announcement.category, *_COLUMNS)
        .join(Paper, Paper.id == Announcement.paper_id)
        .where(_category_clause(Announcement.category, spec.include), Announcement.date == date),
        select(PaperDay.type, literal(0).label("position"), PaperDay.category, *_COLUMNS)
        .join(Paper, Paper.id == PaperDay.paper_id)
        .where(_category_clause(PaperDay.category, spec.include), PaperDay.date == date),
    ]


def day_list(session: Session, spec: CategorySpec, date: dt.date | None) -> DayList:
    """The papers listed on ``date`` (default: the latest day held) in the spec's categories and aliases."""
    match = spec.expanded()
    if date is None:
        date = _latest(session, match)
    sections: dict[str, list[PaperView]] = {key: [] for key, _ in SECTIONS}
    out = DayList(spec=spec, date=date, sections=sections)
    if date is None:
        return out
    order: dict[str, int] = {}
    for i, c in enumerate(spec.include):
        order.setdefault(canonical(c), i)
    best: dict[str, tuple[tuple[int, int, int], Row[Any]]] = {}
    for stmt in _day_rows(match, date):
        for row in session.execute(stmt):
            key = (
                TYPE_RANK.get(row.type, 9),
                order.get(canonical(row.category), len(order)),
                row.position or 0,
            )
            old = best.get(row.id)
            if old is None or key < old[0]:
                best[row.id] = (key, row)
    ranked = sorted(best.values(), key=lambda kv: (kv[0][0] > 1, kv[0][0], kv[0][2], kv[0][1], kv[1].id))
    for _key, row in ranked:
        view = _view(row, row.type)
        if match.exclude and _excluded(view.categories, match.exclude):
            continue
        section = "new" if row.type == "new" else "cross" if row.type == "cross" else "replaced"
        sections[section].append(view)
    out.previous = _latest(session, match, below=date)
    out.next = _earliest_after(session, match, date)
    return out


#: A day list's orders (``?sort=``): arXiv's own, newest submission first, starred papers first.
LIST_ORDERS = {
    "arxiv": "arXiv's order", "new": "newest first", "stars": "★ first", "pref": "❤ preferences",
    "foryou": "For you",
}


def sort_sections(listing: DayList, order: str, scores: Mapping[str, float] | None = None) -> None:
    """Reorder each section of a day list in place (stable: ties keep arXiv's order).

    ``foryou`` orders by ``scores`` (the recommender's, best first); without scores it keeps arXiv's order.
    ``pref`` orders by ``scores`` too: the ❤ scores of :mod:`search.preferences`, highest first.
    """
    if order == "new":
        never = dt.datetime.min.replace(tzinfo=dt.UTC)

        def submitted(p: PaperView) -> dt.datetime:
            when = p.submitted
            if when is None:
                return never
            return when if when.tzinfo else when.replace(tzinfo=dt.UTC)

        for papers in listing.sections.values():
            papers.sort(key=submitted, reverse=True)
    elif order == "stars":
        for papers in listing.sections.values():
            papers.sort(key=lambda p: not p.starred)
    elif order in ("foryou", "pref") and scores:
        for papers in listing.sections.values():
            papers.sort(key=lambda p: -scores.get(p.id, float("-inf")))


def calendar(session: Session, spec: CategorySpec, limit: int = 800) -> OrderedDict[str, list[dt.date]]:
    """Days held for these categories (and their aliases), newest first, grouped by month (``YYYY-MM``)."""
    match = spec.expanded()
    days: set[dt.date] = set()
    for table in _TABLES:
        stmt = (
            select(distinct(table.date))
            .where(_category_clause(table.category, match.include))
            .order_by(table.date.desc())
            .limit(limit)
        )
        days.update(day for (day,) in session.execute(stmt))
    months: OrderedDict[str, list[dt.date]] = OrderedDict()
    for day in sorted(days, reverse=True)[:limit]:
        months.setdefault(f"{day:%Y-%m}", []).append(day)
    return months


def category_counts(session: Session) -> list[tuple[str, int, dt.date | None]]:
    """Every category with papers listed: (category, listings, latest day), announcements and the days of
    papers without one together."""
    merged: dict[str, tuple[int, dt.date | None]] = {}
    for table in _TABLES:
        stmt = select(table.category, func.count(), func.max(table.date)).group_by(table.category)
        for c, n, d in session.execute(stmt):
            old_n, old_d = merged.get(c, (0, None))
            merged[c] = (old_n + n, max((x for x in (old_d, d) if x is not None), default=None))
    return [(c, n, d) for c, (n, d) in sorted(merged.items())]


def load_papers(session: Session, ids: list[str]) -> dict[str, PaperView]:
    rows = session.execute(select(*_COLUMNS).where(Paper.id.in_(ids)))
    return {r.id: _view(r) for r in rows}


def paper_details(session: Session, paper_id: str) -> PaperView | None:
    row = session.execute(
        select(*_COLUMNS, Paper.journal_ref, Paper.doi, Paper.license).where(Paper.id == paper_id)
    ).one_or_none()
    if row is None:
        return None
    view = _view(row)
    view.journal_ref, view.doi, view.license = row.journal_ref, row.doi, row.license
    view.versions = [
        (v, c)
        for v, c in session.execute(
            select(Version.version, Version.created)
            .where(Version.paper_id == paper_id)
            .order_by(Version.version)
        )
    ]
    view.announcements = [
        (d, c, t)
        for d, c, t in session.execute(
            select(Announcement.date, Announcement.category, Announcement.type)
            .where(Announcement.paper_id == paper_id)
            .order_by(Announcement.date, Announcement.category)
        )
    ]
    view.starred = session.get(Star, paper_id) is not None
    return view


def starred_ids(session: Session, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    found: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found.update(pid for (pid,) in session.execute(select(Star.paper_id).where(Star.paper_id.in_(chunk))))
    return found


def starred_papers(session: Session) -> list[tuple[PaperView, dt.datetime]]:
    stmt = (
        select(Star.starred_at, *_COLUMNS)
        .join(Paper, Paper.id == Star.paper_id)
        .order_by(Star.starred_at.desc(), Paper.id)
    )
    out = []
    for row in session.execute(stmt):
        view = _view(row)
        view.starred = True
        out.append((view, row.starred_at))
    return out


def mark_starred(session: Session, papers: list[PaperView]) -> None:
    stars = starred_ids(session, [p.id for p in papers])
    for p in papers:
        p.starred = p.id in stars
