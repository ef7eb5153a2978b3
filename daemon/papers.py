"""The paper feed's part of the daemon: database, crawler, index and pages, wired together.

The index follows the database by write generation, whoever wrote: every transaction that writes papers
(this daemon's crawler, ``coolstove papers import`` or ``crawl`` in another process) bumps the database's
generation and stamps the papers it changed, and ``index-watch`` indexes what was stamped after the
generation it last saw, within ``INDEX_WATCH_S`` (the daemon's own crawler awaits it after each batch).
The pages fetch a missing paper through the crawler's polite queue at top priority. Every write to the
index, including the maintenance at start (which may rebuild for minutes), runs on the index's own
writer thread and stops when the daemon does.
"""

from __future__ import annotations

import asyncio
import functools
import logging

from fastapi import APIRouter

from core.config import Config
from core.database import Database
from core.errors import SearchError
from daemon.publishing import attach as publish_for_web
from daemon.supervisor import Restart, stop_tasks, supervise
from feeds import store
from feeds.faq import FaqEngine
from feeds.migrate import upgrade
from feeds.service import FeedService
from search.index import SearchIndex
from search.web import home_partial, make_router

__all__ = ["CHANGES_BATCH", "INDEX_WATCH_S", "Papers"]

_LOGGER = logging.getLogger(__name__)
INDEX_WATCH_S = 2.0  # how often the daemon looks for papers other processes wrote, or an index to rebuild
CHANGES_BATCH = 2000  # papers per index commit while catching up with a large import


class Papers:
    """Opened by :meth:`open`, serving its tasks until :meth:`close` (which stops them first)."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.db = Database(cfg.papers_db_url)
        self.index = SearchIndex.for_config(cfg)
        self.feed = FeedService(cfg, self.db, on_commit=self._on_commit)
        # the [FAQ] button ([llm] enabled): its PDFs come through the crawler's polite client
        self.faq = FaqEngine(cfg.llm, self.db, self.feed.http) if cfg.llm.enabled else None
        self._tasks: list[asyncio.Task[None]] = []
        self._catching_up = asyncio.Lock()
        # indexed so far: (generation, None) is all of it, (generation, id) up to that id of it
        self.seen: tuple[int, str | None] = (0, None)
        self._checked = False  # until the check at start is done, ``seen`` is not recorded in the index

    async def _on_commit(self, ids: list[str]) -> None:
        """The crawler committed a batch: index it (and whatever else changed) before it goes on, as the
        index update it awaited did before: the crawler never runs far ahead of the index."""
        await self.index_changes()

    async def open(self) -> None:
        await asyncio.to_thread(upgrade, self.cfg.papers_db_url)
        self.db.start()
        await self.feed.abort_stale_runs()  # a crawl or import killed with its process stays no `running`
        if self.faq is not None:
            await self.faq.recover()  # FAQ jobs queued or running when the daemon stopped
        # read before the check at start reads the database: what it misses is stamped after this
        self.seen = (await self.db.read(store.current_generation), None)
        await asyncio.to_thread(self.index.open)  # a missing or corrupt index is flagged for rebuild
        await asyncio.to_thread(publish_for_web, self.index, self.cfg)  # [search] publish_dir, if set
        for name, factory, restart in (
            ("feed", self.feed.run, Restart.ALWAYS),
            ("index-check", self._check_index, Restart.ON_FAILURE),
            ("index-watch", self._watch_index, Restart.ALWAYS),
            *([("faq", self.faq.run, Restart.ALWAYS)] if self.faq is not None else []),
        ):
            self._tasks.append(asyncio.create_task(supervise(name, factory, restart=restart), name=name))

    async def _check_index(self) -> None:
        """Bring the index up to the database once at start.

        When the index recorded the write generation it is complete through (and no commit
        happened since), only the papers stamped after it are indexed: a start-up costs what
        changed while the daemon was down, not a comparison of every id. Otherwise (a new,
        rebuilt-elsewhere or damaged index) index and database are compared and repaired.
        """
        synced = await asyncio.to_thread(self.index.synced_generation, self.cfg.papers_db_url)
        if synced is not None:
            async with self._catching_up:
                self.seen = (synced, None)
                self._checked = True
                done = await self._index_changes()
            _LOGGER.info("search index checked: up to date with write generation %d (%d papers indexed)",
                         self.seen[0], done)
        else:
            async with self._catching_up:
                top = await self.db.read(store.current_generation)
                report = await self.index.check_async(self.db, repair=True)
                if report.clean or report.repaired:
                    self.seen = (top, None)
                    self._checked = True
                    await self._mark_synced()
            _LOGGER.info("search index checked: %s", report)
        await self.index.warm_async()  # the first searches need not decode postings

    async def _mark_synced(self) -> None:
        generation = self.seen[0]
        try:
            await self.index.mark_synced_async(generation, self.cfg.papers_db_url)
        except (OSError, SearchError) as exc:
            _LOGGER.warning("search index: could not record its write generation (%s)", exc)

    async def _watch_index(self) -> None:
        """Keep the index following the database: index what any process wrote since the last look, and
        rebuild an index that a search found unreadable (searches say it will be rebuilt)."""
        while True:
            await asyncio.sleep(INDEX_WATCH_S)
            if self.index.needs_rebuild:
                async with self._catching_up:
                    top = await self.db.read(store.current_generation)
                    await self.index.rebuild(self.db)
                    self.seen = (top, None)
                    if self._checked:
                        await self._mark_synced()
                continue
            await self.index_changes()

    async def index_changes(self) -> int:
        """Index the papers stamped after ``seen`` up to the newest committed generation, in batches of
        ``CHANGES_BATCH`` (one index commit each); returns how many. A failed batch is logged by the
        index and tried again at the next look (``seen`` stops before it). Once the check at start is
        done, the generation reached is recorded in the index, so the next start begins from there."""
        async with self._catching_up:
            return await self._index_changes()

    async def _index_changes(self) -> int:
        top = await self.db.read(store.current_generation)
        done = 0
        while True:
            query = functools.partial(store.changed_since, after=self.seen, until=top, limit=CHANGES_BATCH)
            chunk = await self.db.read(query)
            if not chunk:
                break
            if not await self.index.update(self.db, [pid for _, pid in chunk]):
                return done  # ``seen`` stays before the failed batch: the next look tries it again
            done += len(chunk)
            self.seen = chunk[-1]
        self.seen = (top, None)  # changed_since stops at ``top``: all of it is indexed now
        if done:
            _LOGGER.info("indexed %d changed papers (write generation %d)", done, top)
            if self._checked:
                await self._mark_synced()
        return done

    def routers(self) -> list[APIRouter]:
        return [make_router(self.cfg, self.db, self.index, fetch=self.feed.fetch_now, faq=self.faq)]

    def home_html(self) -> str:
        return str(home_partial(self.cfg))

    async def close(self) -> None:
        """Stop the tasks, then the crawler, the index (abandoning any maintenance) and the database."""
        await stop_tasks(self._tasks, self.cfg.shutdown_grace_s)
        self._tasks.clear()
        if self.faq is not None:
            await self.faq.aclose()  # a job cut short goes back to the queue
        await self.feed.aclose()
        self.index.cancel()  # a rebuild or repair in the writer thread stops at its next batch
        try:
            await asyncio.to_thread(self.index.close)
        except SearchError as exc:
            _LOGGER.warning("search index: %s", exc)
        self.db.close()
