"""The NumPy fast path against Whoosh's own matchers, on generated query trees.

The index is real and has every kind of segment the daemon can hold: three
written by the bulk rebuild (``build_segments`` over a real SQLite database),
one by an ordinary writer given the side-file codec, one by a stock Whoosh
writer (no side files: the fast path decodes its blocks), with updates and
deletions spread over them. Hypothesis draws trees of terms, phrases,
prefixes, AND/OR/NOT/ANDNOT, date ranges and fields, with filters and masks;
where the fast path answers, it must return Whoosh's hit set, scores and
order, and where it does not model a node it must refuse with
``Unsupported`` (never answer wrongly, never crash).
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from search_data import bulk_built_index
from whoosh import query as wq
from whoosh.fields import TEXT, Schema
from whoosh.filedb.filestore import FileStorage
from whoosh.index import Index
from whoosh.matching.binary import AndNotMatcher
from whoosh.scoring import BM25F, TF_IDF

from search import whoosh_internals as wi
from search.analysis import fold, stem
from search.fastscore import Unsupported, clear_caches, fast_search
from search.schema import paper_document

WORDS = (
    "graph neural network image model learning quantum spin field energy data robust sparse "
    "kernel bayesian inference attention transformer diffusion lattice galaxy"
).split()
AUTHORS = ["Ana Müller", "Bo Li", "Chen Wu", "Dana Fox", "Eve Kim"]
CATS = ["cs.LG", "cs.CV cs.LG", "quant-ph", "astro-ph.CO", "stat.ML cs.LG"]
DATES = [dt.datetime(2019 + i // 12, 1 + i % 12, 1 + (7 * i) % 28, (5 * i) % 24) for i in range(72)]


def _paper(rng: random.Random, i: int, prefix: str) -> dict[str, Any]:
    weights = [1 / (k + 1) for k in range(len(WORDS))]
    return {
        "id": f"{prefix}.{i:05d}",
        "title": " ".join(rng.choices(WORDS, k=rng.randint(2, 8))),
        "abstract": " ".join(rng.choices(WORDS, weights=weights, k=rng.randint(5, 60))),
        "authors": rng.sample(AUTHORS, rng.randint(1, 3)),
        "categories": rng.choice(CATS),
        "when": rng.choice(DATES).replace(tzinfo=dt.UTC),
        "ann": [],
    }


def _document(spec: dict[str, Any], *, dated: bool = True) -> dict[str, Any]:
    when = spec["when"] if dated else None
    return paper_document(
        id=spec["id"],
        title=spec["title"],
        abstract=spec["abstract"],
        authors=spec["authors"],
        categories=spec["categories"],
        announced=when,
        updated=when,
    )


def _fixed_find_first(self: AndNotMatcher) -> None:
    """``AndNotMatcher._find_first`` as it should be: skip the excluded side up to the first match.

    whoosh3 3.54.0 only looks at the excluded side when both sides start on the
    same document, so ``a ANDNOT b`` returns a segment's first ``a`` even if it
    has ``b`` whenever ``b`` starts earlier (docs/search.md, "Whoosh defects").
    """
    if self.a.is_active() and self.b.is_active() and self.b.id() <= self.a.id():
        self._find_next()


@pytest.fixture(scope="module")
def oracle() -> Iterator[None]:
    """Whoosh's matchers with the AndNot defect fixed: what the fast path is compared with."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(AndNotMatcher, "_find_first", _fixed_find_first)
        yield


def test_whoosh_andnot_defect_is_still_there(tmp_path: Path) -> None:
    """When an upgrade fixes it, this fails: drop the oracle's fix and the paragraph in docs/search.md."""
    ix = FileStorage(str(tmp_path)).create_index(Schema(t=TEXT))
    with ix.writer() as w:
        for text in ("beta", "alpha beta", "alpha"):
            w.add_document(t=text)
    q = wq.AndNot(wq.Term("t", "alpha"), wq.Term("t", "beta"))
    with ix.searcher() as s:
        assert sorted(h.docnum for h in s.search(q)) == [1, 2]  # 1 has beta: wrong
        assert fast_search(s, q, limit=10).docnums == [2]


