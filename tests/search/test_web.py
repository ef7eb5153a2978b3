"""The paper pages through the real router (httpx ASGI transport): lists, papers, search, stars, feeds."""

from __future__ import annotations

import asyncio
import re
import xml.etree.ElementTree as ET

import feedparser
import httpx
import pytest
from search_data import DAY, EARLIER, insert_papers, make_app
from sqlalchemy import func, select

import search.web.router as router_module
from core.database import Database
from feeds.models import Click, Preference, Star
from feeds.service import FeedService

ATOM = "{http://www.w3.org/2005/Atom}"


def paper_ids(html: str) -> list[str]:
    return re.findall(r'<div class="paper" id="([^"]+)"', html)


async def test_day_list_has_sections_and_dedupes(client: httpx.AsyncClient) -> None:
    r = await client.get("/arxiv/cs.LG")
    assert r.status_code == 200
    html = r.text
    assert DAY.strftime("%d %b %Y") in html
    # new first (by position), then cross-lists, then replacements; 2401.00005 was a replacement that day
    assert paper_ids(html) == ["2403.00001", "2403.00002", "2403.00003", "2403.00004", "2401.00005"]
    assert 'id="new"' in html
    assert 'id="cross"' in html
    assert 'id="replaced"' in html


async def test_union_and_difference(client: httpx.AsyncClient) -> None:
    union = paper_ids((await client.get("/arxiv/cs.CL+cs.CY")).text)
    assert union == ["2403.00003", "2403.00004"]
    assert "2403.00004" not in paper_ids((await client.get("/arxiv/cs.LG-cs.CY")).text)
    assert paper_ids((await client.get("/arxiv/cs.CL,cs.CY")).text) == union


async def test_earlier_days_and_the_calendar(client: httpx.AsyncClient) -> None:
    r = await client.get("/arxiv/cs.LG", params={"date": EARLIER.isoformat()})
    assert r.status_code == 200
    assert paper_ids(r.text) == ["2401.00005"]
    latest = (await client.get("/arxiv/cs.LG")).text
    assert f'?date={EARLIER.isoformat()}"' in latest
    assert f'?date={DAY.isoformat()}"' in latest
    empty = await client.get("/arxiv/cs.LG", params={"date": "2020-01-01"})
    assert empty.status_code == 404
    assert "Nothing is listed in" in empty.text
    assert (await client.get("/arxiv/cs.LG", params={"date": "soon"})).status_code == 404


