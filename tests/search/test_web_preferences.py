"""/preferences (forms without JavaScript, limits, cross-site refusal, hostile keywords), its cloud.svg, and
the day list's ❤ order (``?sort=pref``) on the fixture's real day."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET

import httpx
from search_data import DAY, insert_papers, make_app
from sqlalchemy import select

from core.config import Config
from core.database import Database
from daemon.http import Guard
from feeds.models import Preference
from search.index import SearchIndex
from search.preferences import MAX_KEYWORD_CHARS, MAX_KEYWORDS

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str | bytes) -> ET.Element:
    """Our own output, parsed to check it is well-formed (no entities are declared in it)."""
    return ET.fromstring(svg)  # noqa: S314
HOSTILE = "</text><script>alert(1)</script>"


def stored(db: Database) -> dict[str, int]:
    return dict(db.read_blocking(lambda s: [(p.keyword, p.weight) for p in s.scalars(select(Preference))]))


def sections(html: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for m in re.finditer(r'<section class="papers" id="(\w+)">(.*?)</section>', html, re.S):
        out[m[1]] = re.findall(r'<div class="paper" id="([^"]+)"', m[2])
    return out


def paper_html(html: str, pid: str) -> str:
    """The paper's markup, up to the next paper or the end of its section."""
    start = rf'<div class="paper" id="{re.escape(pid)}"'
    m = re.search(start + r'.*?(?=<div class="paper" id=|</section>)', html, re.S)
    assert m is not None, pid
    return m[0]


async def add(
    client: httpx.AsyncClient, keyword: str, weight: int | str = 3, **headers: str
) -> httpx.Response:
    form = {"action": "add", "keyword": keyword, "weight": str(weight)}
    return await client.post("/preferences", data=form,
                             headers=headers)


async def test_add_reweight_remove_without_javascript(client: httpx.AsyncClient, filled_db: Database) -> None:
    empty = await client.get("/preferences")
    assert empty.status_code == 200
    assert "No keywords yet" in empty.text
    assert '<a href="/preferences">❤ preferences</a>' in empty.text  # the header links here

    r = await add(client, "  Graph   neural ", 5)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/preferences?done=")
    assert stored(filled_db) == {"Graph neural": 5}
    page = (await client.get(r.headers["location"])).text
    assert "added “Graph neural” (weight 5)" in page
    # the message is built from what is stored, so a link cannot make the page say something else
    spoof = await client.get("/preferences", params={"done": "added", "k": "Your password expired"})
    assert "Your password expired" not in spoof.text
    assert '<option value="5" selected>5</option>' in page

    r = await add(client, "graph-NEURAL", 2)  # the same keyword spelled otherwise: re-weighted, not doubled
    assert r.status_code == 303
    assert stored(filled_db) == {"Graph neural": 2}

    r = await client.post("/preferences", data={"action": "weight", "keyword": "Graph neural", "weight": "9"})
    assert r.status_code == 303
    assert stored(filled_db) == {"Graph neural": 9}

    r = await client.post("/preferences", data={"action": "remove", "keyword": "Graph neural"})
    assert r.status_code == 303
    assert stored(filled_db) == {}
    r = await client.post("/preferences", data={"action": "remove", "keyword": "Graph neural"})
    assert r.status_code == 400
    assert "there is no keyword" in r.text


async def test_bad_input_is_refused_with_a_message(client: httpx.AsyncClient, filled_db: Database) -> None:
    cases = [
        (await add(client, "   "), "cannot be empty"),
        (await add(client, "bell\x07"), "control or format characters"),
        (await add(client, "a\u202eb"), "control or format characters"),
        (await add(client, "x" * (MAX_KEYWORD_CHARS + 1)), f"at most {MAX_KEYWORD_CHARS} characters"),
        (await add(client, "--- !!!"), "at least one letter or digit"),
        (await add(client, "fine", 0), "from 1 to 9"),
        (await add(client, "fine", 10), "from 1 to 9"),
        (await add(client, "fine", "heavy"), "whole number"),
        (await client.post("/preferences", data={"action": "drop", "keyword": "x"}), "action must be"),
        (await client.post("/preferences", data={"action": "weight", "keyword": "nope", "weight": "2"}),
         "there is no keyword"),
        (await client.post("/preferences", content=b"keyword=%ff%fe&weight=2",
                           headers={"content-type": "application/x-www-form-urlencoded"}),
         "could not be read"),
        (await client.post("/preferences", content=b"keyword=" + b"x" * 9000), "larger than"),
    ]
    for response, message in cases:
        assert response.status_code == 400, message
        assert message in response.text
        assert 'role="alert"' in response.text
    assert stored(filled_db) == {}
    ok = await add(client, "y" * MAX_KEYWORD_CHARS)
    assert ok.status_code == 303
    assert stored(filled_db) == {"y" * MAX_KEYWORD_CHARS: 3}


async def test_at_most_max_keywords(client: httpx.AsyncClient, filled_db: Database) -> None:
    now = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
    filled_db.write_blocking(
        lambda s: s.add_all(
            Preference(keyword=f"k{i}", weight=1, added_at=now) for i in range(MAX_KEYWORDS - 1)
        )
    )
    assert (await add(client, "last one")).status_code == 303
    refused = await add(client, "one too many")
    assert refused.status_code == 400
    assert f"at most {MAX_KEYWORDS} keywords" in refused.text
    assert 'value="one too many"' in refused.text  # what was typed stays in the form
    assert (await add(client, "K0", 7)).status_code == 303  # re-weighting an existing one still works
    assert len(stored(filled_db)) == MAX_KEYWORDS
    assert stored(filled_db)["k0"] == 7


