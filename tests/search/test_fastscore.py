"""The NumPy scoring path ranks like Whoosh's own matchers, and steps aside for what it cannot do."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
from search_data import insert_papers
from whoosh import query as wq
from whoosh.filedb.filestore import FileStorage

from core.database import Database
from feeds.models import Paper
from search import fastscore
from search.index import SearchIndex
from search.schema import make_schema, paper_document

WORDS = (
    "graph neural network image model learning quantum spin field energy data robust sparse "
    "kernel bayesian inference attention transformer diffusion lattice galaxy"
).split()


@pytest.fixture
def corpus_index(tmp_path: Path, db: Database):
    rng = random.Random(5)
    papers = []
    for i in range(400):
        title = " ".join(rng.choices(WORDS, k=rng.randint(3, 8)))
        abstract = " ".join(rng.choices(WORDS, weights=range(len(WORDS), 0, -1), k=rng.randint(20, 60)))
        cats = rng.choice(["cs.LG", "cs.CV cs.LG", "quant-ph", "astro-ph.CO", "stat.ML cs.LG"])
        when = dt.datetime(2020 + i % 5, 1 + i % 12, 1 + i % 28, tzinfo=dt.UTC)
        papers.append(
            {
                "id": f"2401.{i:05d}",
                "title": title,
                "abstract": abstract,
                "authors": [f"A{i % 7} B"],
                "categories": cats,
                "when": when,
                "ann": [],
            }
        )
    insert_papers(db, papers)
    with SearchIndex(tmp_path / "ix").open() as ix:
        ix.reindex(db)
        yield ix


QUERIES = [
    ("graph", {}),
    ("graph neural", {}),
    ("quantum OR galaxy", {}),
    ("model -graph", {}),
    ("ti:attention abs:kernel", {}),
    ("spin date:2022", {}),
    ("learning", {"categories": ["cs.LG"]}),
    ("data", {"exclude": ["cs.LG"]}),
    ("energy", {"since": dt.date(2023, 1, 1)}),
    ("au:a3 model", {}),
    ("cat:quant-ph field", {}),
    ("(graph OR image) AND NOT robust", {}),
]


@pytest.mark.parametrize(("text", "kwargs"), QUERIES)
def test_fast_path_ranks_like_whoosh(corpus_index: SearchIndex, text: str, kwargs: dict) -> None:
    fast = corpus_index.search(text, pagelen=30, **kwargs)
    corpus_index.fast = False
    slow = corpus_index.search(text, pagelen=30, **kwargs)
    corpus_index.fast = True
    assert fast.error is None
    assert slow.error is None
    assert fast.total == slow.total or not slow.total_exact
    assert [round(h.score, 3) for h in fast.hits] == pytest.approx(
        [round(h.score, 3) for h in slow.hits], abs=2e-3
    )
    # the same documents, apart from ties at the cut-off
    cut = fast.hits[-1].score if fast.hits else 0
    assert {h.id for h in fast.hits if h.score > cut + 1e-6} == {
        h.id for h in slow.hits if h.score > cut + 1e-6
    }


def test_sort_new_and_paging_on_the_fast_path(corpus_index: SearchIndex) -> None:
    newest = corpus_index.search("graph", sort="new", pagelen=10)
    dates = [h.announced for h in newest.hits]
    assert dates == sorted(dates, reverse=True)
    page2 = corpus_index.search("graph", pagelen=10, page=2)
    page1 = corpus_index.search("graph", pagelen=10, page=1)
    assert not {h.id for h in page1.hits} & {h.id for h in page2.hits}
    assert page2.hits[0].rank == 11


def test_phrases_fall_back_to_whoosh(corpus_index: SearchIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = SearchIndex._whoosh

    def spy(*args, **kwargs):
        calls.append("whoosh")
        return real(*args, **kwargs)

    monkeypatch.setattr(SearchIndex, "_whoosh", staticmethod(spy))
    corpus_index.search("graph")
    assert calls == []
    corpus_index.search('"graph neural"')
    corpus_index.search("transf*")
    assert calls == ["whoosh", "whoosh"]


async def test_updates_and_deletions_are_seen(corpus_index: SearchIndex, db: Database) -> None:
    before = corpus_index.search("graph").total

    def drop(session) -> None:
        for pid in ("2401.00001", "2401.00002", "2401.00003"):
            session.delete(session.get(Paper, pid))

    ids = ("2401.00001", "2401.00002", "2401.00003")
    gone = [pid for pid in ids if corpus_index.search(f"graph id:{pid}").total]
    assert gone
    await db.write(drop)
    await corpus_index.update(db, list(ids))
    after = corpus_index.search("graph", pagelen=200)
    assert after.total == before - len(gone)
    assert all(corpus_index.search(f"graph id:{pid}").total == 0 for pid in ids)


def test_an_empty_index_does_not_turn_the_fast_path_off(tmp_path: Path, db: Database) -> None:
    with SearchIndex(tmp_path / "empty").open() as ix:
        assert ix.search("graph").total == 0
        assert not ix._fast_broken
        insert_papers(
            db,
            [
                {
                    "id": "2401.00001",
                    "title": "graph",
                    "abstract": "x",
                    "authors": ["A"],
                    "categories": "cs.LG",
                    "ann": [],
                }
            ],
        )
        ix.reindex(db)
        calls: list[int] = []
        real = ix._whoosh
        ix._whoosh = lambda *a, **k: calls.append(1) or real(*a, **k)  # type: ignore[method-assign]
        assert [h.id for h in ix.search("graph").hits] == ["2401.00001"]
        assert calls == []


def test_warm_up_readies_common_terms_and_changes_no_result(corpus_index: SearchIndex, db: Database) -> None:
    """Rebuilt segments have side files: warming asks the kernel to read them ahead and decodes nothing."""
    fastscore.clear_caches()
    before = corpus_index.search("graph OR diffusion", db=db, pagelen=20)
    fastscore.clear_caches()
    n = corpus_index.warm()
    assert n == len(list(corpus_index._searcher().leaf_searchers()))  # one read-ahead per segment
    assert fastscore._POSTINGS.used == 0  # nothing to decode: the side files are mapped
    after = corpus_index.search("graph OR diffusion", db=db, pagelen=20)
    assert [h.id for h in after.hits] == [h.id for h in before.hits]
    assert after.total == before.total


def test_warm_up_decodes_segments_without_side_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A segment another codec wrote has its commonest lists decoded into the cache, commonest first."""
    monkeypatch.setattr(fastscore, "CACHE_MIN_POSTINGS", 1)  # this corpus is small: cache every list
    ix = FileStorage(str(tmp_path)).create_index(make_schema(), indexname="papers")
    rng = random.Random(2)
    with ix.writer() as w:  # stock codec: a compound segment, no side files
        for i in range(300):
            words = rng.choices(WORDS, weights=range(len(WORDS), 0, -1), k=30)
            w.add_document(
                **paper_document(
                    id=str(i),
                    title="",
                    abstract=" ".join(words),
                    authors="",
                    categories="cs.LG",
                    announced=None,
                    updated=None,
                )
            )
    fastscore.clear_caches()
    with ix.searcher() as s:
        q = wq.Or([wq.Term("abstract", "graph"), wq.Term("abstract", "diffus")])
        before = fastscore.fast_search(s, q, limit=20)
        fastscore.clear_caches()
        assert fastscore.warm(s, ("abstract",)) > 0
        assert 0 < fastscore._POSTINGS.used <= fastscore._POSTINGS.budget
        cached = {k[-1] for k in fastscore._POSTINGS.items}
        assert b"graph" in cached  # the commonest word goes first
        after = fastscore.fast_search(s, q, limit=20)
    assert (after.docnums, after.scores) == (before.docnums, before.scores)
