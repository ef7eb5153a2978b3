"""How a rebuild sizes its segments (issue 11): by the memory its workers may use together, in a multiple
of the worker count, so that 2.7 million papers make a handful of segments instead of 54."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from search_data import insert_papers

from core.database import Database
from search import build as build_mod
from search.build import BYTES_PER_PAPER, MIN_SEGMENT, id_ranges, segment_cap
from search.index import SearchIndex

WORDS = "graph neural network image model quantum spin field energy data".split()


@pytest.mark.parametrize("n", [1, 7, 50, 101, 1000])
@pytest.mark.parametrize("parts", [1, 2, 3])
@pytest.mark.parametrize("cap", [1, 9, 40, 10_000])
def test_ranges_cover_every_id_once_within_the_cap_in_a_multiple_of_the_workers(
    n: int, parts: int, cap: int
) -> None:
    ids = [f"2401.{i:05d}" for i in range(n)]
    ranges = id_ranges(ids, parts, cap)
    covered = [pid for lo, hi, _ in ranges for pid in ids if lo <= pid <= hi]
    assert covered == ids  # contiguous, in order, none twice, none left out
    assert sum(c for *_, c in ranges) == n
    assert all(c <= cap for *_, c in ranges)
    assert len(ranges) % parts == 0 or len(ranges) == n  # only too few papers leave a worker idle
    assert len(ranges) >= min(parts, n)


def test_the_cap_follows_the_memory_budget() -> None:
    assert segment_cap(6144, 2) == 6144 * 2**20 // (2 * BYTES_PER_PAPER)
    assert segment_cap(6144, 1) // 2 == segment_cap(6144, 2)
    assert segment_cap(256, 8) == MIN_SEGMENT  # never absurdly small segments
    # 2.7 million papers with the default budget and two workers: a handful of segments, not 54
    ids = [f"{i:07d}" for i in range(2_700_000)]
    assert len(id_ranges(ids, 2, segment_cap(6144, 2))) == 6


def test_a_rebuild_writes_as_many_segments_as_the_budget_allows(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(5)
    insert_papers(db, [
        {"id": f"2401.{i:05d}", "title": " ".join(rng.choices(WORDS, k=4)),
         "abstract": " ".join(rng.choices(WORDS, k=30)), "authors": ["Ana Müller"], "categories": "cs.LG"}
        for i in range(90)
    ])
    monkeypatch.setattr(build_mod, "MIN_SEGMENT", 1)
    monkeypatch.setattr(build_mod, "BYTES_PER_PAPER", 2**20 * 256 // 20)  # 256 MB hold 20 papers
    with SearchIndex(tmp_path / "ix", procs=1, build_memory_mb=256).open() as ix:
        assert ix.reindex(db) == 90
        with ix._ix.searcher() as s:  # type: ignore[union-attr]
            sizes = [sub.doc_count() for sub, _ in s.leaf_searchers()]
        assert sizes == [18] * 5  # ceil(90 / 20) = 5 segments of 18
        split = [(h.id, round(h.score, 9)) for h in ix.search("graph neural", db=db, pagelen=90).hits]
    with SearchIndex(tmp_path / "ix2", procs=1).open() as ix:  # no budget: segments of SEGMENT_PAPERS
        assert ix.reindex(db) == 90
        with ix._ix.searcher() as s:  # type: ignore[union-attr]
            assert len(list(s.leaf_searchers())) == 1
        whole = [(h.id, round(h.score, 9)) for h in ix.search("graph neural", db=db, pagelen=90).hits]
    assert split == whole  # the same ranking whatever the segments
    assert len(whole) > 20
