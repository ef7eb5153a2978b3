"""The store the crawler and the web pages share: sync functions taking a Session in a transaction.

Paper upserts live in ``feeds.upsert`` (re-exported here); this module adds
the lookups the crawler needs, HTTP validators, crawl runs and stars. Every
function runs inside the caller's transaction (``db.write(fn)``), so whatever
one batch writes lands whole or not at all.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from core.errors import InputError, StorageError
from feeds.models import Announcement, CrawlRun, Generation, HttpCache, Paper, Star, table_of
from feeds.records import AnnouncementRecord
from feeds.schedule import announced_at  # when a listing day went out: the pages' feeds stamp entries with it
from feeds.upsert import (
    SOURCES,
    PreparedBatch,
    bump_generation,
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
    "abort_stale_runs",
    "announced_at",
    "bump_generation",
    "changed_since",
    "current_generation",
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
    "process_tag",
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


# ---------------------------------------------------------------- write generations


def current_generation(session: Session) -> int:
    """The newest committed write generation (0: nothing written since migration 0003)."""
    return int(session.scalar(select(Generation.value).where(Generation.id == 1)) or 0)


def changed_since(
    session: Session, after: tuple[int, str | None], until: int, limit: int = 2000
) -> list[tuple[int, str]]:
    """(generation, id) of papers changed after ``after`` up to generation ``until``, oldest first.

    ``after`` is ``(generation, None)`` for "all of that generation is done", or the last
    ``(generation, id)`` taken, so a reader pages through a large import at its own pace.
    """
    gen, last_id = after
    later = Paper.generation > gen
    q = (
        select(Paper.generation, Paper.id)
        .where(
            later if last_id is None else or_(later, and_(Paper.generation == gen, Paper.id > last_id)),
            Paper.generation <= until,
        )
        .order_by(Paper.generation, Paper.id)
        .limit(limit)
    )
    return [(int(g), pid) for g, pid in session.execute(q)]


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


def _start_ticks(pid: int) -> str:
    """When a process started, in clock ticks since boot (Linux); "" where /proc does not say."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19]  # field 22, counted after the command name


def process_tag(pid: int | None = None) -> str:
    """``host:pid:start`` of this (or another) process: what a ``running`` crawl run is owned by."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()[:100]}:{pid}:{_start_ticks(pid)}"


def _owner_gone(owner: str | None) -> bool:
    """Whether the process that owns a run has ended: unknown owners (rows older than migration 0003)
    count as ended; a process on another host is never judged."""
    if not owner:
        return True
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return True
    host, pid, ticks = parts[0], int(parts[1]), parts[2]
    if host != socket.gethostname()[:100]:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        pass
    # The pid was reused by a newer process. An unreadable start ("": another user's process under
    # the unit's ProtectProc=invisible) proves nothing, so the run stays its owner's.
    now = _start_ticks(pid)
    return bool(ticks) and bool(now) and now != ticks


def abort_stale_runs(session: Session, *, kinds: Sequence[str] | None = None) -> list[int]:
    """Mark ``running`` runs whose process has ended (killed, crashed, machine restarted) ``aborted``.

    An import keeps its resume point in ``detail``, so an aborted import still resumes.
    """
    q = select(CrawlRun).where(CrawlRun.status == "running")
    if kinds is not None:
        q = q.where(CrawlRun.kind.in_(list(kinds)))
    aborted: list[int] = []
    for run in session.scalars(q):
        if _owner_gone(run.owner):
            run.status = "aborted"
            run.finished = utcnow()
            aborted.append(run.id)
    session.flush()
    return aborted


def start_run(session: Session, kind: str, key: str, *, detail: str | None = None) -> int:
    """A ``running`` row that later batches update, owned by this process: survives a crash as evidence
    of it, and is marked ``aborted`` by :func:`abort_stale_runs` once the process is gone."""
    run = CrawlRun(
        kind=kind,
        key=key[:2000],
        started=utcnow(),
        status="running",
        detail=detail,
        papers=0,
        owner=process_tag(),
    )
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
