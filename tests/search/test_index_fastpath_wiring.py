"""The index runs the adapter's self-test when it opens, and its crawl-batch writers write side files."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from search_data import insert_papers

import search.index
from core.database import Database
from search import whoosh_internals as wi
from search.index import SearchIndex


async def test_a_crawl_batch_segment_gets_side_files(index: SearchIndex, filled_db: Database) -> None:
    insert_papers(filled_db, [{"id": "2403.00500", "title": "fresh batch paper", "abstract": "crawl batch",
                               "authors": ["B"], "categories": "cs.LG", "ann": []}])
    await index.update(filled_db, ["2403.00500"])
    assert [h.id for h in index.search("fresh batch").hits] == ["2403.00500"]
    ix = index._ix
    assert ix is not None
    with ix.searcher() as s:
        readers = [r for r, _ in s.reader().leaf_readers()]
        assert len(readers) >= 2  # the rebuild's segment and the batch's
        assert all(wi.segment_arrays(r) is not None for r in readers)


def test_a_failed_self_test_turns_the_fast_path_off_loudly(
    tmp_path: Path, filled_db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(search.index.wi, "self_test", lambda: wi.Verdict(False, ["postings moved"], 1))
    with caplog.at_level(logging.WARNING, "search.index"), SearchIndex(tmp_path / "ix").open() as ix:
        assert ix.fast is False
        ix.reindex(filled_db)
        assert [h.id for h in ix.search("spin").hits] == ["2402.09999"]  # Whoosh's own code answers
    assert "fast path off" in caplog.text
    assert "postings moved" in caplog.text
