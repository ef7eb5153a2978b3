"""A page of hits reads its text from the index's stored copy, not from the database's rows.

At 2.7 million papers the rows of 20 hits lay wherever the database had put them on disk, and
reading them was most of a first query's time; the index stores each paper's title, abstract,
authors, categories and updated date (``hit``) instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import update
from sqlalchemy.orm import Session
from whoosh import index as windex
from whoosh.columns import VarBytesColumn

from core.database import Database
from feeds.models import Paper
from search import stored
from search.analysis import fold, stem
from search.highlight import TermMatcher
from search.hydrate import fill_hits
from search.index import SearchIndex
from search.lifecycle import INDEX_NAME
from search.results import Hit
from search.schema import paper_document

T = TypeVar("T")


class CountingReader:
    """The database, counting the reads made through it."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.reads = 0

    @property
    def url(self) -> str:
        return self.db.url

    def read_blocking(self, fn: Callable[[Session], T]) -> T:
        self.reads += 1
        return self.db.read_blocking(fn)

    async def read(self, fn: Callable[[Session], T]) -> T:
        self.reads += 1
        return await self.db.read(fn)


def _rows(db: Database) -> dict[str, Any]:
    return db.read_blocking(
        lambda s: {r.id: r for r in s.execute(Paper.__table__.select())}  # type: ignore[attr-defined]
    )


def test_hits_carry_the_databases_text_without_reading_it(index: SearchIndex, filled_db: Database) -> None:
    reader = CountingReader(filled_db)
    result = index.search("images OR language OR graph", db=reader)
    assert len(result.hits) >= 2
    assert reader.reads == 0
    rows = _rows(filled_db)
    for hit in result.hits:
        row = rows[hit.id]
        assert hit.in_database
        assert (hit.title, hit.abstract) == (row.title, row.abstract)
        assert hit.authors == list(row.authors)
        assert hit.categories == row.categories.split()
        assert hit.updated is not None
        assert hit.updated.replace(tzinfo=None) == row.updated.replace(tzinfo=None)
        assert hit.title_hl or hit.abstract_hl


async def test_an_updated_paper_shows_its_new_text_from_the_index(
    index: SearchIndex, filled_db: Database
) -> None:
    pid = index.search("images", db=filled_db).hits[0].id
    later = dt.datetime(2024, 4, 2, 9, tzinfo=dt.UTC)
    filled_db.write_blocking(
        lambda s: s.execute(
            update(Paper).where(Paper.id == pid).values(title="Images of wombats, revised", updated=later)
        )
    )
    assert await index.update(filled_db, [pid])
    reader = CountingReader(filled_db)
    hit = next(h for h in index.search("wombats", db=reader).hits if h.id == pid)
    assert reader.reads == 0
    assert hit.title == "Images of wombats, revised"
    assert hit.updated is not None
    assert hit.updated.replace(tzinfo=None) == later.replace(tzinfo=None)


def test_hits_without_a_stored_copy_are_read_from_the_database_in_one_query(filled_db: Database) -> None:
    rows = _rows(filled_db)
    known, missing = sorted(rows)[:2]
    hits = [Hit(id=known, rank=1), Hit(id=missing, rank=2), Hit(id="9999.99999", rank=3)]
    stored = ("A stored title", "A stored abstract", ("A. Author",), "cs.LG cs.AI", None)
    reader = CountingReader(filled_db)
    fill_hits(hits, {"title": TermMatcher(stems={"store"})}, reader, {known: stored})
    assert reader.reads == 1
    assert (hits[0].title, hits[0].authors, hits[0].categories) == (
        "A stored title",
        ["A. Author"],
        ["cs.LG", "cs.AI"],
    )
    assert ("stored", True) in hits[0].title_hl
    assert hits[1].title == rows[missing].title
    assert hits[1].in_database
    assert not hits[2].in_database
    assert hits[2].title == ""


