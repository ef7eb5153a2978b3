"""Common words ranked from impact-ordered postings (search/impact.py) against Whoosh's own ranking.

The index is built with the thresholds lowered so that every word of the small
corpus has impact-ordered postings and most have bitsets, in segments written
both by the bulk rebuild (the pool's field writer) and by an ordinary writer
with deletions (the per-posting field writer), next to a stock segment without
side files. The threshold algorithm starts from 4 postings a word, so queries
take several rounds; each top N must be Whoosh's, with the same total.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from search_data import bulk_built_index
from test_fastpath_equivalence import (
    MODELLED,
    TERMS,
    _assert_same_ranking,
    _document,
    _paper,
    _whoosh,
    oracle,  # noqa: F401  (a fixture: Whoosh's AndNot with its defect fixed, used by name below)
    parsed,
)
from whoosh import query as wq
from whoosh.index import Index

from search import fastscore, impact
from search import whoosh_internals as wi
from search.fastscore import fast_search

LIMITS = st.sampled_from([1, 2, 5, 20])


@pytest.fixture(scope="module")
def low_thresholds() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(wi, "IMPACT_MIN", 8)
        mp.setattr(wi, "BITS_SHARE", 6)
        mp.setattr(impact, "MIN_POSTINGS", 1)
        mp.setattr(impact, "START", 4)
        mp.setattr(impact, "MAX_SHARE", 1.0)
        mp.setattr(impact, "SMALL_MATCH", 3)
        mp.setattr(impact, "MAX_AND_PARTS", 10**6)
        yield


@pytest.fixture(scope="module")
def index(
    tmp_path_factory: pytest.TempPathFactory, low_thresholds: None, request: pytest.FixtureRequest
) -> Iterator[Index]:
    request.getfixturevalue("oracle")
    rng = random.Random(5)
    papers = [_paper(rng, i, "2401") for i in range(500)]
    ix = bulk_built_index(tmp_path_factory.mktemp("impact"), papers, 2)
    w = ix.writer(codec=wi.FastCodec())
    for i in range(120):
        w.add_document(**_document(_paper(rng, i, "2402")))
    for spec in papers[10:30]:
        w.update_document(**_document({**spec, "title": spec["title"] + " lattice lattice"}))
    for spec in papers[300:320]:
        w.delete_by_term("id", spec["id"])
    w.delete_by_term("id", "2402.00004")
    w.commit(merge=False)
    w = ix.writer()  # stock: no side files, so no impact lists
    for i in range(60):
        w.add_document(**_document(_paper(rng, i, "2403")))
    w.commit(merge=False)
    yield ix
    ix.close()


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Record, per segment searched, whether the impact path answered."""
    seen: list[bool] = []
    real = impact.impact_top

    def spy(seg: Any, q: Any, limit: int) -> Any:
        got = real(seg, q, limit)
        seen.append(got is not None)
        return got

    monkeypatch.setattr(fastscore, "impact_top", spy)
    return seen


def test_every_side_file_segment_has_impact_lists(index: Index) -> None:
    with index.searcher() as s:
        readers = [sub.reader() for sub, _ in s.leaf_searchers()]
        arrays = [wi.segment_arrays(r) for r in readers]
        assert sum(a is not None for a in arrays) == 3
        for a, r in zip(arrays, readers, strict=True):
            if a is None:
                continue
            imp = a.impact("abstract", b"graph")
            assert imp is not None
            docs = imp.docs(0, imp.size)
            plain_docs, plain_weights = a.postings("abstract", b"graph")
            assert sorted(docs.tolist()) == plain_docs.tolist()  # the same postings, reordered
            # each class holds exactly its postings' (weight, length byte)
            lengths = a.length_bytes("abstract")
            weight_of = dict(zip(plain_docs.tolist(), plain_weights.tolist(), strict=True))
            start = 0
            for w, lb, end in zip(imp.weights, imp.lbytes, imp.ends, strict=True):
                cls = docs[start:end]
                assert all(weight_of[d] == w for d in cls.tolist())
                assert (lengths[cls] == lb).all()
                assert (np.diff(cls) > 0).all()  # ascending docnums within a class
                start = int(end)
            bits = imp.bits(r.doc_count_all())
            if bits is not None:
                marked = np.flatnonzero(np.unpackbits(bits, bitorder="little")[: r.doc_count_all()])
                assert marked.tolist() == plain_docs.tolist()


