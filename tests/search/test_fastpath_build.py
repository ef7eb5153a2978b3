"""The bulk rebuild writes the index an ordinary Whoosh writer would, plus side files that agree with it.

Built from a real SQLite database on a real Whoosh index on disk: the same
papers once through ``build_segments`` (bulk writer, replaced pool, side-file
codec) and once through a stock ``ix.writer()``; everything stock Whoosh can
read from the two must be equal, document by document (docnums may differ).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from search_data import insert_papers
from whoosh import query as wq
from whoosh.filedb.filestore import FileStorage
from whoosh.index import Index

from core.database import Database
from search import build as build_mod
from search import fastscore
from search import whoosh_internals as wi
from search.build import build_segments, id_ranges
from search.documents import iter_documents, sorted_ids
from search.schema import make_schema

WORDS = "graph neural network image model quantum spin field energy data schrödinger naïve".split()


@pytest.fixture
def papers_db(db: Database) -> Database:
    rng = random.Random(3)
    papers = []
    for i in range(260):
        papers.append(
            {
                "id": f"2401.{i:05d}",
                "title": " ".join(rng.choices(WORDS, k=rng.randint(1, 7))),
                "abstract": " ".join(rng.choices(WORDS, k=rng.randint(0, 80))),
                "authors": rng.sample(["Ana Müller", "Bo Li", "Chen Wu", "Dana Fox"], rng.randint(1, 3)),
                "categories": rng.choice(["cs.LG", "cs.CV cs.LG", "quant-ph"]),
                "when": dt.datetime(2020, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=37 * i),
                "ann": [],
            }
        )
    insert_papers(db, papers)
    return db


def _new_index(path: Path) -> Index:
    path.mkdir()
    return FileStorage(str(path)).create_index(make_schema(), indexname="papers")


def _bulk(path: Path, db: Database, parts: int = 3) -> Index:
    ix = _new_index(path)
    ids = db.read_blocking(sorted_ids)
    assert build_segments(ix, str(path), "papers", db.url, id_ranges(ids, parts), 1) == len(ids)
    return ix


def _ordinary(path: Path, db: Database) -> Index:
    ix = _new_index(path)
    ids = db.read_blocking(sorted_ids)
    with ix.writer() as w:
        db.read_blocking(lambda s: [w.add_document(**d) for d in iter_documents(s, ids[0], ids[-1])])
    return ix


def _contents(ix: Index) -> dict[str, Any]:
    """Everything stock Whoosh reads, keyed by paper id."""
    out: dict[str, Any] = {}
    with ix.searcher() as s:
        r = s.reader()
        ids = {d: stored["id"] for d, stored in r.iter_docs()}
        out["stored"] = sorted(stored.items() for _d, stored in r.iter_docs())
        for name in r.schema.names():
            field = r.schema[name]
            if field.scorable:
                out[f"{name} length"] = {ids[d]: r.doc_field_length(d, name) for d in ids}
                out[f"{name} total length"] = r.field_length(name)
            if field.column_type is not None:
                col = r.column_reader(name)
                out[f"{name} column"] = {ids[d]: col[d] for d in ids}
            for btext in r.lexicon(name) if field.indexed else ():
                m = r.postings(name, btext)
                postings = []
                while m.is_active():
                    postings.append((ids[m.id()], m.weight(), m.value()))
                    m.next()
                out[f"{name}:{btext!r}"] = (r.doc_frequency(name, btext), sorted(postings))
    return out


def test_the_bulk_writers_index_equals_an_ordinary_writers(tmp_path: Path, papers_db: Database) -> None:
    bulk = _bulk(tmp_path / "bulk", papers_db)
    plain = _ordinary(tmp_path / "plain", papers_db)
    with bulk.searcher() as s:
        assert len(s.leaf_searchers()) == 3
    got, want = _contents(bulk), _contents(plain)
    assert got.keys() == want.keys()
    for key in want:
        assert got[key] == want[key], key
    assert any(isinstance(v, tuple) and v[0] > 128 for v in want.values())  # several blocks per list


def test_the_side_files_hold_what_whoosh_decodes(tmp_path: Path, papers_db: Database) -> None:
    ix = _bulk(tmp_path / "bulk", papers_db)
    with ix.searcher() as s:
        for sub, _offset in s.leaf_searchers():
            r = sub.reader()
            arrays = wi.segment_arrays(r)
            assert arrays is not None
            for name in ("title", "abstract", "authors", "categories", "id"):
                terms = list(arrays.terms(name))
                assert [t for t, _n in terms] == list(r.lexicon(name))
                for btext, n in terms:
                    docs, weights = arrays.postings(name, btext)
                    m = r.postings(name, btext)
                    want = []
                    while m.is_active():
                        want.append((m.id(), m.weight()))
                        m.next()
                    assert list(zip(docs.tolist(), weights.tolist(), strict=True)) == want
                    assert n == len(want) == r.doc_frequency(name, btext)
            for name in ("title", "abstract", "authors"):
                lb = arrays.length_bytes(name)
                assert lb is not None
                assert wi.LENGTH_TABLE[lb].tolist() == [
                    r.doc_field_length(d, name) or 0 for d in range(r.doc_count_all())
                ]
            values, present = arrays.column("announced")
            col = r.column_reader("announced", translate=False)
            assert present.all()
            assert values.tolist() == [col[d] for d in range(r.doc_count_all())]


def test_side_files_go_with_their_segments(tmp_path: Path, papers_db: Database) -> None:
    ix = _bulk(tmp_path / "bulk", papers_db)
    first = {p.name for p in (tmp_path / "bulk").glob("*.fp?")}
    assert len(first) == 6  # two per segment
    with ix.writer(codec=wi.FastCodec()) as w:
        w.optimize = True  # merged into one new segment, written by the codec: its own side files
    left = {p.name for p in (tmp_path / "bulk").glob("*.fp?")}
    assert len(left) == 2
    assert not left & first
    # a rebuild over it drops them too
    ids = papers_db.read_blocking(sorted_ids)
    build_segments(ix, str(tmp_path / "bulk"), "papers", papers_db.url, id_ranges(ids, 2), 1)
    after = {p.name for p in (tmp_path / "bulk").glob("*.fp?")}
    assert len(after) == 4
    assert not after & left


class _Cancelled(Exception):
    pass


@pytest.mark.parametrize("internals_ok", [True, False], ids=["bulk writer", "stock fallback"])
def test_a_progress_callback_that_raises_commits_nothing(
    tmp_path: Path, papers_db: Database, internals_ok: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    ix = _bulk(tmp_path / "ix", papers_db, parts=1)
    with ix.searcher() as s:
        before = sorted(stored["id"] for _d, stored in s.reader().iter_docs())
    if not internals_ok:
        monkeypatch.setattr(wi, "self_test", lambda *a, **k: wi.Verdict(ok=False, problems=["simulated"]))
    ids = papers_db.read_blocking(sorted_ids)
    seen: list[int] = []

    def progress(done: int) -> None:
        seen.append(done)
        if len(seen) == 2:
            raise _Cancelled

    with pytest.raises(_Cancelled):
        build_segments(ix, str(tmp_path / "ix"), "papers", papers_db.url, id_ranges(ids, 4), 1, progress)
    assert seen == [65, 130]
    ix = FileStorage(str(tmp_path / "ix")).open_index(indexname="papers")
    with ix.searcher() as s:
        assert sorted(stored["id"] for _d, stored in s.reader().iter_docs()) == before
    assert ix.writer(timeout=1.0).cancel() is None  # the lock was released


def test_with_internals_changed_the_rebuild_uses_whooshs_own_writer(
    tmp_path: Path, papers_db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(wi, "self_test", lambda *a, **k: wi.Verdict(ok=False, problems=["simulated"]))
    bulk_calls: list[Any] = []
    monkeypatch.setattr(build_mod, "build_part", lambda *a: bulk_calls.append(a))
    with caplog.at_level(logging.WARNING, logger="search.build"):
        ix = _bulk(tmp_path / "stock", papers_db)
    assert bulk_calls == []
    assert "Whoosh's own writer" in caplog.text
    assert "simulated" in caplog.text
    assert _contents(ix) == _contents(_ordinary(tmp_path / "plain", papers_db))
    with ix.searcher() as s:
        assert all(wi.segment_arrays(sub.reader()) is None for sub, _ in s.leaf_searchers())
        with pytest.raises(fastscore.Unsupported, match="internals changed"):
            fastscore.fast_search(s, wq.Term("abstract", "graph"), limit=5)


def test_side_file_arrays_are_read_only(tmp_path: Path, papers_db: Database) -> None:
    """A posting list is read into a buffer of its own (never mapped into the process), read-only."""
    ix = _bulk(tmp_path / "bulk", papers_db, parts=1)
    with ix.searcher() as s:
        arrays = wi.segment_arrays(s.leaf_searchers()[0][0].reader())
        assert arrays is not None
        docs, weights = arrays.postings("abstract", b"graph")
        assert not docs.flags.writeable
        assert not docs.flags.owndata
        assert docs.flags.aligned
        assert weights.flags.aligned
        with pytest.raises(ValueError, match="read-only"):
            docs[0] = np.int32(1)