def test_the_stored_copy_is_deflate_level_0_and_read_by_stock_whoosh(
    index: SearchIndex, filled_db: Database
) -> None:
    """Level 0 costs a tenth of Whoosh's level 3 at build time; any W3 reader still inflates it."""
    rows = _rows(filled_db)
    stock = windex.open_dir(str(index.whoosh_dir), indexname=INDEX_NAME)
    seen = set()
    with stock.searcher() as s:
        for sub, _offset in s.leaf_searchers():
            reader = sub.reader()
            raw = reader._perdoc.column_reader("_stored", VarBytesColumn())
            for docnum in range(reader.doc_count_all()):
                if reader.is_deleted(docnum):
                    continue
                assert raw[docnum][:2] == b"\x78\x01"  # zlib's header for levels 0 and 1
                stored = reader.stored_fields(docnum)
                title, abstract, authors, categories, _updated = stored["hit"]
                row = rows[stored["id"]]
                assert (title, abstract, list(authors), categories) == (
                    row.title,
                    row.abstract,
                    list(row.authors),
                    row.categories,
                )
                seen.add(stored["id"])
    assert seen == set(rows)


_WORDS = st.text(alphabet="abcdeilnorsty", min_size=1, max_size=9)


@settings(max_examples=400, deadline=None)
@given(words=st.lists(_WORDS, min_size=1, max_size=30), picks=st.lists(st.integers(0, 29), max_size=4))
def test_the_stem_prefilter_marks_exactly_what_stemming_every_word_marks(
    words: list[str], picks: list[int]
) -> None:
    """Letters that Porter's suffix rules rewrite (``y`` → ``i``, ``e``, doubled ``s``, ``ies``) are
    over-represented, so the words that stem across their second letter are generated often."""
    stems = {stem(words[i % len(words)]) for i in picks} | {"ai", "i"}
    matcher = TermMatcher(stems=set(stems))
    for word in [*words, "ays", "ayed", "ies", "eys"]:
        folded = fold(word)
        expected = len(folded) >= 2 and (folded in stems or stem(folded) in stems)
        assert matcher.matches(word) == expected, word


@pytest.fixture
def offsets_always(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whoosh writes a column's offset table only above 32,768 documents: from 3 here, so the small
    test index takes the shared-column path of search/stored.py."""
    init = VarBytesColumn.Writer.__init__

    def small_cutoff(self: Any, dbfile: Any, allow_offsets: bool = True, cutoff: int = 2**15) -> None:
        init(self, dbfile, allow_offsets, 2)

    monkeypatch.setattr(VarBytesColumn.Writer, "__init__", small_cutoff)


def test_shared_stored_columns_read_what_whoosh_reads(
    tmp_path: Path, filled_db: Database, offsets_always: None
) -> None:
    with SearchIndex(tmp_path / "index", procs=1).open() as built:
        built.reindex(filled_db)
        folder = built.whoosh_dir
    w = windex.open_dir(str(folder), indexname=INDEX_NAME).writer()  # stock: a compound segment
    w.add_document(**paper_document(id="2405.00001", title="A compound one", abstract="x",
                                    authors=["B. C."], categories="cs.LG", announced=None, updated=None))
    w.commit(merge=False)
    with SearchIndex(tmp_path / "index").open(owner=False) as ix:
        reader = ix._searcher().reader()
        leaves = [sub for sub, _ in reader.leaf_readers()]
        shared = [stored._column(sub) is not None for sub in leaves]
        assert shared.count(False) == 1  # the compound segment is read by Whoosh
        assert shared.count(True) >= 1
        get = stored.stored_fields_of(reader)
        live = [d for d in range(reader.doc_count_all()) if not reader.is_deleted(d)]
        for docnum in live:
            assert get(docnum) == reader.stored_fields(docnum)
        assert {get(d)["id"] for d in live} == {*_rows(filled_db), "2405.00001"}
