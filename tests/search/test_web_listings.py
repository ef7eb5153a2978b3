"""Day lists, unions, feeds and search filters over imported papers and category aliases (issue 10).

Papers come in the way the issue's did: a snapshot import (no announcement) into a real SQLite file,
beside papers with arXiv's announcements; the pages are the real router over a real Whoosh index.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from search_data import make_app

from core.config import Config
from core.database import Database
from feeds import store
from feeds.categories import ALIASES, canonical, equivalents, expand
from feeds.importer import import_snapshot
from feeds.records import AnnouncementRecord
from search.index import SearchIndex

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "arxiv"


def snapshot_line(pid: str, cats: str, created: str, title: str, *more: str) -> str:
    versions = [{"version": f"v{i + 1}", "created": c} for i, c in enumerate((created, *more))]
    return json.dumps({
        "id": pid, "title": title, "abstract": f"About {title.lower()}.", "authors": "A. Author",
        "categories": cats, "versions": versions,
    })


LINES = [
    snapshot_line("2301.00001", "math.NA", "Mon, 9 Jan 2023 10:00:00 GMT", "Filed under math"),
    snapshot_line("2301.00002", "cs.NA", "Mon, 9 Jan 2023 11:00:00 GMT", "Filed under cs"),
    snapshot_line("2301.00003", "cs.LG", "Mon, 9 Jan 2023 12:00:00 GMT", "Plain learning"),
    snapshot_line("2301.00004", "cs.LG cs.NA", "Mon, 9 Jan 2023 13:00:00 GMT", "Learning with a cross"),
    snapshot_line("2301.00005", "cs.LG", "Tue, 3 Jan 2023 09:00:00 GMT", "Replaced later",
                  "Mon, 9 Jan 2023 14:00:00 GMT"),
    snapshot_line("2301.00006", "cs.LG", "Mon, 9 Jan 2023 15:00:00 GMT", "Announced by arXiv"),
]


@pytest.fixture
def imported(db: Database, tmp_path: Path) -> Database:
    path = tmp_path / "snapshot.jsonl"
    path.write_text("\n".join(LINES) + "\n")
    db.start()
    assert import_snapshot(db, path).papers == len(LINES)
    # one of them was also in a crawled listing: that listing, not its v1 day, is where it is shown
    ann = AnnouncementRecord("2301.00006", "cs.LG", dt.date(2023, 1, 10), "new", 0)
    db.write_blocking(lambda s: store.upsert_announcements(s, [ann]))
    return db


@pytest.fixture
async def web(cfg: Config, imported: Database, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    index = SearchIndex(tmp_path / "index").open()
    index.reindex(imported)
    transport = httpx.ASGITransport(app=make_app(cfg, imported, index))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client
    finally:
        index.close()


def listed(html: str) -> list[str]:
    return re.findall(r'id="(\d{4}\.\d{5})"', html) or re.findall(r'href="/arxiv/(\d{4}\.\d{5})"', html)


def feed_ids(xml: str) -> list[str]:
    return re.findall(r"<id>https://arxiv.org/abs/([^<]+)</id>", xml)


async def page_and_feed(web: httpx.AsyncClient, spec: str) -> tuple[int, list[str], int, list[str]]:
    page = await web.get(f"/arxiv/{spec}")
    feed = await web.get(f"/arxiv/{spec}/feed")
    return page.status_code, list(dict.fromkeys(listed(page.text))), feed.status_code, feed_ids(feed.text)


async def test_imported_papers_are_listed_by_their_days_and_the_feed_agrees(web: httpx.AsyncClient) -> None:
    status, ids, fstatus, fids = await page_and_feed(web, "cs.LG")
    assert (status, fstatus) == (200, 200)
    assert "2023-01-10" in (await web.get("/arxiv/cs.LG")).text  # the latest day: the crawled listing
    assert ids == fids == ["2301.00006"]
    day = await web.get("/arxiv/cs.LG", params={"date": "2023-01-09"})
    assert day.status_code == 200
    got = list(dict.fromkeys(listed(day.text)))
    # new (primary cs.LG), then the replacement of 2301.00005; never the announced 2301.00006 again
    assert got == ["2301.00003", "2301.00004", "2301.00005"]
    assert "Replacements" in day.text
    first = await web.get("/arxiv/cs.LG", params={"date": "2023-01-03"})
    assert list(dict.fromkeys(listed(first.text))) == ["2301.00005"]
    cal = (await web.get("/arxiv/cs.LG")).text
    for d in ("2023-01-10", "2023-01-09", "2023-01-03"):
        assert f"date={d}" in cal


async def test_an_empty_category_is_404_on_the_page_and_the_feed(web: httpx.AsyncClient) -> None:
    status, ids, fstatus, fids = await page_and_feed(web, "hep-th")
    assert (status, fstatus, ids, fids) == (404, 404, [], [])
    status, _, fstatus, _ = await page_and_feed(web, "cs.LG-cs.LG")
    assert (status, fstatus) == (404, 404)


async def test_the_category_index_lists_imported_categories(web: httpx.AsyncClient) -> None:
    html = (await web.get("/arxiv")).text
    assert "Nothing crawled or imported yet" not in html
    for cat in ("math.NA", "cs.NA", "cs.LG"):
        assert f'href="/arxiv/{cat}"' in html


@pytest.mark.parametrize("spec", ["cs.NA", "math.NA"])
async def test_an_alias_lists_what_its_category_lists(web: httpx.AsyncClient, spec: str) -> None:
    status, ids, fstatus, fids = await page_and_feed(web, spec)
    assert (status, fstatus) == (200, 200)
    assert sorted(ids) == sorted(fids) == ["2301.00001", "2301.00002", "2301.00004"]
    page = (await web.get(f"/arxiv/{spec}")).text
    new, cross = page.split('id="cross"') if 'id="cross"' in page else (page, "")
    assert "2301.00004" in cross  # a cross-list into the alias is a cross-list of the category
    assert "2301.00001" in new
    assert "2301.00002" in new


async def test_unions_and_differences_merge_aliases(web: httpx.AsyncClient) -> None:
    on = {"date": "2023-01-09"}
    union = listed((await web.get("/arxiv/cs.LG+math.NA", params=on)).text)
    assert sorted(set(union)) == ["2301.00001", "2301.00002", "2301.00003", "2301.00004", "2301.00005"]
    minus = listed((await web.get("/arxiv/cs.LG-math.NA", params=on)).text)  # 2301.00004 is in cs.NA
    assert sorted(set(minus)) == ["2301.00003", "2301.00005"]
    same = await web.get("/arxiv/cs.NA-math.NA", params=on)
    assert same.status_code == 404
    archive = listed((await web.get("/arxiv/cs", params=on)).text)  # math.NA is cs.NA: it is in cs
    assert "2301.00001" in archive
    math = listed((await web.get("/arxiv/math", params=on)).text)
    assert sorted(set(math)) == ["2301.00001", "2301.00002", "2301.00004"]


async def test_search_filters_expand_aliases(web: httpx.AsyncClient) -> None:
    async def hits(**params: Any) -> list[str]:
        r = await web.get("/search", params={"q": "filed OR learning", **params})
        assert r.status_code == 200
        return sorted(set(re.findall(r'href="/arxiv/(\d{4}\.\d{5})"', r.text)))

    assert await hits(cat="cs.NA") == ["2301.00001", "2301.00002", "2301.00004"]
    assert await hits(cat="math.NA") == ["2301.00001", "2301.00002", "2301.00004"]
    assert await hits(cat="cs.LG-cs.NA") == ["2301.00003"]
    feed = await web.get("/search/feed", params={"q": "filed", "cat": "math.NA"})
    assert sorted(feed_ids(feed.text)) == ["2301.00001", "2301.00002"]


def test_the_alias_table() -> None:
    assert len(ALIASES) == 6
    pairs = {("cs.NA", "math.NA"), ("cs.SY", "eess.SY"), ("math.IT", "cs.IT"), ("math.MP", "math-ph"),
             ("q-fin.EC", "econ.GN"), ("stat.TH", "math.ST")}
    for alias, canon in pairs:
        assert canonical(alias) == canonical(canon) == canon
        assert set(equivalents(alias)) == set(equivalents(canon)) == {alias, canon}
    assert canonical("cs.LG") == "cs.LG"
    assert expand(["cs.LG"]) == ("cs.LG",)
    assert set(expand(["math"])) == {"math", "cs.NA", "cs.IT", "math-ph", "stat.TH"}
    assert set(expand(["q-fin.EC", "stat"])) == {"q-fin.EC", "econ.GN", "stat", "math.ST"}
