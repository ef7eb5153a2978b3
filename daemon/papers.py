"""The paper feed's part of the daemon: database, crawler, index and pages, wired together.

The crawler notifies the index after each committed batch; the pages fetch a missing paper through the
crawler's polite queue at top priority. Every write to the index, including the maintenance at start
(which may rebuild for minutes), runs on the index's own writer thread and stops when the daemon does.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter

from core.config import Config
from core.database import Database
from core.errors import SearchError
from daemon.supervisor import Restart, stop_tasks, supervise
from feeds.migrate import upgrade
from feeds.service import FeedService
from search.index import SearchIndex
from search.web import home_partial, make_router

__all__ = ["INDEX_WATCH_S", "Papers"]

_LOGGER = logging.getLogger(__name__)
INDEX_WATCH_S = 60.0  # how often the daemon looks for an index a failed read marked for rebuilding


class Papers:
    """Opened by :meth:`open`, serving its tasks until :meth:`close` (which stops them first)."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.db = Database(cfg.papers_db_url)
        self.index = SearchIndex(cfg.storage.index_dir, max_results=cfg.search.max_results)
        self.feed = FeedService(cfg, self.db, on_commit=self._on_commit)
        self._tasks: list[asyncio.Task[None]] = []

    async def _on_commit(self, ids: list[str]) -> None:
        await self.index.update(self.db, ids)

    async def open(self) -> None:
        await asyncio.to_thread(upgrade, self.cfg.papers_db_url)
        self.db.start()
        await asyncio.to_thread(self.index.open)  # a missing or corrupt index is flagged for rebuild
        for name, factory, restart in (
            ("feed", self.feed.run, Restart.ALWAYS),
            ("index-check", self._check_index, Restart.ON_FAILURE),
            ("index-watch", self._watch_index, Restart.ALWAYS),
        ):
            self._tasks.append(asyncio.create_task(supervise(name, factory, restart=restart), name=name))

    async def _check_index(self) -> None:
        """Compare index and database once at start and repair (or rebuild) the difference."""
        report = await self.index.check_async(self.db, repair=True)
        _LOGGER.info("search index checked: %s", report)
        await self.index.warm_async()  # the first searches need not decode postings

    async def _watch_index(self) -> None:
        """Rebuild an index that a search found unreadable (searches say it will be rebuilt)."""
        while True:
            await asyncio.sleep(INDEX_WATCH_S)
            if self.index.needs_rebuild:
                await self.index.rebuild(self.db)

    def routers(self) -> list[APIRouter]:
        return [make_router(self.cfg, self.db, self.index, fetch=self.feed.fetch_now)]

    def home_html(self) -> str:
        return str(home_partial(self.cfg))

    async def close(self) -> None:
        """Stop the tasks, then the crawler, the index (abandoning any maintenance) and the database."""
        await stop_tasks(self._tasks, self.cfg.shutdown_grace_s)
        self._tasks.clear()
        await self.feed.aclose()
        self.index.cancel()  # a rebuild or repair in the writer thread stops at its next batch
        try:
            await asyncio.to_thread(self.index.close)
        except SearchError as exc:
            _LOGGER.warning("search index: %s", exc)
        self.db.close()
