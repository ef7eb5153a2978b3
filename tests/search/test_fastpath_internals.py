"""The adapter over Whoosh's internals: its self-test passes here and fails when an internal moves;
the positions encoding is stock Whoosh's; damaged side files are not trusted; and each whoosh3
defect docs/search.md describes is still there (when one is fixed upstream, its test says so)."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from whoosh import fields
from whoosh import query as wq
from whoosh.codec import base as codec_base
from whoosh.codec.whoosh3 import W3Codec, W3LeafMatcher
from whoosh.filedb.filestore import FileStorage, RamStorage
from whoosh.formats import Positions
from whoosh.writing import PostingPool, SegmentWriter

from search import fastscore
from search import whoosh_internals as wi
from search.analysis import FastPositions, PaperAnalyzer
from search.schema import make_schema, paper_document


def test_the_self_test_passes_on_the_installed_whoosh() -> None:
    verdict = wi.self_test(force=True)
    assert verdict.ok, verdict.problems
    assert verdict.checked > 500
    wi.require()  # does not raise


def _delta_free_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if Whoosh stored absolute docnums in its blocks: its own readers follow, ours does not."""
    real_read_data = W3LeafMatcher._read_data

    def read_data(self: Any) -> None:
        real_read_data(self)
        ids, rest = self._data[0], self._data[1:]
        absolute, total = [], 0
        for d in ids:
            total += d
            absolute.append(total)
        self._data = (absolute, *rest)

    def read_ids(self: Any) -> None:
        if self._data is None:
            self._read_data()
        self._ids = tuple(self._data[0])

    monkeypatch.setattr(W3LeafMatcher, "_read_data", read_data)
    monkeypatch.setattr(W3LeafMatcher, "_read_ids", read_ids)


def _postings_behind_the_writers_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if Whoosh's posting loop wrote to the postings writer directly instead of calling ``add``."""
    real = codec_base.FieldWriter.add_postings

    def add_postings(self: Any, schema: Any, lengths: Any, items: Any) -> None:
        if not isinstance(self, wi._FieldWriter):
            return real(self, schema, lengths, items)
        items = list(items)
        self.add = lambda docnum, weight, vbytes, length: self._postwriter.add_posting(
            docnum, weight, vbytes, length
        )
        return real(self, schema, lengths, items)

    monkeypatch.setattr(codec_base.FieldWriter, "add_postings", add_postings)