def test_a_common_word_is_answered_without_reading_it_all(
    index: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _counting(monkeypatch)
    read: list[int] = []
    real_take = impact._take

    def take(seg: Any, leaf: Any, want: int) -> Any:
        read.append(want)
        return real_take(seg, leaf, want)

    monkeypatch.setattr(impact, "_take", take)
    q = wq.Or([wq.Term(f, "graph") for f in ("title", "abstract", "authors")])
    with index.searcher() as s:
        fast = fast_search(s, q, limit=3)
        slow = _whoosh(s, q, None, None, None)
    assert seen.count(True) == 3  # the three segments with side files
    assert fast.total == len(slow)
    _assert_same_ranking(list(zip(fast.docnums, fast.scores, strict=True)), slow[:3], dict(slow))
    assert max(read) < len(slow) // 3  # stopped long before the end of the lists


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(q=st.one_of(parsed(), MODELLED), limit=LIMITS)
def test_impact_ranking_is_whooshs(index: Index, q: wq.Query, limit: int) -> None:
    with index.searcher() as s:
        try:
            fast = fast_search(s, q, limit=limit)
        except fastscore.Unsupported:
            return
        slow = _whoosh(s, q, None, None, None)
        assert fast.total == len(slow), q
        _assert_same_ranking(list(zip(fast.docnums, fast.scores, strict=True)), slow[:limit], dict(slow))
        with pytest.MonkeyPatch.context() as mp:  # few matches: every match scored, no rounds
            mp.setattr(impact, "SMALL_MATCH", 10**9)
            every = fast_search(s, q, limit=limit)
        assert every.total == len(slow)
        _assert_same_ranking(list(zip(every.docnums, every.scores, strict=True)), slow[:limit], dict(slow))


@pytest.mark.parametrize("word", sorted(set(TERMS["abstract"]) - {"absent"}))
@pytest.mark.parametrize("limit", [1, 7])
def test_each_word_and_pairs_take_the_impact_path(
    index: Index, monkeypatch: pytest.MonkeyPatch, word: str, limit: int
) -> None:
    seen = _counting(monkeypatch)
    one = wq.Or([wq.Term(f, word) for f in ("title", "abstract", "authors")])
    two = wq.And([one, wq.Or([wq.Term(f, "model") for f in ("title", "abstract", "authors")])])
    with index.searcher() as s:
        for q in (one, two):
            fast = fast_search(s, q, limit=limit)
            slow = _whoosh(s, q, None, None, None)
            assert fast.total == len(slow)
            _assert_same_ranking(list(zip(fast.docnums, fast.scores, strict=True)), slow[:limit], dict(slow))
    assert any(seen)


def test_an_and_of_many_common_words_is_scored_whole(index: Index, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _counting(monkeypatch)
    fields = ("title", "abstract", "authors")
    words = [wq.Or([wq.Term(f, w) for f in fields]) for w in ("graph", "model", "data")]
    with index.searcher() as s:
        monkeypatch.setattr(impact, "MAX_AND_PARTS", 2)
        three = fast_search(s, wq.And(words), limit=5)
        assert not any(seen)
        two = fast_search(s, wq.And(words[:2]), limit=5)
        assert any(seen)
        for got, q in ((three, wq.And(words)), (two, wq.And(words[:2]))):
            slow = _whoosh(s, q, None, None, None)
            assert got.total == len(slow)
            _assert_same_ranking(list(zip(got.docnums, got.scores, strict=True)), slow[:5], dict(slow))


def _mapped_side_file_kib() -> int:
    """Resident KiB of this process's mappings of ``.fpo`` side files (from /proc/self/smaps)."""
    total, inside = 0, False
    with open("/proc/self/smaps") as fh:
        for line in fh:
            head = line.split()
            if head and "-" in head[0] and len(head) >= 5:  # a mapping's header line
                inside = line.rstrip().endswith(wi.POSTINGS_EXT)
            elif inside and head and head[0] == "Rss:":
                total += int(head[1])
    return total


def test_a_search_leaves_no_side_file_pages_resident(index: Index) -> None:
    """Pages a query touches in the mapped side files stay in the page cache, not in this RSS."""
    q = wq.And([wq.Or([wq.Term(f, w) for f in ("title", "abstract", "authors")]) for w in ("graph", "model")])
    with index.searcher() as s:
        fast_search(s, q, limit=5)
        assert _mapped_side_file_kib() == 0
        arrays = [wi.segment_arrays(sub.reader()) for sub, _ in s.leaf_searchers()]
        mapped = next(a for a in arrays if a is not None)
        mapped.lookup("abstract", b"graph", np.arange(0, 200, dtype=np.int64))
        assert _mapped_side_file_kib() > 0  # the measure sees pages a lookup touched...
        mapped.release()
        assert _mapped_side_file_kib() == 0  # ...and release gives them back
