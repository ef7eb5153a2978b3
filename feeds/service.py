"""The feed as the daemon runs it: the day's crawl on arXiv's schedule, on-demand fetches, backfill.

One ``FeedService`` owns one polite client, so the daemon's schedule, a
person's ``/arxiv/<id>`` and a backfill all share one connection and one
queue, in that order of priority. Every batch is one transaction
(``db.write``); ``on_commit(ids)`` is awaited after each, so the search index
follows the database and never runs ahead of it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from core.config import Config
from core.database import Database
from core.errors import ArxivUnreachable, FeedError, InputError
from feeds import store
from feeds.arxiv import Arxiv, oai_set
from feeds.http import PoliteClient, Priority
from feeds.ids import normalize_id
from feeds.migrate import upgrade
from feeds.models import CrawlRun
from feeds.parse_rss import FeedDay
from feeds.records import PaperRecord
from feeds.schedule import expected_listing_date, last_announcement, next_announcement

__all__ = ["MAX_FETCH_IDS", "CrawlResult", "FeedService", "OnCommit"]

_LOGGER = logging.getLogger(__name__)
OnCommit = Callable[[list[str]], Awaitable[None]]
MAX_FETCH_IDS = 2000
DETAILS_WINDOW = dt.timedelta(days=7)  # feed-only papers older than this are not retried every cycle
OVERDUE = dt.timedelta(hours=12)  # then poll 4x less often (a holiday, an outage)
MAX_SLEEP_S = 3600.0


@dataclass
class CrawlResult:
    """How one category's crawl ended: ok | stale | unchanged | empty | error."""

    category: str
    status: str
    announce_date: dt.date | None = None
    entries: int = 0
    changed: list[str] = field(default_factory=list)
    detail: str = ""


