"""From ranked document numbers to :class:`~search.results.Hit` objects, and filling in their text.

A hit's title, authors, abstract and categories come from the copy the index
stores with each paper (``hit`` in :mod:`search.schema`), so a page of hits
reads only the index's files; a document without that copy (written by an
older schema) is read from the database. The text is then highlighted with
the query's matchers (:mod:`search.highlight`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from whoosh.reading import IndexReader

from search.documents import paper_texts
from search.highlight import TermMatcher, highlight, highlight_both
from search.ports import PaperReader
from search.results import Hit
from search.schema import HitText
from search.stored import stored_fields_of

__all__ = ["fill_hits", "make_hits"]


def make_hits(
    reader: IndexReader, docnums: list[int], scores: list[float | None], start: int
) -> tuple[list[Hit], dict[str, HitText]]:
    """Hits ranked ``start + 1``, … for ``docnums[start:]`` (id and announce date from the index), and
    the text the index stores for them, by id."""
    announced = reader.column_reader("announced") if reader.has_column("announced") else None
    stored_fields = stored_fields_of(reader)  # shared by every thread's searcher (search/stored.py)
    hits = []
    texts: dict[str, HitText] = {}
    for rank, (docnum, score) in enumerate(zip(docnums[start:], scores[start:], strict=True), start + 1):
        ann = announced[docnum] if announced is not None else None
        stored = stored_fields(docnum)
        hits.append(
            Hit(
                id=stored["id"],
                rank=rank,
                score=round(float(score), 4) if score is not None else None,
                announced=ann.date() if isinstance(ann, dt.datetime) else None,
            )
        )
        text = _hit_text(stored.get("hit"))
        if text is not None:
            texts[stored["id"]] = text
    return hits, texts


def _hit_text(value: Any) -> HitText | None:
    if isinstance(value, tuple) and len(value) == 5:
        return value  # written by schema.paper_document
    return None


def fill_hits(
    hits: list[Hit],
    matchers: dict[str, TermMatcher],
    db: PaperReader,
    texts: dict[str, HitText] | None = None,
) -> None:
    """Title, authors, abstract, categories from ``texts`` or else the database, highlighted; a hit in
    neither stays bare."""
    texts = dict(texts or {})
    missing = [h.id for h in hits if h.id not in texts]
    if missing:
        rows = db.read_blocking(lambda s: paper_texts(s, missing))
        for pid, row in rows.items():
            texts[pid] = (row.title, row.abstract, tuple(row.authors or ()), row.categories, row.updated)
    empty = TermMatcher()
    author_m = matchers.get("authors", empty)
    for hit in hits:
        text = texts.get(hit.id)
        if text is None:
            continue
        title, abstract, authors, categories, updated = text
        hit.in_database = True
        hit.title, hit.abstract = title, abstract
        hit.authors = list(authors)
        hit.categories = categories.split()
        hit.updated = updated
        hit.title_hl = highlight(title, matchers.get("title", empty))
        hit.abstract_hl, hit.snippet = highlight_both(abstract, matchers.get("abstract", empty))
        hit.authors_hl = [highlight(a, author_m) for a in hit.authors]
