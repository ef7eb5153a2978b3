"""The store the crawler and the web pages share: sync functions taking a Session in a transaction.

Paper upserts live in ``feeds.upsert`` (re-exported here); this module adds
the lookups the crawler needs, HTTP validators, crawl runs and stars. Every
function runs inside the caller's transaction (``db.write(fn)``), so whatever
one batch writes lands whole or not at all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import InputError, StorageError
from feeds.models import Announcement, CrawlRun, HttpCache, Paper, Star, table_of
from feeds.records import AnnouncementRecord
from feeds.upsert import (
    SOURCES,
    PreparedBatch,
    chunks,
    dialect_insert,
    paper_row,
    prepare,
    upsert_announcements,
    upsert_papers,
    utcnow,
    write_prepared,
)

__all__ = [
    "SOURCES",
    "PreparedBatch",
    "existing_ids",
    "finish_run",
    "get_http_cache",
    "get_papers",
    "ids_needing_details",
    "last_announce_date",
    "last_feed_date",
    "missing_announcements",
    "paper_row",
    "prepare",
    "record_run",
    "save_http_cache",
    "set_star",
    "start_run",
    "upsert_announcements",
    "upsert_papers",
    "write_prepared",
]

_IN_CHUNK = 500


def missing_announcements(session: Session, announcements: Sequence[AnnouncementRecord]) -> int:
    """How many of these listings the database does not have yet (0: the feed brings nothing new)."""
    if not announcements:
        return 0
    have: set[tuple[str, str, dt.date]] = set()
    by_key = {(a.category, a.date) for a in announcements}
    for category, date in by_key:
        q = select(Announcement.paper_id).where(Announcement.category == category, Announcement.date == date)
        have.update((pid, category, date) for pid in session.scalars(q))
    return sum((a.paper_id, a.category, a.date) not in have for a in announcements)


def last_feed_date(session: Session, category: str) -> dt.date | None:
    """The newest feed date seen for a category, even when that day's feed was empty."""
    q = select(func.max(CrawlRun.announce_date)).where(
        CrawlRun.kind == "rss", CrawlRun.key == category, CrawlRun.status.in_(("ok", "stale", "empty"))
    )
    seen = session.scalar(q)
    listed = last_announce_date(session, category)
    return max((d for d in (seen, listed) if d is not None), default=None)


def last_announce_date(session: Session, category: str) -> dt.date | None:
    """The newest announcement day stored for a category (arXiv's date)."""
    return session.scalar(select(func.max(Announcement.date)).where(Announcement.category == category))


def existing_ids(session: Session, ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for chunk in chunks(list(ids), _IN_CHUNK):
        found.update(session.scalars(select(Paper.id).where(Paper.id.in_(chunk))))
    return found


def get_papers(session: Session, ids: Sequence[str]) -> list[Paper]:
    """Papers (with versions and announcements) in the order of ``ids``; unknown ids are left out."""
    found: dict[str, Paper] = {}
    for chunk in chunks(list(ids), _IN_CHUNK):
        found.update({p.id: p for p in session.scalars(select(Paper).where(Paper.id.in_(chunk)))})
    return [found[i] for i in ids if i in found]


def ids_needing_details(
    session: Session, ids: Sequence[str] | None = None, *, since: dt.datetime | None = None, limit: int = 5000
) -> list[str]:
    """Papers known only from the daily feed (``source='rss'``), whose details the API must fill."""
    q = select(Paper.id).where(Paper.source == "rss")
    if since is not None:
        q = q.where(Paper.fetched_at >= since)
    if ids is None:
        return list(session.scalars(q.order_by(Paper.id).limit(limit)))
    out: list[str] = []
    for chunk in chunks(list(ids), _IN_CHUNK):
        out.extend(session.scalars(q.where(Paper.id.in_(chunk))))
    return sorted(out)[:limit]


# ---------------------------------------------------------------- HTTP validators


def get_http_cache(session: Session, url: str) -> tuple[str | None, str | None]:
    """(ETag, Last-Modified) stored for a URL, for a conditional GET."""
    row = session.get(HttpCache, url)
    return (row.etag, row.last_modified) if row else (None, None)


def save_http_cache(
    session: Session, url: str, etag: str | None, last_modified: str | None, *, now: dt.datetime | None = None
) -> None:
    """Store validators in the same transaction as the data they describe (never ahead of it)."""
    if etag is None and last_modified is None:
        return
    stmt = dialect_insert(session, table_of(HttpCache))
    row = {"url": url, "etag": etag, "last_modified": last_modified, "checked": now or utcnow()}
    stmt = stmt.on_conflict_do_update(
        index_elements=["url"],
        set_={
            "etag": stmt.excluded.etag,
            "last_modified": stmt.excluded.last_modified,
            "checked": stmt.excluded.checked,
        },
    )
    session.execute(stmt, row)


# ---------------------------------------------------------------- crawl runs


def start_run(session: Session, kind: str, key: str, *, detail: str | None = None) -> int:
    """A ``running`` row that later batches update; survives a crash as evidence of it."""
    run = CrawlRun(kind=kind, key=key[:2000], started=utcnow(), status="running", detail=detail, papers=0)
    session.add(run)
    session.flush()
    return run.id


def finish_run(
    session: Session,
    run_id: int,
    status: str,
    *,
    detail: str | None = None,
    papers: int | None = None,
    announce_date: dt.date | None = None,
) -> None:
    run = session.get(CrawlRun, run_id)
    if run is None:
        raise StorageError(f"crawl run {run_id} vanished")
    run.status = status
    run.finished = utcnow()
    if detail is not None:
        run.detail = detail[:4000]
    if papers is not None:
        run.papers = papers
    if announce_date is not None:
        run.announce_date = announce_date
    session.flush()


def record_run(
    session: Session,
    kind: str,
    key: str,
    status: str,
    *,
    started: dt.datetime,
    detail: str | None = None,
    papers: int = 0,
    announce_date: dt.date | None = None,
) -> int:
    """A finished crawl in one row (short crawls: written with their data, in its transaction)."""
    run = CrawlRun(
        kind=kind,
        key=key[:2000],
        started=started,
        finished=utcnow(),
        status=status,
        detail=(detail or None) and detail[:4000],
        papers=papers,
        announce_date=announce_date,
    )
    session.add(run)
    session.flush()
    return run.id


# ---------------------------------------------------------------- stars


def set_star(
    session: Session, paper_id: str, starred: bool = True, *, now: dt.datetime | None = None
) -> bool:
    """Star or unstar a paper that is in the database; returns whether it is starred now."""
    if session.get(Paper, paper_id) is None:
        raise InputError(f"paper {paper_id} is not in the database")
    star = session.get(Star, paper_id)
    if starred and star is None:
        session.add(Star(paper_id=paper_id, starred_at=now or utcnow()))
    elif not starred and star is not None:
        session.delete(star)
    session.flush()
    return starred
