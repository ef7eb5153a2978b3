"""The index schema: what is searchable, how each field weighs, and what is stored.

``id`` is stored, and ``hit``: what a result shows (title, abstract, authors,
categories, the paper's updated date), so a page of hits is read from the
index's own files and not from wherever the database's rows lie on disk (at
2.7 million papers that read was most of a first query's time). The database
stays the source of truth: the index stores a copy of each paper as indexed.
Dates are sortable columns so "newest first" needs no stored field. Bump
:data:`SCHEMA_VERSION` whenever anything here changes: an index written with
another version is rebuilt on open.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from whoosh import fields

from search.analysis import FastPositions, PaperAnalyzer

__all__ = [
    "ALIASES",
    "DATE_FIELDS",
    "FIELD_BOOSTS",
    "SCHEMA_VERSION",
    "TEXT_FIELDS",
    "HitText",
    "category_terms",
    "make_schema",
    "paper_document",
]

#: 2: segments by search.whoosh_internals.FastCodec; 3: ø, ł, đ, æ, œ fold; 4: ``hit`` stored
SCHEMA_VERSION = 4

#: Field boosts for BM25F: a hit in the title says more than one in the abstract.
FIELD_BOOSTS = {"title": 3.0, "abstract": 1.0, "authors": 2.0}
TEXT_FIELDS = tuple(FIELD_BOOSTS)
DATE_FIELDS = ("announced", "updated")

#: Query prefixes (arXiv's own where it has one) mapped to schema fields.
ALIASES = {
    "ti": "title",
    "title": "title",
    "abs": "abstract",
    "abstract": "abstract",
    "au": "authors",
    "author": "authors",
    "authors": "authors",
    "cat": "categories",
    "category": "categories",
    "categories": "categories",
    "id": "id",
    "date": "announced",
    "announced": "announced",
    "updated": "updated",
}


def make_schema() -> fields.Schema:
    analyzer = PaperAnalyzer()
    text_fields: dict[str, fields.TEXT] = {}
    for name, boost in FIELD_BOOSTS.items():
        field = fields.TEXT(analyzer=analyzer, phrase=True, field_boost=boost)
        field.format = FastPositions(field_boost=boost)
        text_fields[name] = field
    return fields.Schema(
        id=fields.ID(stored=True, unique=True),
        categories=fields.KEYWORD(lowercase=True, scorable=False),
        announced=fields.DATETIME(sortable=True),
        updated=fields.DATETIME(sortable=True),
        hit=fields.STORED(),
        **text_fields,
    )


#: The stored ``hit``: title, abstract, authors, categories (arXiv's, space-separated), updated or None.
HitText = tuple[str, str, tuple[str, ...], str, dt.datetime | None]


def category_terms(categories: str) -> str:
    """Index form of arXiv's space-separated categories: each one plus its archive (``cs``)."""
    terms: list[str] = []
    for cat in categories.split():
        cat = cat.lower()
        if cat not in terms:
            terms.append(cat)
        archive = cat.split(".", 1)[0]
        if archive != cat and archive not in terms:
            terms.append(archive)
    return " ".join(terms)


def _as_datetime(value: dt.date | dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return (
            value.replace(tzinfo=None)
            if value.tzinfo is None
            else value.astimezone(dt.UTC).replace(tzinfo=None)
        )
    return dt.datetime(value.year, value.month, value.day)


def paper_document(
    *,
    id: str,
    title: str,
    abstract: str,
    authors: list[str] | str,
    categories: str,
    announced: dt.date | dt.datetime | None,
    updated: dt.date | dt.datetime | None,
    revised: dt.datetime | None = None,
) -> dict[str, Any]:
    """The fields Whoosh gets for one paper (a plain dict, so it pickles to index workers).

    ``updated`` orders "newest first" (the caller passes the submission date when there is no
    update); ``revised`` is the paper's own updated date, shown on its hit.
    """
    names = tuple(authors.split(", ")) if isinstance(authors, str) and authors else tuple(authors or ())
    hit: HitText = (title or "", abstract or "", names, categories or "", revised)
    doc: dict[str, Any] = {
        "id": id,
        "title": title or "",
        "abstract": abstract or "",
        "authors": authors if isinstance(authors, str) else ", ".join(authors or ()),
        "categories": category_terms(categories or ""),
        "hit": hit,
    }
    ann = _as_datetime(announced)
    upd = _as_datetime(updated)
    if ann is None:
        ann = upd
    if ann is not None:
        doc["announced"] = ann
    if upd is not None:
        doc["updated"] = upd
    return doc
