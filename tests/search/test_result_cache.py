"""The ranked lists of recent searches (issue 11): a repeated search or its next page is answered without
ranking again, never from a ranking older than the index it reads, and within its memory budget."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from search_data import PAPERS, ids, insert_papers

from core.database import Database
from search import fastscore
from search.documents import load_documents
from search.index import SearchIndex


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    fastscore.RESULTS.clear()
    budget = fastscore.RESULTS.budget
    yield
    fastscore.RESULTS.resize(budget)
    fastscore.RESULTS.clear()


def counting(index: SearchIndex, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the rankings the index computes (fast path or Whoosh)."""
    calls: list[int] = []
    fast, whoosh = index._fast, index._whoosh

    def fast_counted(*a: object) -> object:
        calls.append(1)
        return fast(*a)  # type: ignore[arg-type]

    def whoosh_counted(*a: object) -> object:
        calls.append(2)
        return whoosh(*a)  # type: ignore[arg-type]

    monkeypatch.setattr(index, "_fast", fast_counted)
    monkeypatch.setattr(index, "_whoosh", whoosh_counted)
    return calls


def test_a_repeated_search_is_not_ranked_again(
    index: SearchIndex, filled_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = counting(index, monkeypatch)
    first = index.search("graph", db=filled_db)
    assert sorted(ids(first)) == ["2401.00005", "2403.00001"]
    assert calls == [1]
    again = index.search("graph", db=filled_db)
    assert calls == [1]  # from the cache
    assert ids(again) == ids(first)
    assert [h.score for h in again.hits] == [h.score for h in first.hits]
    assert again.total == first.total
    assert again.hits[0].title_hl == first.hits[0].title_hl  # highlighted as before
    assert any(marked for _text, marked in first.hits[0].title_hl)
    index.search("graph", db=filled_db, sort="new")  # another order is another ranking
    index.search("graph", db=filled_db, categories=["cs.LG"])  # so is another filter
    index.search('"graph neural"', db=filled_db)  # and a phrase (Whoosh's matchers)
    index.search('"graph neural"', db=filled_db)
    assert calls == [1, 1, 1, 1, 2]  # the phrase: the fast path declined, Whoosh ranked, once


def test_a_commit_is_never_answered_from_the_older_ranking(
    index: SearchIndex, filled_db: Database
) -> None:
    assert sorted(ids(index.search("graph", db=filled_db))) == ["2401.00005", "2403.00001"]
    extra = {**PAPERS[0], "id": "2403.00777", "title": "Graph graph graph", "ann": []}
    insert_papers(filled_db, [extra])
    docs = filled_db.read_blocking(lambda s: load_documents(s, ["2403.00777"]))
    index._apply(docs, ["2403.00777"])  # what a crawl batch's update commits
    assert sorted(ids(index.search("graph", db=filled_db))) == ["2401.00005", "2403.00001", "2403.00777"]
    # and a rebuilt index (new segments, whatever its generation number) is not answered from before
    index.reindex(filled_db)
    assert "2403.00777" in ids(index.search("graph", db=filled_db))


def test_pages_from_the_cache_equal_pages_ranked_afresh(tmp_path: Path, db: Database) -> None:
    rng = random.Random(11)
    words = "graph neural image model spin field energy data learning".split()
    insert_papers(db, [
        {**PAPERS[0], "id": f"2402.{i:05d}", "title": " ".join(rng.choices(words, k=5)),
         "abstract": " ".join(rng.choices(words, k=40)), "ann": []}
        for i in range(260)
    ])
    with SearchIndex(tmp_path / "ix").open() as ix:
        ix.reindex(db)
        cached = [ids(ix.search("graph", db=db, page=p)) for p in range(1, 8)]
        # pages 1-5 from one ranking of 100; page 6 ranked 120, which replaced it; page 7 ranked 140
        ((_key, ((ranked,), _size)),) = fastscore.RESULTS.items.items()
        assert len(ranked.docnums) == 140
        fastscore.RESULTS.resize(0)  # nothing kept: every page ranked afresh
        fastscore.RESULTS.clear()
        afresh = [ids(ix.search("graph", db=db, page=p)) for p in range(1, 8)]
        assert not fastscore.RESULTS.items
    assert cached == afresh
    assert sum(len(p) for p in cached) == 140
    assert len({pid for p in cached for pid in p}) == 140  # no paper twice across pages


def test_the_cache_stays_within_its_budget(index: SearchIndex, filled_db: Database) -> None:
    fastscore.RESULTS.resize(40_000)
    for i in range(300):
        index.search(f"graph OR word{i}", db=filled_db)
    assert 0 < fastscore.RESULTS.used <= 40_000
    assert len(fastscore.RESULTS.items) < 300
