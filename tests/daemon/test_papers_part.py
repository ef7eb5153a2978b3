"""The paper side as the daemon runs it (``daemon.papers.Papers``), in-process on real SQLite and a real
Whoosh index: the one-shot index check at start, the rebuild of an index a search found unreadable, and a
stop that ends every task."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from waiting import wait_for

import daemon.papers
from core.config import Config, load_config
from core.database import Database
from daemon.papers import Papers
from feeds.migrate import upgrade

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "search"))
from search_data import PAPERS, insert_papers


def config(tmp_path: Path) -> Config:
    return load_config(env={
        "COOLSTOVE_STORAGE__DATA_DIR": str(tmp_path / "data"),
        "COOLSTOVE_PAPERS__CATEGORIES": "cs.LG",
        "COOLSTOVE_PAPERS__RSS_URL": "http://127.0.0.1:9/atom/{category}",  # nothing listens: the feed
        "COOLSTOVE_PAPERS__API_URL": "http://127.0.0.1:9/api",              # fails and backs off
        "COOLSTOVE_PAPERS__OAI_URL": "http://127.0.0.1:9/oai",
    })


@pytest.fixture
async def papers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Papers]:
    monkeypatch.setattr(daemon.papers, "INDEX_WATCH_S", 0.05)
    cfg = config(tmp_path)
    cfg.storage.data_dir.mkdir(parents=True)
    upgrade(cfg.papers_db_url)
    db = Database(cfg.papers_db_url)
    insert_papers(db, PAPERS)  # in the database before the daemon starts: the check at start indexes them
    db.close()
    part = Papers(cfg)
    await part.open()
    try:
        yield part
    finally:
        await part.close()


def task(part: Papers, name: str) -> asyncio.Task[None]:
    return next(t for t in part._tasks if t.get_name() == name)


async def test_the_check_at_start_indexes_what_the_database_holds_then_ends(papers: Papers) -> None:
    check = task(papers, "index-check")
    await asyncio.wait_for(check, 20)  # a one-shot: it finishes instead of idling forever
    assert check.exception() is None
    assert papers.index.doc_count() == len(PAPERS)
    assert not task(papers, "feed").done()
    assert not task(papers, "index-watch").done()


async def test_an_index_a_search_found_unreadable_is_rebuilt(papers: Papers) -> None:
    await asyncio.wait_for(task(papers, "index-check"), 20)
    papers.index.needs_rebuild = True  # what a search that hit an OSError sets
    await wait_for(lambda: not papers.index.needs_rebuild, timeout=20)
    assert papers.index.doc_count() == len(PAPERS)


async def test_close_right_after_open_stops_every_task(papers: Papers) -> None:
    """Stopping while the check at start may still run: everything ends, the owner lock is released."""
    tasks = list(papers._tasks)
    await asyncio.wait_for(papers.close(), 10)
    assert len(tasks) == 3
    assert all(t.done() for t in tasks)
    assert not papers.index.owner
