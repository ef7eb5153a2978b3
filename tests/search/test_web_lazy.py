"""Long lists in pages (search/web/paging.py): day lists and the star list render N papers a page with plain
next / previous links, numbering carried on and each section headed where it begins."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from reading_data import LONG_CROSS, LONG_NEW, PAGE_SIZE, add_long_day
from search_data import make_app

from core.config import Config, PapersConfig, StorageConfig
from core.database import Database
from search.index import SearchIndex
from search.web.paging import paginate

TOTAL = 2 + LONG_NEW + 2 + LONG_CROSS + 1  # 52: pages of 20, 20, 12


@pytest.fixture
async def long_client(
    tmp_path: Path, filled_db: Database, index: SearchIndex
) -> AsyncIterator[httpx.AsyncClient]:
    add_long_day(filled_db)
    cfg = Config(
        storage=StorageConfig(data_dir=tmp_path),
        papers=PapersConfig(categories=("cs.LG",), page_size=PAGE_SIZE),
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=make_app(cfg, filled_db, index)), base_url="http://testserver"
    ) as c:
        yield c


def _papers(html: str) -> list[tuple[str, str]]:
    """(section key, "[n] id") in page order."""
    out = []
    for m in re.finditer(
        r'<section class="papers[^"]*" (?:id|data-section)="(\w+)">(.*?)</section>', html, re.S
    ):
        for n, pid in re.findall(
            r'<div class="paper" id="([^"]+)".*?<span class="index">\[(\d+)\]</span>', m[2], re.S
        ):
            out.append((m[1], f"[{pid}] {n}"))
    return out


async def test_day_pages_number_through_the_day_under_the_right_headings(
    long_client: httpx.AsyncClient,
) -> None:
    pages = [await long_client.get("/arxiv/cs.LG")] + [
        await long_client.get(f"/arxiv/cs.LG?page={k}") for k in (2, 3)
    ]
    assert [r.status_code for r in pages] == [200, 200, 200]
    seen = [p for r in pages for p in _papers(r.text)]
    assert [int(p[1].split("]")[0].strip("[")) for p in seen] == list(range(1, TOTAL + 1))  # one run, no gap
    assert len({p[1].split()[1] for p in seen}) == TOTAL  # every paper once
    keys = [k for k, _ in seen]
    assert keys == ["new"] * (2 + LONG_NEW) + ["cross"] * (2 + LONG_CROSS) + ["replaced"]
    one, two, three = (r.text for r in pages)
    # headings: where a section begins (with its id, for the nav's anchors), "continued" on later pages
    assert '<section class="papers" id="new">' in one
    assert "continued" not in one
    assert '<section class="papers continued" data-section="new">' in two
    assert '<section class="papers" id="cross">' in two
    assert '<section class="papers continued" data-section="cross">' in three
    assert '<section class="papers" id="replaced">' in three
    assert re.search(r"<h2 class=\"section\">New submissions <small>\(29, continued\)</small>", two)
    # plain links between pages, and the nav's section links go to the page a section begins on
    assert 'class="more" href="/arxiv/cs.LG?page=2"' in one
    assert 'class="less"' not in one
    assert (
        'class="less" href="/arxiv/cs.LG?page=1"' in two
    )
    assert (
        'class="more" href="/arxiv/cs.LG?page=3"' in two
    )
    assert 'class="more"' not in three
    assert "1–20 of 52" in one
    assert "41–52 of 52" in three
    assert "next 12 →" in two
    assert 'href="/arxiv/cs.LG?page=3#replaced">Replacements (1)' in one
    assert 'href="#cross">Cross-lists (22)' in two
    # a star posted from page 2 comes back to page 2
    assert 'name="next" value="/arxiv/cs.LG?page=2#' in two


async def test_pages_keep_the_date_and_order(long_client: httpx.AsyncClient) -> None:
    r = await long_client.get("/arxiv/cs.LG?date=2024-03-05&sort=new&page=2")
    assert r.status_code == 200
    assert 'class="more" href="/arxiv/cs.LG?date=2024-03-05&amp;sort=new&amp;page=3"' in r.text
    assert 'value="/arxiv/cs.LG?date=2024-03-05&amp;sort=new&amp;page=2#' in r.text


@pytest.mark.parametrize(
    ("page", "status"), [("4", 404), ("0", 404), ("-1", 404), ("x", 404), ("9" * 40, 404)]
)
async def test_pages_out_of_range_are_not_found(
    long_client: httpx.AsyncClient, page: str, status: int
) -> None:
    r = await long_client.get(f"/arxiv/cs.LG?page={page}")
    assert r.status_code == status


async def test_a_short_list_has_no_page_links(client: httpx.AsyncClient) -> None:
    r = await client.get("/arxiv/cs.LG")
    assert r.status_code == 200
    assert "list-pages" not in r.text
    assert (await client.get("/arxiv/cs.LG?page=2")).status_code == 404


async def test_the_star_list_is_paged_too(long_client: httpx.AsyncClient) -> None:
    for i in range(25):
        r = await long_client.post(f"/stars/2403.1{i:04d}", data={"action": "add"})
        assert r.status_code == 303
    one = await long_client.get("/stars")
    two = await long_client.get("/stars?page=2")
    assert one.status_code == two.status_code == 200
    assert one.text.count('<div class="paper"') == PAGE_SIZE
    assert two.text.count('<div class="paper"') == 5
    assert "<h1>Starred papers <small>(25)</small></h1>" in two.text
    assert 'class="more" href="/stars?page=2"' in one.text
    assert '<span class="index">[21]</span>' in two.text
    assert (await long_client.get("/stars?page=3")).status_code == 404


def test_paginate_cuts_sections_where_pages_fall() -> None:
    sections = [("a", "A", list(range(5))), ("b", "B", []), ("c", "C", list(range(5, 8)))]
    lp = paginate(sections, 2, 3)
    assert (lp.pages, lp.start, lp.end, lp.previous, lp.next) == (3, 3, 6, 1, 3)
    assert [(s.key, s.papers, s.continued, s.total) for s in lp.sections] == [
        ("a", [3, 4], True, 5),
        ("c", [5], False, 3),
    ]
    assert lp.first_page == {"a": 1, "c": 2}
    assert paginate([], 1, 10).pages == 1


async def test_the_category_index_links_each_latest_day_and_calendar(client: httpx.AsyncClient) -> None:
    index = (await client.get("/arxiv")).text
    assert '<a href="/arxiv/cs.LG?date=2024-03-05">2024-03-05</a>' in index
    assert '<a class="cal" href="/arxiv/cs.LG#calendar">calendar</a>' in index
    day = (await client.get("/arxiv/cs.LG")).text
    assert '<details class="calendar" id="calendar" open>' in day
    assert '<a href="/arxiv/cs.LG?date=2024-03-04">4</a>' in day  # a held day of the month table
