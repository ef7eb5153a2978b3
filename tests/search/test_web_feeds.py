"""Atom feeds as feed readers see them (issue 12): a real instant per entry; ``self`` is the fetched URL.

Papers of one day with different version times, and one known only from arXiv's daily listing
(no version time, as the RSS feed gives it), in a real SQLite file and a real Whoosh index,
through the real router; the feeds are read back with feedparser.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import feedparser
import httpx
import pytest
from search_data import make_app, make_paper
from starlette.requests import Request

import search.web.router as router_module
from core.config import Config
from core.database import Database
from feeds.models import Announcement
from feeds.schedule import announced_at, expected_listing_date
from search.index import SearchIndex

DAY = dt.date(2024, 3, 5)  # a Tuesday: announced Monday 4 March, 20:00 EST = 5 March 01:00 UTC
ANNOUNCED = dt.datetime(2024, 3, 5, 1, 0, tzinfo=dt.UTC)


def paper(pid: str, when: dt.datetime | None) -> dict[str, Any]:
    return {
        "id": pid,
        "title": f"Graph paper {pid}",
        "abstract": "Graph neural networks, once more.",
        "authors": ["Ana Müller"],
        "categories": "cs.LG",
        "when": when or dt.datetime(2024, 3, 5, 2, tzinfo=dt.UTC),
    }


# the instant each paper's latest version carries (None: known only from the daily listing)
INSTANTS: dict[str, dt.datetime | None] = {
    "2403.00001": dt.datetime(2024, 3, 1, 9, 15, 7, tzinfo=dt.UTC),
    "2403.00002": dt.datetime(2024, 3, 1, 17, 42, 0, tzinfo=dt.UTC),
    "2403.00003": dt.datetime(2024, 3, 4, 12, 0, 30, tzinfo=dt.UTC),
    "2401.00004": dt.datetime(2024, 3, 2, 23, 59, 59, tzinfo=dt.UTC),  # a replacement: its v2
    "2403.00005": None,
}


@pytest.fixture
def day_db(db: Database) -> Database:
    def add(session: Any) -> None:
        for position, (pid, when) in enumerate(INSTANTS.items(), 1):
            row = make_paper(**paper(pid, when))
            if when is None:  # what the daily RSS listing gives: no version times
                row.submitted = row.updated = None
            session.add(row)
            typ = "replace" if pid.startswith("2401") else "new"
            session.add(Announcement(paper_id=pid, category="cs.LG", date=DAY, type=typ, position=position))

    db.write_blocking(add)
    return db


@pytest.fixture
def day_index(tmp_path: Path, day_db: Database) -> Iterator[SearchIndex]:
    ix = SearchIndex(tmp_path / "index").open()
    ix.reindex(day_db)
    yield ix
    ix.close()


@pytest.fixture
async def web(cfg: Config, day_db: Database, day_index: SearchIndex) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(cfg, day_db, day_index))
    async with httpx.AsyncClient(transport=transport, base_url="http://papers.test") as client:
        yield client


def updated_of(entry: Any) -> dt.datetime:
    return dt.datetime.fromtimestamp(calendar.timegm(entry.updated_parsed), dt.UTC)


def expected(pid: str) -> dt.datetime:
    return INSTANTS[pid] or ANNOUNCED


def self_link(parsed: Any) -> str:
    links = [link.href for link in parsed.feed.links if link.rel == "self"]
    assert len(links) == 1, parsed.feed.links
    return str(links[0])


def test_announced_at_is_the_evening_before_the_listing() -> None:
    assert announced_at(DAY) == ANNOUNCED
    assert announced_at(dt.date(2024, 3, 4)) == dt.datetime(2024, 3, 4, 1, tzinfo=dt.UTC)  # Sunday evening
    assert announced_at(dt.date(2024, 7, 1)) == dt.datetime(2024, 7, 1, 0, tzinfo=dt.UTC)  # EDT
    for day in (dt.date(2024, 3, 4), DAY, dt.date(2024, 3, 8), dt.date(2024, 11, 4)):
        assert expected_listing_date(announced_at(day)) == day


@pytest.mark.parametrize("path", ["/arxiv/cs.LG/feed", "/search/feed?q=graph"])
async def test_each_entry_carries_its_papers_instant(web: httpx.AsyncClient, path: str) -> None:
    r = await web.get(path)
    assert r.status_code == 200
    parsed = feedparser.parse(r.content)
    assert not parsed.bozo, parsed.bozo_exception
    stamps = {e.id.rsplit("/", 1)[-1]: updated_of(e) for e in parsed.entries}
    assert set(stamps) == set(INSTANTS)
    assert stamps == {pid: expected(pid) for pid in INSTANTS}
    assert len(set(stamps.values())) == len(stamps), "entries share atom:updated though their papers differ"
    assert not [e for e in parsed.entries if e.updated.endswith("T00:00:00Z")]
    assert parsed.feed.updated == max(stamps.values()).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_a_dateless_paper_gets_the_announcement_instant(web: httpx.AsyncClient) -> None:
    parsed = feedparser.parse((await web.get("/arxiv/cs.LG/feed")).content)
    listed_only = next(e for e in parsed.entries if e.id.endswith("2403.00005"))
    assert listed_only.updated == "2024-03-05T01:00:00Z"
    assert listed_only.published == "2024-03-05T01:00:00Z"


@pytest.mark.parametrize(
    "params",
    [
        {"q": "graph"},
        {"q": "graph & <neural> \"nets\" Müller", "cat": "cs.LG", "since": "2024-01-01"},
        {"q": "graph+nets c/d?e#f 50%", "until": "2024-12-31"},
    ],
)
async def test_search_feed_self_link_is_the_fetched_url(
    web: httpx.AsyncClient, params: dict[str, str]
) -> None:
    r = await web.get("/search/feed", params=params)
    assert r.status_code == 200, r.text
    parsed = feedparser.parse(r.content)
    assert not parsed.bozo, parsed.bozo_exception
    assert self_link(parsed) == str(r.request.url)
    assert "&amp;" in r.text or "&" not in str(r.request.url), "XML-escaped in the document"


async def test_self_link_keeps_the_query_as_sent(web: httpx.AsyncClient) -> None:
    url = "http://papers.test/search/feed?cat=cs.LG&q=graph%20neural&since=2024-01-01&extra=1"
    parsed = feedparser.parse((await web.get(url)).content)
    assert self_link(parsed) == url
    category = "http://papers.test/arxiv/cs.LG/feed"
    assert self_link(feedparser.parse((await web.get(category)).content)) == category


def test_fetched_url_escapes_what_a_url_cannot_hold() -> None:
    scope = {
        "type": "http", "method": "GET", "scheme": "http", "server": ("papers.test", 80), "root_path": "",
        "path": "/search/feed", "raw_path": b"/search/feed", "headers": [(b"host", b"papers.test")],
        "query_string": 'q=a b"<ü>&cat=cs.LG&x=100%&y=%41'.encode(),
    }
    assert router_module._fetched_url(Request(scope)) == (
        "http://papers.test/search/feed?q=a%20b%22%3C%C3%BC%3E&cat=cs.LG&x=100%25&y=%41"
    )