class FeedService:
    """Crawl, fetch and backfill arXiv into the paper database, politely."""

    def __init__(
        self,
        cfg: Config,
        db: Database,
        on_commit: OnCommit | None = None,
        *,
        min_interval_s: float | None = None,
        http: PoliteClient | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        """``min_interval_s`` and ``clock`` are for tests; the daemon passes neither."""
        self.cfg = cfg
        self.db = db
        self.on_commit = on_commit
        self.http = http or PoliteClient(cfg.papers, min_interval_s=min_interval_s)
        self.arxiv = Arxiv(cfg.papers, self.http)
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._failing: set[str] = set()
        self._gaps_done: set[tuple[str, dt.date, dt.date]] = set()
        self._fetch_lock = asyncio.Lock()

    # ------------------------------------------------------------ lifecycle

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> FeedService:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _notify(self, ids: list[str]) -> None:
        if not ids or self.on_commit is None:
            return
        try:
            await self.on_commit(ids)
        except asyncio.CancelledError:
            raise
        except Exception:  # the batch is committed; a failing listener must not undo the crawl
            _LOGGER.exception("on_commit listener failed for %d ids", len(ids))

    # ------------------------------------------------------------ the daily feed

    async def crawl(self, categories: Sequence[str] | None = None) -> list[CrawlResult]:
        """Crawl the current feed of each category (default: the configured ones); errors are results."""
        results = []
        for category in categories or self.cfg.papers.categories:
            try:
                results.append(await self.crawl_category(category))
            except FeedError as exc:
                results.append(CrawlResult(category, "error", detail=str(exc)))
        return results

    async def crawl_category(self, category: str, *, priority: Priority = Priority.TODAY) -> CrawlResult:
        """Fetch one category's feed, store the day in one transaction, then fill details from the API."""
        started = dt.datetime.now(dt.UTC)
        url = self.arxiv.feed_url(category)
        etag, modified = await self.db.read(lambda s: store.get_http_cache(s, url))
        try:
            result, day = await self.arxiv.day_feed(
                category, etag=etag, last_modified=modified, priority=priority
            )
        except FeedError as exc:
            await self._record_run("rss", category, "error", started, detail=str(exc))
            raise
        if day is None:
            await self._record_run("rss", category, "unchanged", started, detail="304 Not Modified")
            _LOGGER.debug("feed %s: not modified", category)
            return CrawlResult(category, "unchanged")
        outcome = await self.db.write(
            lambda s: self._store_day(s, day, url, result.etag, result.last_modified, started)
        )
        await self._notify(outcome.changed)
        self._log_day(day, outcome)
        if outcome.status == "ok":
            try:
                await self._fill_details(outcome.changed, min(priority, Priority.TODAY))
            except FeedError as exc:  # the day is stored; details are retried on the next cycle
                _LOGGER.warning("feed %s: details from the API failed, will retry: %s", category, exc)
                outcome.detail = "; ".join(filter(None, [outcome.detail, f"details pending: {exc}"]))
        return outcome

    def _store_day(
        self, s: Session, day: FeedDay, url: str, etag: str | None, modified: str | None, started: dt.datetime
    ) -> CrawlResult:
        """All of one feed or none of it: papers, announcements, validators and the run record."""
        category = day.category
        detail = "; ".join(day.rejected[:5]) if day.rejected else ""
        if day.empty:
            store.save_http_cache(s, url, etag, modified)
            store.record_run(
                s, "rss", category, "empty", started=started, detail=detail, announce_date=day.announce_date
            )
            return CrawlResult(category, "empty", day.announce_date, detail=detail)
        last = store.last_announce_date(s, category)
        if last is not None and day.announce_date is not None and day.announce_date <= last:
            if store.missing_announcements(s, day.announcements) == 0:
                store.save_http_cache(s, url, etag, modified)
                store.record_run(
                    s,
                    "rss",
                    category,
                    "stale",
                    started=started,
                    announce_date=day.announce_date,
                    detail=f"feed still at {day.announce_date}",
                )
                return CrawlResult(category, "stale", day.announce_date, len(day.records))
        changed = store.upsert_papers(s, day.records, "rss")
        store.upsert_announcements(s, day.announcements)
        store.save_http_cache(s, url, etag, modified)
        counts = ", ".join(f"{k} {v}" for k, v in day.type_counts().items() if v)
        detail = "; ".join(filter(None, [counts, detail]))
        store.record_run(
            s,
            "rss",
            category,
            "ok",
            started=started,
            papers=len(day.records),
            announce_date=day.announce_date,
            detail=detail,
        )
        return CrawlResult(category, "ok", day.announce_date, len(day.records), changed, detail)

    def _log_day(self, day: FeedDay, outcome: CrawlResult) -> None:
        if outcome.status == "ok":
            counts = ", ".join(f"{v} {k}" for k, v in day.type_counts().items() if v)
            _LOGGER.info(
                "feed %s: %d papers announced %s (%s)",
                day.category,
                outcome.entries,
                day.announce_date,
                counts,
            )
        else:
            _LOGGER.info("feed %s: %s (feed date %s)", day.category, outcome.status, day.announce_date)
        if day.rejected:
            _LOGGER.warning("feed %s: %d entries skipped", day.category, len(day.rejected))

    async def _fill_details(self, ids: Sequence[str], priority: Priority) -> list[str]:
        """Fetch from the API the fields the feed lacks, for those of ``ids`` that still lack them."""
        since = self._clock() - DETAILS_WINDOW
        todo = await self.db.read(lambda s: store.ids_needing_details(s, ids, since=since))
        if not todo:
            return []
        done: list[str] = []
        async for records in self.arxiv.by_ids(todo, priority=priority):
            done.extend(await self._write_records(records, "api"))
        _LOGGER.info("details from the API for %d of %d papers", len(done), len(todo))
        return done

    async def _write_records(self, records: list[PaperRecord], source: str) -> list[str]:
        if not records:
            return []
        changed = await self.db.write(lambda s: store.upsert_papers(s, records, source))
        await self._notify(changed)
        return changed

    # ------------------------------------------------------------ on demand

    async def fetch_now(self, ids: list[str]) -> list[str]:
        """Fetch missing papers ahead of everything else; returns the requested ids now in the database.

        Raises InputError for a malformed id (before any request) and FeedError
        when arXiv cannot be reached or answers with an error.
        """
        wanted = list(dict.fromkeys(normalize_id(i) for i in ids))
        if len(wanted) > MAX_FETCH_IDS:
            raise InputError(f"at most {MAX_FETCH_IDS} ids at a time, got {len(wanted)}")
        async with self._fetch_lock:  # two pages opening one paper make one request, not two
            await self._fetch_missing(wanted)
        have = await self.db.read(lambda s: store.existing_ids(s, wanted))
        return [i for i in wanted if i in have]

    async def _fetch_missing(self, wanted: list[str]) -> None:
        have = await self.db.read(lambda s: store.existing_ids(s, wanted))
        partial = set(
            await self.db.read(lambda s: store.ids_needing_details(s, [i for i in wanted if i in have]))
        )
        missing = [i for i in wanted if i not in have or i in partial]
        if missing:
            started = dt.datetime.now(dt.UTC)
            key = ",".join(missing)
            fetched: list[str] = []
            try:
                async for records in self.arxiv.by_ids(missing, priority=Priority.USER):
                    fetched.extend(await self._write_records(records, "api"))
            except FeedError as exc:
                await self._record_run("api", key, "error", started, detail=str(exc), papers=len(fetched))
                if isinstance(exc, ArxivUnreachable):
                    raise  # as it is: callers tell "arXiv is offline" from "arXiv said no"
                raise FeedError(f"could not fetch {_short(missing)} from arXiv: {exc}") from exc
            await self._record_run("api", key, "ok" if fetched else "empty", started, papers=len(fetched))
            _LOGGER.info("fetched %d of %d requested papers from arXiv", len(fetched), len(missing))

    # ------------------------------------------------------------ history

    async def backfill(
        self,
        from_: dt.date,
        until: dt.date | None = None,
        categories: Sequence[str] | None = None,
        *,
        prefix: str = "arXivRaw",
    ) -> int:
        """Harvest OAI-PMH records changed in [from_, until] for each category; returns papers stored."""
        total = 0
        for category in categories or self.cfg.papers.categories:
            set_spec = oai_set(category)
            total += await self._backfill_one(category, set_spec, from_, until, prefix)
        return total

    async def _backfill_one(
        self, category: str, set_spec: str, from_: dt.date, until: dt.date | None, prefix: str
    ) -> int:
        key = f"{set_spec} {from_}..{until or ''}"
        await self.abort_stale_runs()
        run_id = await self.db.write(lambda s: store.start_run(s, "oai", key))
        n = 0
        try:
            async for page in self.arxiv.list_records(
                from_=from_, until=until, set_spec=set_spec, prefix=prefix
            ):
                if page.records:
                    changed = await self._write_oai_page(page.records, run_id)
                    n += len(changed)
                    await self._notify(changed)
                    _LOGGER.info("backfill %s: %d papers so far", category, n)
        except BaseException as exc:
            status = "error" if isinstance(exc, Exception) else "cancelled"
            await asyncio.shield(self._finish_run(run_id, status, str(exc), n))
            raise
        await self._finish_run(run_id, "ok" if n else "empty", None, n)
        return n

    async def abort_stale_runs(self) -> list[int]:
        """Mark ``aborted`` the runs left ``running`` by a crawl or import whose process is gone."""
        aborted = await self.db.write(store.abort_stale_runs)
        if aborted:
            _LOGGER.warning("crawl runs %s were left running by a process now gone: marked aborted", aborted)
        return aborted

    async def _write_oai_page(self, records: list[PaperRecord], run_id: int) -> list[str]:
        return await self.db.write(lambda s: self._store_oai_page(s, records, run_id))

    async def _finish_run(self, run_id: int, status: str, detail: str | None, papers: int) -> None:
        await self.db.write(lambda s: store.finish_run(s, run_id, status, detail=detail, papers=papers))

    async def _record_run(
        self,
        kind: str,
        key: str,
        status: str,
        started: dt.datetime,
        *,
        detail: str | None = None,
        papers: int = 0,
    ) -> None:
        await self.db.write(
            lambda s: store.record_run(s, kind, key, status, started=started, detail=detail, papers=papers)
        )

    @staticmethod
    def _store_oai_page(s: Session, records: list[PaperRecord], run_id: int) -> list[str]:
        changed = store.upsert_papers(s, records, "oai")
        run = s.get(CrawlRun, run_id)
        if run is not None:
            run.papers = (run.papers or 0) + len(changed)
        return changed

    # ------------------------------------------------------------ the daemon's loop

    async def run(self) -> None:
        """Crawl on arXiv's schedule forever: look at 20:00 ET, poll until each feed moves on, sleep.

        Returns at once when the feed is disabled: on-demand fetches still work, the schedule stays off.
        """
        if not self.cfg.papers.enabled:
            _LOGGER.info("arXiv feed disabled ([papers] enabled = false)")
            return
        await asyncio.to_thread(upgrade, self.db.url)
        await self.abort_stale_runs()
        categories = list(self.cfg.papers.categories)
        _LOGGER.info(
            "arXiv feed running for %s (one request per %.1f s)", ", ".join(categories), self.http.interval
        )
        while True:
            now = self._clock()
            expected = expected_listing_date(now)
            behind = await self._behind(categories, expected)
            gaps = []
            for category in behind:
                gap = await self._crawl_logged(category)
                if gap is not None:
                    gaps.append(gap)
            still = await self._behind(categories, expected)
            await self._retry_details()
            for category, since, until in gaps:
                await self._fill_gap(category, since, until)
            delay = self._next_delay(now, still)
            _LOGGER.debug("feed: next look in %.0f s (behind: %s)", delay, ", ".join(still) or "none")
            await asyncio.sleep(delay)

    async def _behind(self, categories: Sequence[str], expected: dt.date) -> list[str]:
        def query(s: Session) -> list[str]:
            return [c for c in categories if (store.last_feed_date(s, c) or dt.date.min) < expected]

        return await self.db.read(query)

    async def _crawl_logged(self, category: str) -> tuple[str, dt.date, dt.date] | None:
        """One crawl; failures are logged once when they start and once when they stop.

        Returns the (category, from, until) of listing days the feed skipped
        past (the daemon was down, or arXiv's feed lagged for days), which only
        OAI-PMH can still provide.
        """
        before = await self.db.read(lambda s: store.last_feed_date(s, category))
        try:
            result = await self.crawl_category(category)
        except FeedError as exc:
            if category not in self._failing:
                _LOGGER.error("feed %s failed: %s (will retry)", category, exc)
                self._failing.add(category)
            else:
                _LOGGER.debug("feed %s still failing: %s", category, exc)
            return None
        if category in self._failing:
            self._failing.discard(category)
            _LOGGER.info("feed %s recovered", category)
        after = result.announce_date
        if before is None or after is None or result.status not in ("ok", "empty"):
            return None
        missed = [before + dt.timedelta(days=d) for d in range(1, (after - before).days)]
        if not any(day.weekday() < 5 for day in missed):  # listings are dated Monday to Friday
            return None
        return category, before, after

    async def _fill_gap(self, category: str, since: dt.date, until: dt.date) -> None:
        """Backfill missed listing days through OAI-PMH, at history priority, once per gap."""
        if (category, since, until) in self._gaps_done:
            return
        self._gaps_done.add((category, since, until))
        _LOGGER.info("feed %s skipped from %s to %s; backfilling through OAI-PMH", category, since, until)
        try:
            await self.backfill(since, until, [category])
        except FeedError as exc:
            _LOGGER.warning(
                "backfill of %s %s..%s failed: %s (use `coolstove papers crawl --date`)",
                category,
                since,
                until,
                exc,
            )

    async def _retry_details(self) -> None:
        since = self._clock() - DETAILS_WINDOW
        todo = await self.db.read(lambda s: store.ids_needing_details(s, since=since, limit=2000))
        if not todo:
            return
        try:
            await self._fill_details(todo, Priority.TODAY)
        except FeedError as exc:
            _LOGGER.warning("details for %d feed-only papers failed: %s", len(todo), exc)

    def _next_delay(self, now: dt.datetime, behind: Sequence[str]) -> float:
        """Poll while a feed is behind (less often once a day is long overdue), else wait for 20:00 ET.

        Never sleep more than an hour at once, so a suspended machine or a
        changed clock is noticed soon after.
        """
        poll = self.cfg.papers.poll_interval_s
        if behind:
            late = now - last_announcement(now)
            return poll * 4 if late > OVERDUE else poll
        return min(MAX_SLEEP_S, max(1.0, (next_announcement(now) - now).total_seconds()))


def _short(ids: Sequence[str]) -> str:
    return ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
