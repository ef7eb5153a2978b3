"""The index: searching, highlighting, filters, updates after a crawl batch, check/repair, rebuilds."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
from pathlib import Path

import pytest
from search_data import PAPERS, ids, insert_papers

import search.dispatch
import search.index
from core.database import Database
from core.errors import SearchError
from feeds.models import Paper
from search.index import SearchIndex
from search.results import Hit, SearchResult, plain


def test_stemming_finds_other_word_forms(index: SearchIndex, filled_db: Database) -> None:
    result = index.search("image", db=filled_db)
    assert result.ok
    assert set(ids(result)) == {"2403.00001", "2401.00005"}


def test_accents_fold_both_ways(index: SearchIndex, filled_db: Database) -> None:
    assert ids(index.search("schrodinger", db=filled_db)) == ["2403.00002"]
    assert ids(index.search("au:muller", db=filled_db)) == ["2403.00001"]
    assert ids(index.search("Müller", db=filled_db)) == ["2403.00001"]


def test_title_outranks_abstract(index: SearchIndex) -> None:
    # "graph" is in the title of 00001 and 00005 (and only the abstract of none else)
    result = index.search("segmentation")
    assert ids(result)[0] == "2401.00005"
    result = index.search("transformers OR attention")
    assert ids(result)[0] == "2403.00003"


def test_phrase_and_boolean_operators(index: SearchIndex) -> None:
    assert ids(index.search('"graph neural networks"')) == ["2403.00001"]
    assert ids(index.search('"networks graph"')) == []
    assert set(ids(index.search("spin OR diffusion"))) == {"2402.09999", "2403.00002"}
    assert "2403.00003" not in ids(index.search("language -survey"))
    assert ids(index.search("language NOT survey")) == ["2403.00004"]


def test_category_prefix_and_filters(index: SearchIndex) -> None:
    assert set(ids(index.search("cat:cs.CV"))) == {"2403.00001", "2401.00005"}
    assert set(ids(index.search("cat:quant-ph"))) == {"2402.09999"}
    assert set(ids(index.search("models", categories=["stat.ML"]))) == {"2403.00002"}
    assert "2403.00004" not in ids(index.search("language", exclude=["cs.CY"]))
    assert set(ids(index.search("cat:cs"))) == {p["id"] for p in PAPERS if "cs." in p["categories"]}


def test_date_query_and_filter(tmp_path: Path, db: Database) -> None:
    insert_papers(
        db,
        [
            {
                "id": "2001.00001",
                "title": "Old graph",
                "abstract": "graph",
                "authors": ["A"],
                "categories": "cs.LG",
                "when": dt.datetime(2020, 1, 2, tzinfo=dt.UTC),
                "ann": [],
            },
            {
                "id": "2401.00001",
                "title": "New graph",
                "abstract": "graph",
                "authors": ["B"],
                "categories": "cs.LG",
                "when": dt.datetime(2024, 1, 2, tzinfo=dt.UTC),
                "ann": [],
            },
        ],
    )
    with SearchIndex(tmp_path / "ix").open() as ix:
        ix.reindex(db)
        assert ids(ix.search("graph date:2020")) == ["2001.00001"]
        assert ids(ix.search("graph date:2021..")) == ["2401.00001"]
        assert ids(ix.search("graph", since=dt.date(2023, 12, 1))) == ["2401.00001"]
        assert ids(ix.search("graph", until=dt.date(2020, 1, 2))) == ["2001.00001"]
        assert ids(ix.search("graph", sort="new")) == ["2401.00001", "2001.00001"]
        assert ix.search("graph", since=dt.date(2024, 1, 1), until=dt.date(2023, 1, 1)).error


def test_highlights_come_from_the_database_and_skip_math(index: SearchIndex, filled_db: Database) -> None:
    hit = next(h for h in index.search("images", db=filled_db).hits if h.id == "2403.00001")
    assert hit.in_database
    assert ("images", True) in hit.title_hl
    assert plain(hit.title_hl) == hit.title
    marked = [t for t, m in hit.abstract_hl if m]
    assert marked == ["images"]
    hit = index.search("leq", db=filled_db).hits[0]  # a word inside the formula matches...
    assert not any(m for _t, m in hit.abstract_hl)  # ...but is never marked inside $...$


def test_pagination_and_the_result_cap(index: SearchIndex) -> None:
    first = index.search("cat:cs", pagelen=2, page=1)
    second = index.search("cat:cs", pagelen=2, page=2)
    assert len(first.hits) == 2
    assert len(second.hits) == 2
    assert not set(ids(first)) & set(ids(second))
    assert first.total == 5
    assert first.pages == 3
    assert [h.rank for h in second.hits] == [3, 4]
    deep = index.search("cat:cs", page=100, pagelen=20)
    assert deep.error
    assert "stop at 1000" in deep.error
    assert deep.hits == []


@pytest.mark.parametrize("bad", ['"unbalanced', "NOT", "x" * 10240, "ctl\x07char", "nofield:x", "AND"])
def test_bad_input_never_raises(index: SearchIndex, bad: str) -> None:
    result = index.search(bad)
    assert result.error
    assert result.hits == []
    assert result.total == 0


def test_related_uses_key_terms_and_excludes_the_paper(index: SearchIndex, filled_db: Database) -> None:
    result = index.related("2403.00001", 5, db=filled_db)
    assert result.ok
    assert result.terms
    assert "2403.00001" not in ids(result)
    assert ids(result)[0] == "2401.00005"  # the other graph/image paper
    assert index.related("9999.99999", db=filled_db).error


async def test_update_after_a_crawl_batch(index: SearchIndex, filled_db: Database) -> None:
    def change(session) -> None:
        session.get(Paper, "2402.09999").title = "Spin chains with topological images"
        session.delete(session.get(Paper, "2403.00003"))

    await filled_db.write(change)
    insert_papers(
        filled_db,
        [
            {
                "id": "2403.00099",
                "title": "Fresh topological insulators",
                "abstract": "New.",
                "authors": ["H"],
                "categories": "cond-mat.str-el",
                "ann": [],
            }
        ],
    )
    await index.update(filled_db, ["2402.09999", "2403.00003", "2403.00099"])
    assert ids(index.search("topological")) == ["2402.09999", "2403.00099"] or set(
        ids(index.search("topological"))
    ) == {"2402.09999", "2403.00099"}
    assert ids(index.search("survey")) == []
    assert index.doc_count() == len(PAPERS)


def test_searchers_in_other_threads_see_new_commits(index: SearchIndex, filled_db: Database) -> None:
    seen: list[list[str]] = []
    before = threading.Thread(target=lambda: seen.append(ids(index.search("volcano"))))
    before.start()
    before.join()
    insert_papers(
        filled_db,
        [
            {
                "id": "2403.00100",
                "title": "Volcano monitoring",
                "abstract": "Lava.",
                "authors": ["I"],
                "categories": "physics.geo-ph",
                "ann": [],
            }
        ],
    )
    index.check(filled_db, repair=True)
    after = threading.Thread(target=lambda: seen.append(ids(index.search("volcano"))))
    after.start()
    after.join()
    assert seen == [[], ["2403.00100"]]


def test_check_finds_and_repairs_differences(index: SearchIndex, filled_db: Database) -> None:
    assert index.check(filled_db, repair=False).clean
    insert_papers(
        filled_db,
        [
            {
                "id": "2403.00200",
                "title": "Missing one",
                "abstract": "x",
                "authors": ["J"],
                "categories": "cs.LG",
                "ann": [],
            }
        ],
    )

    def edit(session) -> None:
        p = session.get(Paper, "2403.00002")
        p.title, p.updated = (
            "Schrödinger bridges, revised with kittens",
            dt.datetime(2024, 4, 1, tzinfo=dt.UTC),
        )
        session.delete(session.get(Paper, "2402.09999"))

    filled_db.write_blocking(edit)
    report = index.check(filled_db, repair=True)
    assert (report.missing, report.stale, report.extra) == (["2403.00200"], ["2403.00002"], ["2402.09999"])
    assert report.repaired
    assert index.check(filled_db, repair=False).clean
    assert ids(index.search("kittens")) == ["2403.00002"]


def test_a_corrupt_index_is_rebuilt_not_fatal(tmp_path: Path, filled_db: Database) -> None:
    with SearchIndex(tmp_path / "ix").open() as ix:
        ix.reindex(filled_db)
    for seg in (tmp_path / "ix" / "whoosh").iterdir():
        if seg.suffix in (".seg", ".toc"):
            seg.write_bytes(b"\x00garbage")
    ix = SearchIndex(tmp_path / "ix").open()
    try:
        assert ix.needs_rebuild
        assert ix.search("graph").total == 0
        ix.reindex(filled_db)
        assert not ix.needs_rebuild
        assert ix.doc_count() == len(PAPERS)
    finally:
        ix.close()


def test_an_outdated_schema_is_rebuilt(tmp_path: Path, filled_db: Database) -> None:
    with SearchIndex(tmp_path / "ix").open() as ix:
        ix.reindex(filled_db)
    (tmp_path / "ix" / "coolstove-index.json").write_text('{"schema": 0}')
    with SearchIndex(tmp_path / "ix").open() as ix:
        assert ix.needs_rebuild
        assert ix.doc_count() == 0


def test_a_second_owner_is_refused_but_readers_are_not(tmp_path: Path, filled_db: Database) -> None:
    with SearchIndex(tmp_path / "ix").open() as owner:
        owner.reindex(filled_db)
        with pytest.raises(SearchError, match="owned by pid"):
            SearchIndex(tmp_path / "ix").open()
        with SearchIndex(tmp_path / "ix").open(owner=False) as reader:
            assert ids(reader.search("spin")) == ["2402.09999"]
            with pytest.raises(SearchError, match="not opened for writing"):
                reader.reindex(filled_db)


def test_a_reader_before_any_build_says_so(tmp_path: Path) -> None:
    with SearchIndex(tmp_path / "none").open(owner=False) as reader:
        result = reader.search("graph")
        assert result.error
        assert "not been built" in result.error


def test_parallel_rebuild_matches_serial(
    tmp_path: Path, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search.index, "PARALLEL_FROM", 10)
    insert_papers(
        db,
        [
            {
                "id": f"2403.{i:05d}",
                "title": f"paper number{i} about graphs",
                "abstract": "text " * 5,
                "authors": ["K"],
                "categories": "cs.LG",
                "ann": [],
            }
            for i in range(300)
        ],
    )
    with SearchIndex(tmp_path / "ix", procs=2).open() as ix:
        assert ix.reindex(db) == 300
        assert ix.doc_count() == 300
        assert ids(ix.search("number123")) == ["2403.00123"]
        assert ix.check(db, repair=False).clean


def test_a_cancelled_rebuild_commits_nothing_and_refuses_more_work(
    tmp_path: Path, filled_db: Database
) -> None:
    """The daemon's stop cancels maintenance in the writer thread; the last generation stays usable."""
    with SearchIndex(tmp_path / "ix").open() as ix:
        ix.reindex(filled_db)
        before = ids(ix.search("graph"))
        insert_papers(filled_db, [{"id": "2403.00300", "title": "graph kittens", "abstract": "a graph",
                                   "authors": ["K"], "categories": "cs.LG", "ann": []}])
        with pytest.raises(SearchError, match="abandoned"):
            ix.reindex(filled_db, progress=lambda _n: ix.cancel())  # cancelled between segments
        assert ids(ix.search("graph")) == before  # the old generation, nothing half-written
        assert ix.doc_count() == len(PAPERS)
        with pytest.raises(SearchError, match="abandoned"):
            asyncio.run(ix.check_async(filled_db))