@pytest.mark.parametrize("path", ["/arxiv/cs.LG", "/arxiv/2403.00004", "/search?q=fairness", "/stars"])
async def test_script_in_titles_and_authors_is_shown_as_text(client: httpx.AsyncClient, path: str) -> None:
    await client.post("/stars/2403.00004", data={"action": "add"})
    html = (await client.get(path)).text
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(" in html
    assert "<b>language</b>" not in html


async def test_paper_page_links_to_arxiv_and_is_not_rehosted(client: httpx.AsyncClient) -> None:
    r = await client.get("/arxiv/2403.00002")
    assert r.status_code == 200
    assert 'href="https://arxiv.org/abs/2403.00002"' in r.text
    # [PDF] counts the click (/go/pdf) and redirects to arXiv; the preview fetches data-pdf from arXiv
    assert 'href="/go/pdf/2403.00002"' in r.text
    assert 'data-pdf="https://arxiv.org/pdf/2403.00002"' in r.text
    assert "Schrödinger bridges" in r.text
    versioned = await client.get("/arxiv/arXiv:2403.00002v3")
    assert versioned.status_code == 200
    assert "Schrödinger bridges" in versioned.text
    several = await client.get("/arxiv/2403.00001,2403.00002")
    assert "Graph neural" in several.text
    assert "Schrödinger" in several.text


async def test_missing_paper_is_fetched_on_demand(cfg, filled_db, index) -> None:
    calls: list[list[str]] = []

    async def fetch(ids: list[str]) -> list[str]:
        calls.append(ids)
        if ids == ["2405.01234"]:
            insert_papers(
                filled_db,
                [
                    {
                        "id": "2405.01234",
                        "title": "Fetched on demand",
                        "abstract": "x",
                        "authors": ["Z"],
                        "categories": "cs.LG",
                        "ann": [],
                    }
                ],
            )
            return ids
        return []

    transport = httpx.ASGITransport(app=make_app(cfg, filled_db, index, fetch))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.get("/arxiv/2405.01234")
        assert r.status_code == 200
        assert "Fetched on demand" in r.text
        gone = await c.get("/arxiv/2405.09999")
        assert gone.status_code == 404
        assert "not found on arXiv" in gone.text
    assert calls == [["2405.01234"], ["2405.09999"]]


async def test_without_a_fetcher_a_missing_paper_is_a_clear_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/arxiv/2405.01234")
    assert r.status_code == 404
    assert "not in the local database" in r.text
    assert (await client.get("/arxiv/no such thing")).status_code == 404


async def test_search_page_highlights_filters_and_pages(client: httpx.AsyncClient) -> None:
    r = await client.get("/search", params={"q": "images"})
    assert r.status_code == 200
    assert "<mark>images</mark>" in r.text or "<mark>image</mark>" in r.text
    assert set(paper_ids(r.text)) == {"2403.00001", "2401.00005"}
    r = await client.get("/search", params={"q": "language", "cat": "cs.LG-cs.CY"})
    assert paper_ids(r.text) == ["2403.00003"]
    r = await client.get("/search", params={"q": "cat:cs.LG", "sort": "new"})
    assert r.status_code == 200
    assert len(paper_ids(r.text)) == 5
    assert (await client.get("/search")).status_code == 200


@pytest.mark.parametrize(
    ("q", "message"),
    [
        ('"graph', "unbalanced quote"),
        ("NOT", "needs a term"),
        ("x" * 10240, "too long"),
        ("graph\x01", "control characters"),
        ("zz:graph", "unknown field"),
    ],
)
async def test_bad_queries_get_a_message_not_a_500(client: httpx.AsyncClient, q: str, message: str) -> None:
    r = await client.get("/search", params={"q": q})
    assert r.status_code == 400
    assert message in r.text
    assert paper_ids(r.text) == []
    feed = await client.get("/search/feed", params={"q": q})
    assert feed.status_code == 400


async def test_bad_filters_are_messages_too(client: httpx.AsyncClient) -> None:
    for params in (
        {"q": "graph", "since": "yesterday"},
        {"q": "graph", "cat": "$$"},
        {"q": "graph", "page": "x"},
    ):
        r = await client.get("/search", params=params)
        assert r.status_code == 400, params


async def test_related_papers(client: httpx.AsyncClient) -> None:
    r = await client.get("/search", params={"rel": "2403.00001"})
    assert r.status_code == 200
    assert "2401.00005" in paper_ids(r.text)
    assert "2403.00001" not in paper_ids(r.text)
    assert (await client.get("/search", params={"rel": "nonsense"})).status_code == 400


async def test_stars_add_list_export_remove(client: httpx.AsyncClient) -> None:
    r = await client.post("/stars/2403.00002", data={"action": "add", "next": "/arxiv/cs.LG#2403.00002"})
    assert r.status_code == 303
    assert r.headers["location"] == "/arxiv/cs.LG#2403.00002"
    assert "★" in (await client.get("/arxiv/2403.00002")).text
    assert paper_ids((await client.get("/stars")).text) == ["2403.00002"]
    txt = (await client.get("/stars/export", params={"format": "txt"})).text
    assert txt.startswith(
        "2403.00002\tSchrödinger bridges as diffusion models\thttps://arxiv.org/abs/2403.00002"
    )
    data = (await client.get("/stars/export", params={"format": "json"})).json()
    assert [d["id"] for d in data] == ["2403.00002"]
    r = await client.post(
        "/stars/2403.00002", data={"action": "remove"}, headers={"Accept": "application/json"}
    )
    assert r.json() == {"id": "2403.00002", "starred": False}
    assert paper_ids((await client.get("/stars")).text) == []


async def test_star_guards(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/stars/2403.00002", data={"action": "add"}, headers={"Origin": "http://evil.example"}
    )
    assert r.status_code == 403
    r = await client.post("/stars/2403.00002", data={"action": "add", "next": "//evil.example/x"})
    assert r.headers["location"] == "/arxiv/2403.00002"
    assert (await client.post("/stars/2405.77777", data={"action": "add"})).status_code == 404
    assert (await client.post("/stars/2403.00002", data={"action": "explode"})).status_code == 404


async def test_category_feed_is_valid_atom(client: httpx.AsyncClient) -> None:
    r = await client.get("/arxiv/cs.LG/feed")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(r.content)  # noqa: S314 - our own output
    assert root.tag == f"{ATOM}feed"
    for tag in ("id", "title", "updated", "author"):
        assert root.find(f"{ATOM}{tag}") is not None
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) == 5
    for e in entries:
        for tag in ("id", "title", "updated", "summary", "link"):
            assert e.find(f"{ATOM}{tag}") is not None, tag
    titles = [e.findtext(f"{ATOM}title") for e in entries]
    assert "<script>alert('x')</script> Fairness audits" in titles
    parsed = feedparser.parse(r.content)
    assert not parsed.bozo
    assert len(parsed.entries) == 5


