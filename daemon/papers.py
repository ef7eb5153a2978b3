"""The paper feed's part of the daemon: database, crawler, index and pages, wired together.

The crawler notifies the index after each committed batch; the pages fetch a
missing paper through the crawler's polite queue at top priority.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from daemon.config import Config
from daemon.database import Database

__all__ = ["Papers"]

_LOGGER = logging.getLogger(__name__)


class Papers:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.db: Database | None = None
        self.index: Any = None
        self.feed: Any = None

    async def open(self) -> None:
        from feeds.migrate import upgrade
        from feeds.service import FeedService
        from search.index import SearchIndex

        url = self.cfg.papers_db_url
        await asyncio.to_thread(upgrade, url)
        self.db = Database(url)
        self.db.start()
        self.index = SearchIndex(self.cfg.storage.index_dir, max_results=self.cfg.search.max_results)
        await asyncio.to_thread(self.index.open)  # a missing or corrupt index is flagged for rebuild
        db = self.db

        async def on_commit(ids: list[str]) -> None:
            await self.index.update(db, ids)

        self.feed = FeedService(self.cfg, self.db, on_commit=on_commit)

    def routers(self) -> list[Any]:
        from search.web import make_router

        return [make_router(self.cfg, self.db, self.index, fetch=self.feed.fetch_now)]

    def mounts(self) -> list[Any]:
        return []  # the router mounts its own static files (/static/papers/)

    def home_html(self) -> str:
        from search.web import home_partial

        return str(home_partial(self.cfg))

    def services(self) -> list[tuple[str, Callable[[], Awaitable[None]]]]:
        out: list[tuple[str, Callable[[], Awaitable[None]]]] = [("feed", self.feed.run)]
        check = getattr(self.index, "check", None)
        if check is not None:
            db = self.db

            async def reconcile() -> None:
                """Compare index and database once at start and repair (or rebuild) the difference."""
                report = await asyncio.to_thread(check, db, True)
                _LOGGER.info("search index checked: %s", report)
                await asyncio.to_thread(self.index.warm)  # the first searches need not decode postings
                await asyncio.Event().wait()

            out.append(("index-check", reconcile))
        return out

    async def close(self) -> None:
        if self.feed is not None:
            await self.feed.aclose()
        if self.index is not None:
            await asyncio.to_thread(self.index.close)
        if self.db is not None:
            self.db.close()