@pytest.mark.parametrize(
    ("error", "says", "rebuild"),
    [
        (OSError(5, "Input/output error"), "could not be read (OSError); the daemon rebuilds it", True),
        (ValueError("a bug"), "this search failed (ValueError)", False),
    ],
)
def test_only_read_errors_mean_the_index_needs_rebuilding(
    index: SearchIndex, monkeypatch: pytest.MonkeyPatch, error: Exception, says: str, rebuild: bool
) -> None:
    def fail(*_args: object, **_kwargs: object) -> None:
        raise error

    index.fast = False
    monkeypatch.setattr(index, "_whoosh", fail)
    result = index.search("graph")
    assert result.error is not None
    assert says in result.error
    assert index.needs_rebuild is rebuild


def test_a_failing_fast_path_falls_back_and_logs_its_traceback_once(
    index: SearchIndex, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Errors like Whoosh's internals moving (or a bug) are not hidden: one WARNING with the traceback."""
    def moved(*_args: object, **_kwargs: object) -> None:
        raise TypeError("'NoneType' object is not subscriptable")

    monkeypatch.setattr(search.dispatch, "fast_search", moved)
    caplog.set_level(logging.WARNING, logger="search")
    assert set(ids(index.search("image"))) == {"2403.00001", "2401.00005"}  # Whoosh's matchers answered
    assert set(ids(index.search("spin OR diffusion"))) == {"2402.09999", "2403.00002"}
    warnings = [r for r in caplog.records if r.name == "search.dispatch"]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert warnings[0].exc_info is not None
    assert "TypeError: 'NoneType' object is not subscriptable" in caplog.text
    assert "in moved" in caplog.text  # the traceback names where it was raised
    assert index._fast_broken


def test_a_count_agrees_with_its_noun_and_an_estimate_is_never_below_what_is_shown() -> None:
    result = SearchResult(query="q", page=2, pagelen=20, hits=[Hit(id=str(i), rank=21 + i) for i in range(5)])
    result.set_total(3, exact=False)  # an estimate below the 25 already shown
    assert (result.total, result.count_text) == (25, "about 25 results")
    result.set_total(1600, exact=True)
    assert result.count_text == "1,600 results"
    result.set_total(1, exact=True)
    assert result.count_text == "1 result"
