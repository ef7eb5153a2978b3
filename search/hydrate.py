"""From ranked document numbers to :class:`~search.results.Hit` objects, and filling them from the database.

The index stores only ids (and date columns); titles, authors and abstracts
are read from the database for the page being shown, then highlighted with
the query's matchers (:mod:`search.highlight`).
"""

from __future__ import annotations

import datetime as dt

from whoosh.reading import IndexReader

from search.documents import paper_texts
from search.highlight import TermMatcher, highlight, highlight_both
from search.ports import PaperReader
from search.results import Hit

__all__ = ["fill_hits", "make_hits"]


def make_hits(reader: IndexReader, docnums: list[int], scores: list[float | None], start: int) -> list[Hit]:
    """Hits ranked ``start + 1``, … for ``docnums[start:]``: id and announce date from the index."""
    announced = reader.column_reader("announced") if reader.has_column("announced") else None
    hits = []
    for rank, (docnum, score) in enumerate(zip(docnums[start:], scores[start:], strict=True), start + 1):
        ann = announced[docnum] if announced is not None else None
        hits.append(
            Hit(
                id=reader.stored_fields(docnum)["id"],  # what Searcher copies from its reader
                rank=rank,
                score=round(float(score), 4) if score is not None else None,
                announced=ann.date() if isinstance(ann, dt.datetime) else None,
            )
        )
    return hits


def fill_hits(hits: list[Hit], matchers: dict[str, TermMatcher], db: PaperReader) -> None:
    """Title, authors, abstract, categories from the database, highlighted; a hit not there stays bare."""
    rows = db.read_blocking(lambda s: paper_texts(s, [h.id for h in hits]))
    empty = TermMatcher()
    author_m = matchers.get("authors", empty)
    for hit in hits:
        row = rows.get(hit.id)
        if row is None:
            continue
        hit.in_database = True
        hit.title, hit.abstract = row.title, row.abstract
        hit.authors = list(row.authors or [])
        hit.categories = row.categories.split()
        hit.updated = row.updated
        hit.title_hl = highlight(row.title, matchers.get("title", empty))
        hit.abstract_hl, hit.snippet = highlight_both(row.abstract, matchers.get("abstract", empty))
        hit.authors_hl = [highlight(a, author_m) for a in hit.authors]
