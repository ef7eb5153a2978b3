"""A day list's orders (``?sort=``): arXiv's, newest submission first, starred papers first."""

from __future__ import annotations

import datetime as dt
import re

import httpx
from search_data import DAY, insert_papers

from core.database import Database


def _sections(html: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for m in re.finditer(r'<section class="papers" id="(\w+)">(.*?)</section>', html, re.S):
        out[m[1]] = re.findall(r'<div class="paper" id="([^"]+)"', m[2])
    return out


async def test_newest_first_and_stars_first(client: httpx.AsyncClient, filled_db: Database) -> None:
    insert_papers(filled_db, [
        {"id": "2403.00090", "title": "Late", "abstract": "x", "authors": ["A B"], "categories": "cs.LG",
         "when": dt.datetime(2024, 3, 4, 9, tzinfo=dt.UTC), "ann": [("cs.LG", DAY, "new", 10)]},
        {"id": "2403.00091", "title": "Early", "abstract": "y", "authors": ["C D"], "categories": "cs.LG",
         "when": dt.datetime(2024, 2, 1, 9, tzinfo=dt.UTC), "ann": [("cs.LG", DAY, "new", 11)]},
    ])
    arxiv = _sections((await client.get("/arxiv/cs.LG")).text)
    assert arxiv["new"] == ["2403.00001", "2403.00002", "2403.00090", "2403.00091"]
    newest = await client.get("/arxiv/cs.LG", params={"sort": "new"})
    assert _sections(newest.text)["new"] == ["2403.00090", "2403.00001", "2403.00002", "2403.00091"]
    assert "<strong>newest first</strong>" in newest.text
    assert arxiv["cross"] == ["2403.00003", "2403.00004"]
    await client.post("/stars/2403.00004", data={"action": "add"})
    starred = _sections((await client.get("/arxiv/cs.LG", params={"sort": "stars"})).text)
    assert starred["cross"] == ["2403.00004", "2403.00003"]
    assert starred["new"] == arxiv["new"]  # nothing starred there: arXiv's order kept
    dated = (await client.get("/arxiv/cs.LG", params={"date": DAY.isoformat(), "sort": "stars"})).text
    assert f'href="/arxiv/cs.LG?date={DAY.isoformat()}&amp;sort=new"' in dated  # the day is kept
    assert (await client.get("/arxiv/cs.LG", params={"sort": "<script>"})).status_code == 400
    # a star posted without JavaScript comes back to the same day and order
    form_next = re.search(r'name="next" value="([^"]+)"', dated)
    assert form_next is not None
    assert form_next[1].startswith(f"/arxiv/cs.LG?date={DAY.isoformat()}&amp;sort=stars#")
    back = await client.post("/stars/2403.00003", data={"action": "add", "next": "/arxiv/cs.LG?sort=new#x"})
    assert back.headers["location"] == "/arxiv/cs.LG?sort=new#x"