@pytest.mark.parametrize("change", [_delta_free_blocks, _postings_behind_the_writers_back])
def test_the_self_test_notices_an_internal_that_moved(
    change: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    change(monkeypatch)
    try:
        with caplog.at_level(logging.ERROR, logger="search.whoosh_internals"):
            verdict = wi.self_test(force=True)
        assert not verdict.ok
        assert "differ" in str(verdict)
        assert "NumPy scoring and the bulk rebuild are off" in caplog.text
        with pytest.raises(wi.InternalsChanged):
            wi.require()
        assert type(wi.writer_codec()) is W3Codec  # ordinary writers stop writing side files
        # and the fast path refuses every query, so Whoosh's matchers answer
        ix = FileStorage(str(tmp_path)).create_index(make_schema(), indexname="papers")
        with ix.writer() as w:
            w.add_document(
                **paper_document(
                    id="1",
                    title="graph",
                    abstract="",
                    authors="",
                    categories="cs.LG",
                    announced=None,
                    updated=None,
                )
            )
        with ix.searcher() as s, pytest.raises(fastscore.Unsupported, match="internals changed"):
            fastscore.fast_search(s, wq.Term("title", "graph"), limit=5)
        assert fastscore.warm(ix.searcher(), ("title",)) == 0
    finally:
        monkeypatch.undo()
        assert wi.self_test(force=True).ok  # the verdict of the real Whoosh again, for other tests


TEXTS = st.lists(
    st.sampled_from(
        [
            "graph",
            "graphs",
            "the",
            "of",
            "a",
            "Schrödinger",
            "naïve",
            "x",
            "images",
            "image",
            "GRAPH",
            "$n^2$",
        ]
    ),
    max_size=40,
).map(" ".join)


@settings(max_examples=200)
@given(text=TEXTS, boost=st.sampled_from([1.0, 2.0, 3.0]))
def test_the_positions_bytes_are_stock_whooshs(text: str, boost: float) -> None:
    """FastPositions skips Whoosh's token objects, not its encoding: same items, same order, same bytes."""
    analyzer = PaperAnalyzer()
    mine = list(FastPositions(field_boost=boost).word_values(text, analyzer, mode="index"))
    stock = list(Positions(field_boost=boost).word_values(text, analyzer, mode="index"))
    assert mine == stock
    for term, freq, _weight, vbytes in mine:
        assert Positions().decode_frequency(vbytes) == freq
        assert Positions().decode_positions(vbytes) == [
            i for i, t in enumerate(analyzer.index_terms(text)) if t == term
        ]


def _bulk_docs() -> list[dict[str, Any]]:
    """Papers as the rebuild gives them (dates shared by many, a missing date, empty fields, TeX,
    accents), and the documents Whoosh's own path must take (boosts, a ``_stored_`` override)."""
    day = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    docs = []
    for i in range(60):
        doc = paper_document(
            id=f"p{i:03d}",
            title=f"Graph {'neural ' * (i % 4)}networks for $n^{i % 3}$ naïve Schrödinger images",
            abstract="" if i % 11 == 0 else " ".join(["graphs of images"] * (i % 7 + 1)) + f" token{i % 5}",
            authors=["Ann Müller", f"Bo Li {i % 3}"] if i % 9 else [],
            categories="cs.LG stat.ML" if i % 2 else "quant-ph",
            announced=None if i % 13 == 0 else day + dt.timedelta(days=i % 3),
            updated=day + dt.timedelta(days=i % 5, hours=i % 2) if i % 6 else None,
            revised=None,
        )
        if i == 7:
            doc["_boost"] = 2.0
        if i == 8:
            doc["_title_boost"] = 0.5
        if i == 9:
            doc["_stored_hit"] = ("override",)
        docs.append(doc)
    return docs


def test_the_bulk_writers_add_document_reads_like_whooshs(tmp_path: Path) -> None:
    """BulkWriter's own add_document (text straight into the pool, dates memoised) against stock
    Whoosh's on the papers' schema: every posting, weight, position, length, column and stored value."""
    docs = _bulk_docs()
    schema = make_schema()
    (tmp_path / "stock").mkdir()
    (tmp_path / "bulk").mkdir()
    stock = FileStorage(str(tmp_path / "stock")).create_index(schema, indexname="t")
    bulk = FileStorage(str(tmp_path / "bulk")).create_index(schema, indexname="t")
    with stock.writer(codec=W3Codec()) as w:
        for doc in docs:
            w.add_document(**doc)
    lock = bulk.writer()
    part = wi.BulkWriter(bulk, wi.CompactPool())
    for doc in docs:
        part.add_document(**doc)
    wi.publish(lock, [wi.finish_part(part)])
    mine, theirs = wi._logical(bulk), wi._logical(stock)
    assert mine == theirs
    assert mine["doc_count"] == 60
    assert any(key.startswith("announced/") for key in mine)  # the dates' terms are there
    assert mine["stored"]["p009"]["hit"] == ("override",)


def test_a_damaged_side_file_is_not_trusted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ix = FileStorage(str(tmp_path)).create_index(make_schema(), indexname="papers")
    with ix.writer(codec=wi.FastCodec()) as w:
        for i in range(50):
            w.add_document(
                **paper_document(
                    id=f"{i}",
                    title="graph spin" if i % 2 else "graph",
                    abstract="energy " * (i % 7),
                    authors="A B",
                    categories="cs.LG",
                    announced=None,
                    updated=None,
                )
            )
    q = wq.Or([wq.Term("title", "graph"), wq.Term("title", "spin"), wq.Term("abstract", "energi")])
    fastscore.clear_caches()
    with ix.searcher() as s:
        good = fastscore.fast_search(s, q, limit=10)
        assert wi.segment_arrays(s.leaf_searchers()[0][0].reader()) is not None
    (side,) = tmp_path.glob("*.fpo")
    data = bytearray(side.read_bytes())
    data[4] = 99  # another format version
    side.write_bytes(bytes(data))
    fastscore.clear_caches()
    with ix.searcher() as s, caplog.at_level(logging.WARNING, logger="search.whoosh_internals"):
        assert wi.segment_arrays(s.leaf_searchers()[0][0].reader()) is None
        again = fastscore.fast_search(s, q, limit=10)  # decoded from Whoosh's blocks instead
    assert "unusable" in caplog.text
    assert (again.docnums, again.scores) == (good.docnums, good.scores)
    fastscore.clear_caches()


# ---------------------------------------------------------------- whoosh3 defects (docs/search.md)


def test_defect_poolclass_is_ignored() -> None:
    class Pool(PostingPool):
        pass

    ix = RamStorage().create_index(fields.Schema(t=fields.TEXT))
    w = SegmentWriter(ix, poolclass=Pool)
    assert type(w.pool) is PostingPool  # so BulkWriter sets .pool itself
    w.cancel()


def test_defect_inlinelimit_above_one_fails_at_commit() -> None:
    ix = RamStorage().create_index(fields.Schema(t=fields.TEXT))
    w = ix.writer(codec=W3Codec(inlinelimit=2))
    w.add_document(t="alpha beta")
    with pytest.raises(AttributeError, match="set_inline"):
        w.commit()


def test_defect_refresh_of_a_searcher_of_an_empty_index() -> None:
    ix = RamStorage().create_index(fields.Schema(t=fields.TEXT))
    s = ix.searcher()
    with ix.writer() as w:
        w.add_document(t="alpha")
    with pytest.raises(TypeError, match="not iterable"):
        s.refresh()


def test_defect_an_empty_and_inside_an_and() -> None:
    ix = RamStorage().create_index(fields.Schema(t=fields.TEXT))
    with ix.writer() as w:
        w.add_document(t="alpha")
    with ix.searcher() as s, pytest.raises(ValueError, match="empty sequence"):
        s.search(wq.And([wq.Term("t", "alpha"), wq.And([])]))


def test_defect_estimated_min_length_of_a_prefix_without_terms() -> None:
    ix = RamStorage().create_index(fields.Schema(t=fields.TEXT, u=fields.TEXT))
    with ix.writer() as w:
        for i in range(30):
            w.add_document(t=f"alpha{i}", u="beta")
    with ix.searcher() as s:
        r = s.search(wq.Or([wq.Prefix("t", "alph"), wq.Prefix("u", "alph")]), limit=5)
        assert not r.has_exact_length()
        with pytest.raises(ValueError, match="empty sequence"):
            r.estimated_min_length()
