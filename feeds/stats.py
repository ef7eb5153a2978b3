"""What is in the paper database and how the last crawls went, for ``coolstove papers stats``."""

from __future__ import annotations

import datetime as dt
from typing import TypedDict

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from feeds.models import Announcement, CrawlRun, Paper, Star
from feeds.records import utc

__all__ = ["RunSummary", "Stats", "collect_stats", "format_stats"]


class RunSummary(TypedDict):
    """One crawl run, JSON-ready (times as ISO 8601 in UTC)."""

    kind: str
    key: str
    status: str
    started: str | None
    finished: str | None
    announce_date: str | None
    papers: int
    detail: str | None


class Stats(TypedDict):
    """What ``coolstove papers stats`` prints (``--json``: this, as JSON)."""

    papers: int
    by_source: dict[str, int]
    by_primary_category: dict[str, int]
    announcements: dict[str, dict[str, dict[str, int]]]  # day -> category -> type (and "total") -> count
    stars: int
    last_crawl: RunSummary | None
    latest_runs: list[RunSummary]
    generated: str


def _run(run: CrawlRun) -> RunSummary:
    return {
        "kind": run.kind,
        "key": run.key,
        "status": run.status,
        "started": utc(run.started).isoformat(timespec="seconds") if run.started else None,
        "finished": utc(run.finished).isoformat(timespec="seconds") if run.finished else None,
        "announce_date": run.announce_date.isoformat() if run.announce_date else None,
        "papers": run.papers,
        "detail": run.detail,
    }


def collect_stats(s: Session, days: int = 7) -> Stats:
    """Counts by source, primary category, and (category, day, type) for the last ``days`` listing days."""
    by_source: dict[str, int] = {
        src: n for src, n in s.execute(select(Paper.source, func.count()).group_by(Paper.source))
    }
    by_category: dict[str, int] = {
        cat: n
        for cat, n in s.execute(
            select(Paper.primary_category, func.count())
            .group_by(Paper.primary_category)
            .order_by(func.count().desc(), Paper.primary_category)
        )
    }
    dates = list(
        s.scalars(select(Announcement.date).distinct().order_by(Announcement.date.desc()).limit(days))
    )
    per_day: dict[str, dict[str, dict[str, int]]] = {}
    if dates:
        rows = s.execute(
            select(Announcement.date, Announcement.category, Announcement.type, func.count())
            .where(Announcement.date >= min(dates))
            .group_by(Announcement.date, Announcement.category, Announcement.type)
        ).all()
        for date, category, kind, n in rows:
            cell = per_day.setdefault(date.isoformat(), {}).setdefault(category, {})
            cell[kind] = n
            cell["total"] = cell.get("total", 0) + n
    latest_ids = select(func.max(CrawlRun.id)).group_by(CrawlRun.kind, CrawlRun.key)
    runs = s.scalars(
        select(CrawlRun).where(CrawlRun.id.in_(latest_ids)).order_by(CrawlRun.id.desc()).limit(30)
    )
    last = s.scalars(select(CrawlRun).order_by(CrawlRun.id.desc()).limit(1)).first()
    return {
        "papers": sum(by_source.values()),
        "by_source": by_source,
        "by_primary_category": by_category,
        "announcements": dict(sorted(per_day.items(), reverse=True)),
        "stars": s.scalar(select(func.count()).select_from(Star)) or 0,
        "last_crawl": _run(last) if last else None,
        "latest_runs": [_run(r) for r in runs],
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def format_stats(stats: Stats, top: int = 15) -> str:
    """The stats as a short human-readable report."""
    lines = []
    sources = ", ".join(f"{k} {v}" for k, v in sorted(stats["by_source"].items()))
    lines.append(
        f"papers: {stats['papers']}" + (f" ({sources})" if sources else "") + f"; stars: {stats['stars']}"
    )
    cats = list(stats["by_primary_category"].items())
    if cats:
        lines.append("by primary category:")
        lines.extend(f"  {c:<20} {n:>9}" for c, n in cats[:top])
        if len(cats) > top:
            lines.append(f"  ... and {len(cats) - top} more categories")
    if stats["announcements"]:
        lines.append("announcements by day:")
        lines.append(
            f"  {'date':<10}  {'category':<16} {'new':>5} {'cross':>5} {'repl':>5} {'repl-x':>6} {'total':>6}"
        )
        for date, cats_ in stats["announcements"].items():
            for cat, c in sorted(cats_.items()):
                lines.append(
                    f"  {date:<10}  {cat:<16} {c.get('new', 0):>5} {c.get('cross', 0):>5} "
                    f"{c.get('replace', 0):>5} {c.get('replace-cross', 0):>6} {c.get('total', 0):>6}"
                )
    last = stats["last_crawl"]
    if last:
        when = last["finished"] or last["started"]
        day = f" for {last['announce_date']}" if last["announce_date"] else ""
        detail = f" ({last['detail']})" if last["detail"] else ""
        lines.append(
            f"last crawl: {last['kind']} {last['key']}{day} at {when}: {last['status']}, "
            f"{last['papers']} papers{detail}"
        )
    else:
        lines.append("last crawl: never")
    return "\n".join(lines)