def test_whoosh_boosted_compound_top_n_defect_is_still_there(tmp_path: Path) -> None:
    """A boosted And/Or loses its best documents when Whoosh collects a top N (block-max skipping
    compares boosted scores with unboosted block bounds); collecting everything is right. So the
    fast path is compared with Whoosh's complete rankings."""
    ix = FileStorage(str(tmp_path)).create_index(Schema(t=TEXT))
    with ix.writer() as w:
        for i in range(400):
            w.add_document(t=" ".join(["alpha"] * (1 + i % 7) + ["beta"] * (1 + i % 5) + ["pad"] * (i % 11)))
    q = wq.Or([wq.Term("t", "alpha"), wq.Term("t", "beta")], boost=2.0)
    with ix.searcher() as s:
        every = [h.docnum for h in s.search(q, limit=None)]
        assert [h.docnum for h in s.search(q, limit=5)] != every[:5]
        assert fast_search(s, q, limit=5).docnums == every[:5]


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, oracle: None) -> Iterator[Index]:
    rng = random.Random(11)
    papers = [_paper(rng, i, "2401") for i in range(420)]
    ix = bulk_built_index(tmp_path_factory.mktemp("fastpath"), papers, 3)
    # an ordinary writer with the side-file codec: new papers (some undated), updates, deletions
    w = ix.writer(codec=wi.FastCodec())
    for i in range(30):
        w.add_document(**_document(_paper(rng, i, "2402"), dated=i % 3 != 0))
    for spec in papers[10:20]:
        w.update_document(**_document({**spec, "title": spec["title"] + " lattice"}))
    for spec in papers[100:105]:
        w.delete_by_term("id", spec["id"])
    w.commit(merge=False)
    # a stock writer: a compound segment without side files, more updates and deletions
    w = ix.writer()
    for i in range(140):
        w.add_document(**_document(_paper(rng, i, "2403"), dated=i % 4 != 0))
    for spec in papers[150:160]:
        w.update_document(**_document({**spec, "abstract": spec["abstract"] + " galaxy galaxy"}))
    w.delete_by_term("id", "2402.00003")
    w.delete_by_term("id", papers[200]["id"])
    w.commit(merge=False)
    yield ix
    ix.close()


def test_the_index_has_every_kind_of_segment(index: Index) -> None:
    """What the equivalence below is worth rests on this mix."""
    with index.searcher() as s:
        leaves = [sub.reader() for sub, _ in s.leaf_searchers()]
        assert len(leaves) == 5
        sides = [wi.segment_arrays(r) is not None for r in leaves]
        assert sides.count(True) == 4
        assert sides.count(False) == 1
        assert sum(len(r.deleted_docs_set) > 0 for r in leaves) >= 3
        # posting lists longer than a Whoosh block (128), in the decoded segment too
        assert (
            min(len(wi.decode_postings(r, "abstract", b"graph")[0]) for r in leaves if r.doc_count() > 100)
            > 128
        )


# ---------------------------------------------------------------- query trees

TERMS = {
    "title": [*sorted({stem(fold(w)) for w in WORDS}), "absent"],
    "abstract": [*sorted({stem(fold(w)) for w in WORDS}), "absent"],
    "authors": ["muller", "li", "chen", "fox", "kim", "absent"],
    "categories": ["cs.lg", "cs", "cs.cv", "quant-ph", "astro-ph", "stat.ml", "absent"],
    "id": ["2401.00003", "2401.00150", "2402.00007", "2403.00001", "9999.99999"],
    "nosuch": ["graph"],
}
BOOSTS = st.sampled_from([1.0, 1.0, 1.0, 2.5, 0.5])
BOUNDS = st.one_of(st.none(), st.sampled_from(DATES), st.just(dt.datetime(2030, 1, 1)))


@st.composite
def terms(draw: st.DrawFn) -> wq.Query:
    field = draw(st.sampled_from(sorted(TERMS)))
    return wq.Term(field, draw(st.sampled_from(TERMS[field])), boost=draw(BOOSTS))


@st.composite
def dates(draw: st.DrawFn) -> wq.Query:
    return wq.DateRange(
        draw(st.sampled_from(["announced", "updated"])),
        draw(BOUNDS),
        draw(BOUNDS),
        startexcl=draw(st.booleans()),
        endexcl=draw(st.booleans()),
        boost=draw(BOOSTS),
    )


