"""For you: the model of the stars (a generated corpus with topics), its cache, and its pages and feed."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import defusedxml.ElementTree as ET
import httpx
import numpy as np
import pytest
from foryou_data import TOPICS, corpus, fill, star_all, terms
from search_data import make_app

from core.config import Config, PapersConfig, StorageConfig
from core.database import Database
from search import recommend
from search.features import Rows
from search.index import SearchIndex
from search.recommend import Recommender, train

ATOM = "{http://www.w3.org/2005/Atom}"


def test_sparse_rows_multiply_as_dense_matrices() -> None:
    rng = np.random.default_rng(3)
    dense = rng.random((6, 9)) * (rng.random((6, 9)) < 0.4)
    dense[2] = 0.0  # an empty row scores 0
    indptr = np.concatenate(([0], np.cumsum((dense != 0).sum(axis=1))))
    rows_, cols = np.nonzero(dense)
    rows = Rows(indptr.astype(np.int64), cols.astype(np.int64), dense[rows_, cols])
    w, r = rng.random(9), rng.random(6)
    np.testing.assert_allclose(rows.dot(w), dense @ w)
    np.testing.assert_allclose(rows.tdot(r, 9), dense.T @ r)


def test_the_starred_topic_ranks_first_and_explanations_are_shared_words() -> None:
    old = corpus(1, 40)
    starred = [d for d in old if d[0] == "diffusion"][:8]
    others = [d for d in old if d not in starred]
    model = train(terms(starred), terms(others))
    held_out = corpus(2, 10)  # 10 papers per topic, never seen
    scores, because = model.score(terms(held_out))
    order = np.argsort(-scores, kind="stable")
    assert [held_out[i][0] for i in order[:10]] == ["diffusion"] * 10
    star_words = {w for _t, title, abstract in starred for w in f"{title} {abstract}".lower().split()}
    for i in order[:10]:
        words = set(f"{held_out[i][1]} {held_out[i][2]}".lower().replace(".", "").split())
        assert len(because[i]) == 3
        assert set(because[i]) <= words & star_words  # in the paper and in a starred paper
        assert because[i][0] in TOPICS["diffusion"]


@pytest.fixture
def topics(db: Database) -> dict[str, str]:
    return fill(db)


@pytest.fixture
def topic_index(tmp_path: Path, db: Database, topics: dict[str, str]) -> Iterator[SearchIndex]:
    ix = SearchIndex(tmp_path / "index").open()
    ix.reindex(db)
    yield ix
    ix.close()


@pytest.fixture
async def web(cfg: Config, db: Database, topic_index: SearchIndex) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(cfg, db, topic_index))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def test_too_few_stars_say_so_and_a_star_change_retrains(db: Database) -> None:
    fill(db, stars=2)
    rec = Recommender(db)
    ranking = await rec.rank([("2403.00100", "t", "a")])
    assert not ranking.ready
    assert ranking.note is not None
    assert "at least 3 starred papers" in ranking.note
    assert "you have 2" in ranking.note
    star_all(db, ["2306.00008"])  # a third diffusion paper (topics interleave: every fourth)
    first, stars = await rec.model()
    assert first is not None
    assert stars == 3
    again, _ = await rec.model()
    assert again is first  # cached: neither the stars nor the papers changed
    star_all(db, ["2306.00012"])
    retrained, stars = await rec.model()
    assert retrained is not first
    assert stars == 4


async def test_a_cancelled_request_neither_stops_nor_repeats_the_training(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(db)
    calls: list[int] = []
    started = asyncio.Event()
    release = threading.Event()
    real = recommend._train_blocking
    loop = asyncio.get_running_loop()

    def held(pos: list[tuple[str, str]], neg: list[tuple[str, str]]) -> recommend.Model:
        calls.append(len(pos))
        loop.call_soon_threadsafe(started.set)
        release.wait(30)
        return real(pos, neg)

    monkeypatch.setattr(recommend, "_train_blocking", held)
    rec = Recommender(db)
    first = asyncio.ensure_future(rec.model())
    await started.wait()
    first.cancel()  # the reader left while the model was being trained
    second = asyncio.ensure_future(rec.model())
    await asyncio.sleep(0.05)
    release.set()
    model, stars = await second
    assert model is not None
    assert stars == 8
    assert calls == [8]  # one training, finished for the second request
    again, _ = await rec.model()
    assert again is model


def _ids(html: str) -> list[str]:
    return re.findall(r'<div class="paper" id="([^"]+)"', html)


async def test_day_list_for_you_order(web: httpx.AsyncClient, topics: dict[str, str]) -> None:
    arxiv = _ids((await web.get("/arxiv/cs.LG")).text)
    page = await web.get("/arxiv/cs.LG", params={"sort": "foryou"})
    assert page.status_code == 200
    assert "<strong>For you</strong>" in page.text
    ranked = _ids(page.text)
    assert sorted(ranked) == sorted(arxiv)
    assert [topics[p] for p in ranked[:5]] == ["diffusion"] * 5
    assert ranked != arxiv
    because = re.findall(r'<p class="because">because: ([^<]+)</p>', page.text)
    assert len(because) >= 5
    assert because[0].split(", ")[0] in TOPICS["diffusion"]
    assert "because:" not in (await web.get("/arxiv/cs.LG")).text  # other orders explain nothing


async def test_too_few_stars_keep_arxivs_order(cfg: Config, db: Database, tmp_path: Path) -> None:
    fill(db, stars=1)
    ix = SearchIndex(tmp_path / "index").open()
    try:
        ix.reindex(db)
        transport = httpx.ASGITransport(app=make_app(cfg, db, ix))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as web:
            arxiv = _ids((await web.get("/arxiv/cs.LG")).text)
            page = await web.get("/arxiv/cs.LG", params={"sort": "foryou"})
            assert _ids(page.text) == arxiv
            assert "needs at least 3 starred papers" in page.text
            mine = await web.get("/foryou")
            assert mine.status_code == 200
            assert "you have 1" in mine.text
            assert _ids(mine.text) == arxiv[:50]
            feed = await web.get("/foryou/feed")
            assert "too few stars" in feed.text
    finally:
        ix.close()


async def test_search_results_for_you(web: httpx.AsyncClient, topics: dict[str, str]) -> None:
    params = {"q": "cat:cs.LG", "since": "2024-03-01", "sort": "foryou"}
    page = await web.get("/search", params=params)
    assert page.status_code == 200, page.text
    ranked = _ids(page.text)
    assert len(ranked) == 20
    assert [topics[p] for p in ranked[:5]] == ["diffusion"] * 5
    assert '<option value="foryou" selected>' in page.text
    assert "because: " in page.text
    assert (await web.get("/search", params={**params, "page": "9"})).status_code == 400


async def test_foryou_page_and_feed(web: httpx.AsyncClient, topics: dict[str, str]) -> None:
    page = await web.get("/foryou")
    assert page.status_code == 200
    shown = _ids(page.text)
    assert [topics[p] for p in shown[:5]] == ["diffusion"] * 5
    assert "ranked by your 8 stars" in page.text
    feed = await web.get("/foryou/feed", params={"n": "7"})
    assert feed.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(feed.content)
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) == 7
    ids = [e.findtext(f"{ATOM}id", "").removeprefix("https://arxiv.org/abs/") for e in entries]
    assert ids == shown[:7]
    assert (entries[0].findtext(f"{ATOM}summary") or "").startswith("because: ")


HOSTILE = [
    ("/foryou", {"n": "abc"}),
    ("/foryou", {"n": "0"}),
    ("/foryou", {"n": "²"}),
    ("/foryou/feed", {"n": "-5"}),
    ("/foryou/feed", {"n": "100000"}),
    ("/foryou", {"date": "<script>alert(1)</script>"}),
    ("/foryou/feed", {"date": "2024-13-45"}),
    ("/arxiv/cs.LG", {"sort": "foryou'\"><x>"}),
    ("/search", {"q": "graph", "sort": "<script>"}),
    ("/search", {"q": "graph", "sort": "foryou", "page": "0"}),
]


async def test_hostile_parameters_are_refused(web: httpx.AsyncClient) -> None:
    for path, params in HOSTILE:  # one index for all of them
        response = await web.get(path, params=params)
        assert response.status_code == 400, (path, params)
        assert "<script>alert" not in response.text
        assert "<x>" not in response.text


async def test_no_categories_configured(db: Database, topic_index: SearchIndex, tmp_path: Path) -> None:
    bare = Config(storage=StorageConfig(data_dir=tmp_path), papers=PapersConfig(categories=()))
    transport = httpx.ASGITransport(app=make_app(bare, db, topic_index))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as web:
        page = await web.get("/foryou")
        assert page.status_code == 404
        assert "No categories are configured" in page.text
        assert (await web.get("/foryou/feed")).status_code == 404
