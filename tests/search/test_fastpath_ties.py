"""Ties at the cut across segments (issue 11): each segment keeps only its own top N, so the merge must
still give what Whoosh's collector gives, the lowest document numbers among equal scores."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from search_data import insert_papers
from whoosh.filedb.filestore import FileStorage

from core.database import Database
from search import fastscore
from search.build import build_segments, id_ranges
from search.documents import sorted_ids
from search.query import make_parser, parse_query
from search.schema import make_schema


@pytest.mark.parametrize("sort_new", [False, True])
@pytest.mark.parametrize("limit", [1, 5, 13, 40])
def test_equal_scores_across_segments_keep_the_lowest_docnums(
    db: Database, tmp_path: Path, limit: int, sort_new: bool
) -> None:
    when = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    insert_papers(db, [  # 58 identical papers, then 2 that score higher (in the last segment)
        {"id": f"2403.{i:05d}", "title": "graph" if i < 58 else "graph graph graph",
         "abstract": "graph neural", "authors": ["Ana Li"], "categories": "cs.LG", "when": when}
        for i in range(60)
    ])
    path = tmp_path / "ix"
    path.mkdir()
    ix = FileStorage(str(path)).create_index(make_schema(), indexname="papers")
    ids = db.read_blocking(sorted_ids)
    build_segments(ix, str(path), "papers", db.url, id_ranges(ids, 3), 1)
    with ix.searcher() as s:
        assert len(list(s.leaf_searchers())) == 3
        q = parse_query("graph", make_parser(make_schema())).query
        got = fastscore.fast_search(s, q, limit=limit, sort_new=sort_new)
        stock = s.search(q, limit=None, sortedby="announced" if sort_new else None, reverse=sort_new)
        whoosh_order = [hit.docnum for hit in stock]
    assert got.total == 60
    if sort_new:  # all announced alike: Whoosh keeps the first of equal documents
        assert got.docnums == list(range(limit))
    else:  # the two better ones, then the lowest docnums of the tied rest (from the first segment)
        assert got.docnums == [58, 59, *range(limit - 2)][:limit]
        assert got.docnums == whoosh_order[:limit]
        assert got.scores[0] > got.scores[-1] or limit == 1