async def test_search_feed(client: httpx.AsyncClient) -> None:
    r = await client.get("/search/feed", params={"q": "graph"})
    assert r.status_code == 200
    parsed = feedparser.parse(r.content)
    assert not parsed.bozo
    assert {e.id for e in parsed.entries} == {
        "https://arxiv.org/abs/2403.00001",
        "https://arxiv.org/abs/2401.00005",
    }


async def test_static_files_and_the_category_index(client: httpx.AsyncClient) -> None:
    for path in (
        "/static/papers/katex/katex.min.js",
        "/static/papers/katex/contrib/auto-render.min.js",
        "/static/papers/papers.js",
        "/static/papers/katex/fonts/KaTeX_Main-Regular.woff2",
    ):
        assert (await client.get(path)).status_code == 200, path
    html = (await client.get("/arxiv")).text
    assert 'href="/arxiv/cs.LG"' in html
    assert 'href="/arxiv/quant-ph"' in html
    assert "cdn" not in (await client.get("/arxiv/cs.LG")).text.lower()


UNSAFE_URLS = [
    "javascript:fetch('/api/stove/cut',{method:'POST'})",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "//evil.example/x",
    "/relative/path",
    "http:alert(1)",
    "https://",
    'https://ok.example/"onmouseover="alert(1)',
    "",
]


@pytest.mark.parametrize("url", UNSAFE_URLS)
def test_only_http_urls_from_data_become_links(url: str) -> None:
    from search.web.urls import safe_url

    assert safe_url(url) is None


def test_http_urls_stay_links() -> None:
    from search.web.urls import safe_url

    for url in ("http://creativecommons.org/licenses/by/4.0/", "https://arxiv.org/licenses/nonexclusive-distrib/1.0/",
                "HTTPS://doi.org/10.1000/182"):
        assert safe_url(url) == url


@pytest.mark.parametrize("licence", ["javascript:alert(document.domain)", "data:text/html,<b>x</b>",
                                     "JAVA\tSCRIPT:alert(1)"])
async def test_a_licence_that_is_not_http_is_shown_as_text(cfg, filled_db, index, licence: str) -> None:
    insert_papers(filled_db, [{"id": "2403.09999", "title": "Licensed", "abstract": "x", "authors": ["A"],
                               "categories": "cs.LG", "license": licence, "doi": "10.1/x y<z"}])
    transport = httpx.ASGITransport(app=make_app(cfg, filled_db, index))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.get("/arxiv/2403.09999")
    assert r.status_code == 200
    hrefs = re.findall(r'href="([^"]*)"', r.text)
    assert not [h for h in hrefs if not h.startswith(("/", "https://", "http://"))], hrefs
    assert '<dd class="licence"><span>' in r.text
    assert "<a" not in r.text.split('<dd class="licence">')[1][:40]
    assert "https://doi.org/10.1/x" not in hrefs  # a DOI with a space is not a usable link either


async def test_an_http_licence_is_a_link(cfg, filled_db, index) -> None:
    lic = "http://creativecommons.org/licenses/by/4.0/"
    insert_papers(filled_db, [{"id": "2403.09998", "title": "Licensed", "abstract": "x", "authors": ["A"],
                               "categories": "cs.LG", "license": lic}])
    transport = httpx.ASGITransport(app=make_app(cfg, filled_db, index))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.get("/arxiv/2403.09998")
    assert f'href="{lic}"' in r.text