@st.composite
def unmodelled(draw: st.DrawFn) -> wq.Query:
    """Leaves the fast path must refuse."""
    word = draw(st.sampled_from(TERMS["abstract"][:-1]))
    kind = draw(st.sampled_from(["phrase", "prefix", "wildcard", "fuzzy", "every", "scored range"]))
    if kind == "phrase":
        return wq.Phrase("abstract", [word, draw(st.sampled_from(TERMS["abstract"]))])
    if kind == "prefix":
        return wq.Prefix("title", word[:3])
    if kind == "wildcard":
        return wq.Wildcard("abstract", word[:2] + "*")
    if kind == "fuzzy":
        return wq.FuzzyTerm("abstract", word)
    if kind == "every":
        return wq.Every()
    return wq.DateRange("announced", DATES[10], DATES[40], constantscore=False)


def _compounds(children: st.SearchStrategy[wq.Query], min_size: int = 0) -> st.SearchStrategy[wq.Query]:
    parts = st.lists(children, min_size=min_size, max_size=3)
    return st.one_of(
        st.builds(lambda qs, b: wq.And(qs, boost=b), parts, BOOSTS),
        st.builds(lambda qs, b: wq.Or(qs, boost=b), parts, BOOSTS),
        st.builds(lambda c, b: wq.Not(c, boost=b), children, BOOSTS),
        st.builds(wq.AndNot, children, children),
    )


@st.composite
def parsed(draw: st.DrawFn) -> wq.Query:
    """The shapes search.query's parser makes: per word an Or over the text fields, AND, NOT, dates."""

    def word() -> wq.Query:
        w = draw(st.sampled_from(TERMS["abstract"]))
        return wq.Or([wq.Term(f, w) for f in ("title", "abstract", "authors")])

    parts: list[wq.Query] = [word() for _ in range(draw(st.integers(1, 3)))]
    parts += [wq.Not(word(), boost=draw(BOOSTS)) for _ in range(draw(st.integers(0, 2)))]
    if draw(st.booleans()):
        parts.append(draw(dates()))
    if draw(st.booleans()):
        parts.append(wq.Term("categories", draw(st.sampled_from(TERMS["categories"]))))
    return wq.And(parts) if len(parts) > 1 else parts[0]


MODELLED = st.recursive(
    st.one_of(terms(), terms(), dates()), lambda c: _compounds(c, min_size=1), max_leaves=8
)
ANY = st.recursive(st.one_of(terms(), terms(), dates(), unmodelled()), _compounds, max_leaves=8)
FILTERS = st.one_of(
    st.none(),
    st.builds(lambda c: wq.Or([wq.Term("categories", c)]), st.sampled_from(TERMS["categories"])),
    dates(),
)


def _modelled(q: wq.Query) -> bool:
    if isinstance(q, wq.Phrase | wq.Prefix | wq.Wildcard | wq.FuzzyTerm | wq.Every):
        return False
    if isinstance(q, wq.And | wq.Or) and not q.subqueries:
        return False
    if isinstance(q, wq.NumericRange) and not q.constantscore:
        return False
    return all(_modelled(c) for c in q.children()) if not q.is_leaf() else True


def _whoosh(s: Any, q: wq.Query, limit: int | None, flt: Any, mask: Any) -> list[tuple[int, float]]:
    return [(h.docnum, h.score) for h in s.search(q, limit=limit, filter=flt, mask=mask)]


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def _assert_same_ranking(
    fast: list[tuple[int, float]], slow: list[tuple[int, float]], every: dict[int, float]
) -> None:
    """Rank by rank the same score, and the same document unless its score ties within rounding."""
    assert len(fast) == len(slow)
    for (fd, fs), (sd, ss) in zip(fast, slow, strict=True):
        assert _close(fs, ss), (fast, slow)
        if fd != sd:
            assert _close(every[fd], ss), (fast, slow)