async def test_cross_site_posts_are_refused(client: httpx.AsyncClient, filled_db: Database) -> None:
    for origin in ("http://evil.example", "null"):
        r = await add(client, "phish", 9, origin=origin)
        assert r.status_code == 403
    r = await add(client, "phish", 9, referer="https://evil.example/page")
    assert r.status_code == 403
    assert stored(filled_db) == {}
    assert (await add(client, "home", 2, origin="http://testserver")).status_code == 303
    assert stored(filled_db) == {"home": 2}


async def test_hostile_keywords_stay_text_in_the_page_and_the_cloud(
    cfg: Config, filled_db: Database, index: SearchIndex
) -> None:
    transport = httpx.ASGITransport(app=Guard(make_app(cfg, filled_db, index)))  # as the daemon serves it
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert (await add(client, HOSTILE, 9)).status_code == 303
        assert (await add(client, '"><img src=x onerror=alert(2)>', 4)).status_code == 303
        page = (await client.get("/preferences")).text
        assert "<script>alert(1)" not in page
        assert "<img src=x" not in page
        assert "&lt;/text&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page
        inline = re.search(r"<svg .*?</svg>", page, re.S)
        assert inline is not None
        root = parse(inline[0])
        assert not list(root.iter(f"{SVG}script"))
        assert not list(root.iter(f"{SVG}img"))

        svg = await client.get("/preferences/cloud.svg")
        assert svg.status_code == 200
        assert svg.headers["content-type"] == "image/svg+xml"
        assert "script-src 'self'" in svg.headers["content-security-policy"]
        root = parse(svg.content)
        shown = {(t.text or "") + "".join(c.tail or "" for c in t) for t in root.iter(f"{SVG}text")}
        assert shown == {HOSTILE, '"><img src=x onerror=alert(2)>'}
        assert not list(root.iter(f"{SVG}script"))


async def test_pref_order_on_the_fixture_day(client: httpx.AsyncClient, filled_db: Database) -> None:
    insert_papers(filled_db, [
        {"id": f"2403.0009{i}", "title": "Diffusion sampling", "abstract": "x", "authors": ["A B"],
         "categories": "cs.LG", "ann": [("cs.LG", DAY, "new", 10 + i)]}
        for i in range(2)
    ])
    arxiv = sections((await client.get("/arxiv/cs.LG")).text)
    assert arxiv["new"] == ["2403.00001", "2403.00002", "2403.00090", "2403.00091"]
    assert arxiv["cross"] == ["2403.00003", "2403.00004"]

    none_yet = await client.get("/arxiv/cs.LG", params={"sort": "pref"})
    assert "No preference keywords yet" in none_yet.text
    assert sections(none_yet.text) == arxiv

    await add(client, "diffusion", 2)
    await add(client, "Schrodinger", 1)  # the paper spells it Schrödinger
    await add(client, "fairness", 1)
    page = await client.get("/arxiv/cs.LG", params={"sort": "pref"})
    assert page.status_code == 200
    hearts = sections(page.text)
    # 2403.00002: diffusion 2 × (2 title + 1 abstract) + Schrödinger 1 × (2 + 1) = 9; 0009x: 2 × 2 = 4, a tie
    # that keeps arXiv's order; 2403.00001 matches nothing
    assert hearts["new"] == ["2403.00002", "2403.00090", "2403.00091", "2403.00001"]
    assert hearts["cross"] == ["2403.00004", "2403.00003"]  # "Fairness audits": 1 × (2 + 1)
    assert hearts["replaced"] == arxiv["replaced"]
    assert "<strong>❤ preferences</strong>" in page.text
    top = paper_html(page.text, "2403.00002")
    assert '❤ 9</span> <span class="matched">diffusion, Schrodinger</span>' in top
    assert "❤ 0</span>" in paper_html(page.text, "2403.00001")
    cloud = re.search(r'<details class="cloud" open>.*?(<svg .*?</svg>)', page.text, re.S)
    assert cloud is not None
    words = {t.findtext(f"{SVG}title", "").split(" — ")[0] for t in parse(cloud[1]).iter(f"{SVG}text")}
    assert words == {"diffusion", "Schrodinger", "fairness"}
    assert 'href="/search?q=diffusion"' in cloud[1]

    other = (await client.get("/arxiv/cs.LG")).text
    assert '<details class="cloud"' not in other
    assert 'class="pref"' not in other
    assert 'href="/arxiv/cs.LG?sort=pref">❤ preferences</a>' in other


def hit_ids(html: str) -> list[str]:
    return re.findall(r'<div class="paper" id="([^"]+)"', html)


async def test_search_results_by_heart(client: httpx.AsyncClient) -> None:
    relevance = hit_ids((await client.get("/search", params={"q": "models"})).text)
    assert set(relevance) == {"2403.00002", "2403.00003", "2403.00004"}
    await add(client, "fairness", 9)
    await add(client, "attention", 1)
    page = await client.get("/search", params={"q": "models", "sort": "pref"})
    assert page.status_code == 200
    ordered = hit_ids(page.text)
    # "Fairness audits" 9 × (2 + 1) = 27, "attention and transformer language models" 1; the rest by relevance
    assert ordered[:2] == ["2403.00004", "2403.00003"]
    assert ordered[2:] == [pid for pid in relevance if pid not in ordered[:2]]
    assert '❤ 27</span> <span class="matched">fairness</span>' in paper_html(page.text, "2403.00004")
    assert '<option value="pref" selected>❤ preferences</option>' in page.text