def test_the_atom_feed_leaves_out_links_that_are_not_http() -> None:
    from search.web.atom import FeedEntry, atom_feed

    body = atom_feed(
        feed_id="x",
        title="t",
        self_url="javascript:alert(1)",
        html_url="http://127.0.0.1:8471/a",
        entries=[FeedEntry("2401.00001", "T", "S", ["A"], ["cs.LG"], None, None, "data:text/html,x")],
    )
    root = ET.fromstring(body)  # noqa: S314 - our own output
    hrefs = [el.get("href") for el in root.iter(f"{ATOM}link")]
    assert hrefs == ["http://127.0.0.1:8471/a", "https://arxiv.org/abs/2401.00001", "https://arxiv.org/pdf/2401.00001"]


async def test_a_slow_fetch_answers_fetching_at_once_and_the_reload_shows_the_paper(
    cfg, filled_db, index, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(router_module, "FETCH_WAIT_S", 0.05)
    release = asyncio.Event()
    calls: list[list[str]] = []

    async def fetch(ids: list[str]) -> list[str]:
        calls.append(ids)
        await release.wait()  # arXiv's queue is busy
        insert_papers(filled_db, [{"id": ids[0], "title": "Worth the wait", "abstract": "x",
                                   "authors": ["Z"], "categories": "cs.LG", "ann": []}])
        return ids

    transport = httpx.ASGITransport(app=make_app(cfg, filled_db, index, fetch))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        first = await c.get("/arxiv/2405.04321")
        assert first.status_code == 202
        assert "Fetching 2405.04321" in first.text
        assert '<meta http-equiv="refresh" content="5">' in first.text
        assert (await c.get("/arxiv/2405.04321")).status_code == 202  # a reload joins the same fetch
        release.set()
        await asyncio.sleep(0.05)
        done = await c.get("/arxiv/2405.04321")
        assert done.status_code == 200
        assert "Worth the wait" in done.text
    assert calls == [["2405.04321"]]


async def test_arxiv_offline_is_a_503_that_retries_not_a_404(cfg, filled_db, index) -> None:
    """The real crawler pointed at a port where nothing listens: one attempt, then a page that says so."""
    offline = cfg.model_copy(update={"papers": cfg.papers.model_copy(update={
        "api_url": "http://127.0.0.1:9/api/query", "timeout_s": 2.0})})
    service = FeedService(offline, filled_db, min_interval_s=0.05)
    try:
        transport = httpx.ASGITransport(app=make_app(cfg, filled_db, index, service.fetch_now))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            r = await c.get("/arxiv/2405.07777")
            again = await c.get("/arxiv/2405.07778")
    finally:
        await service.aclose()
    for page in (r, again):
        assert page.status_code == 503
        assert page.headers["retry-after"] == "30"
        assert "arXiv cannot be reached" in page.text
        assert "2405.0777" in page.text
    assert len(service.http.request_starts) == 1  # the second visit did not try again


async def test_counts_agree_with_their_nouns(client: httpx.AsyncClient) -> None:
    one = await client.get("/search", params={"q": "spin"})
    assert paper_ids(one.text) == ["2402.09999"]
    assert "1 result" in one.text
    assert "1 results" not in one.text
    assert "about" not in re.search(r'<p class="count">(.*?)</p>', one.text, re.S).group(1)
    several = await client.get("/search", params={"q": "cat:cs.LG"})
    assert f"{len(paper_ids(several.text))} results" in several.text


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Origin", "http://[bad"),  # urlsplit raises on it: refused, not a 500
        ("Referer", "http://[::1"),
        ("Origin", "null"),
        ("Referer", "http://evil.example/testserver"),
        ("Origin", "http://testserver.evil.example"),
    ],
)
async def test_every_page_post_refuses_a_foreign_or_unparsable_origin(
    client: httpx.AsyncClient, filled_db: Database, header: str, value: str
) -> None:
    for path, data in (
        ("/stars/2403.00002", {"action": "add"}),
        ("/preferences", {"action": "add", "keyword": "lattice", "weight": "3"}),
        ("/go/pdf/2403.00002", {}),
    ):
        r = await client.post(path, data=data, headers={header: value})
        assert r.status_code == 403, (path, r.status_code, r.text[:200])
    stars, prefs, clicks = filled_db.read_blocking(
        lambda s: tuple(s.scalar(select(func.count()).select_from(m)) for m in (Star, Preference, Click))
    )
    assert (stars, prefs, clicks) == (0, 0, 0)