GRAPH, SPIN = wq.Term("abstract", "graph"), wq.Term("abstract", "spin")


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(q=st.one_of(parsed(), MODELLED, ANY), flt=FILTERS, mask=FILTERS)
@example(q=wq.And([GRAPH, wq.Not(SPIN, boost=2.5)]), flt=None, mask=None)  # InverseMatcher scores 1.0
@example(q=wq.And([wq.Not(GRAPH), wq.Not(SPIN)], boost=2.0), flt=None, mask=None)
@example(q=wq.Or([GRAPH, wq.Not(SPIN)], boost=0.5), flt=None, mask=None)
@example(q=wq.And([GRAPH], boost=3.0), flt=None, mask=None)  # one part: its matcher, unboosted
@example(q=wq.Not(GRAPH), flt=None, mask=SPIN)
@example(q=wq.AndNot(wq.Term("authors", "muller"), wq.Term("abstract", "attent")), flt=None, mask=None)
def test_fast_path_answers_as_whoosh_or_refuses(index: Index, q: wq.Query, flt: Any, mask: Any) -> None:
    with index.searcher() as s:
        everything = s.doc_count_all() + 1
        try:
            fast = fast_search(s, q, limit=everything, filter_q=flt, mask_q=mask)
        except Unsupported:
            assert not (_modelled(q) and _modelled(flt or wq.NullQuery) and _modelled(mask or wq.NullQuery))
            return
        assert _modelled(q), q
        slow = _whoosh(s, q, None, flt, mask)
        assert fast.total == len(slow)
        # the same documents with the same scores...
        assert sorted(fast.docnums) == sorted(d for d, _ in slow), q
        by_doc = dict(slow)
        for docnum, score in zip(fast.docnums, fast.scores, strict=True):
            assert _close(score, by_doc[docnum]), (q, docnum, score, by_doc[docnum])
        # ...in Whoosh's order (best first, ties by docnum), and the same top 7
        _assert_same_ranking(list(zip(fast.docnums, fast.scores, strict=True)), slow, by_doc)
        top = fast_search(s, q, limit=7, filter_q=flt, mask_q=mask)
        assert top.total == fast.total
        _assert_same_ranking(list(zip(top.docnums, top.scores, strict=True)), slow[:7], by_doc)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(q=MODELLED)
def test_newest_first_orders_as_whoosh_sorts_by_date(index: Index, q: wq.Query) -> None:
    with index.searcher() as s:
        fast = fast_search(s, q, limit=s.doc_count_all() + 1, sort_new=True)
        slow = s.search(q, limit=None, sortedby="announced", reverse=True)
        col = s.reader().column_reader("announced", translate=False)
        assert sorted(fast.docnums) == sorted(h.docnum for h in slow)
        assert [col[d] for d in fast.docnums] == [col[h.docnum] for h in slow]


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(q=MODELLED)
def test_the_scores_follow_the_weighting_objects_parameters(index: Index, q: wq.Query) -> None:
    """B, K1 and a field's own B come from the searcher's BM25F, not from constants."""
    weighting = BM25F(B=0.3, K1=2.0, title_B=0.9)
    with index.searcher(weighting=weighting) as s:
        fast = fast_search(s, q, limit=s.doc_count_all() + 1)
        slow = dict(_whoosh(s, q, None, None, None))
        assert sorted(fast.docnums) == sorted(slow)
        assert all(_close(sc, slow[d]) for d, sc in zip(fast.docnums, fast.scores, strict=True))


def test_another_weighting_is_refused(index: Index) -> None:
    with index.searcher(weighting=TF_IDF()) as s, pytest.raises(Unsupported, match="TF_IDF"):
        fast_search(s, wq.Term("abstract", "graph"), limit=10)


@pytest.mark.parametrize(
    "q",
    [
        wq.Or([wq.Term("abstract", "graph"), wq.Term("title", "spin")], scale=0.5),
        wq.Term("abstract", "graph", minquality=1.0),
        wq.DisjunctionMax([wq.Term("abstract", "graph"), wq.Term("title", "spin")]),
        wq.AndMaybe(wq.Term("abstract", "graph"), wq.Term("title", "spin")),
        wq.Require(wq.Term("abstract", "graph"), wq.Term("title", "spin")),
        wq.ConstantScoreQuery(wq.Term("abstract", "graph")),
        wq.TermRange("abstract", "a", "c"),
        wq.NumericRange("announced", 0, 10**18, constantscore=False),
        wq.DateRange("title", DATES[0], DATES[5]),
        wq.And([wq.Term("abstract", "graph"), wq.Phrase("abstract", ["graph", "neural"])]),
    ],
    ids=repr,
)
def test_every_unmodelled_shape_is_refused_before_any_work(index: Index, q: wq.Query, monkeypatch) -> None:
    clear_caches()
    opened: list[Any] = []
    real = wi.segment_arrays
    monkeypatch.setattr(wi, "segment_arrays", lambda r: opened.append(r) or real(r))
    with index.searcher() as s, pytest.raises(Unsupported):
        fast_search(s, q, limit=10)
    assert opened == []  # refused up front, not by an exception half-way
