"""The index schema: what is searchable, how each field weighs, and what is stored.

Only ``id`` is stored; titles and abstracts live in the database and are read
from there for display and highlighting, which keeps the index small and the
database the one source of truth. Dates are sortable columns so "newest first"
needs no stored field. Bump :data:`SCHEMA_VERSION` whenever anything here
changes: an index written with another version is rebuilt on open.
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
    "category_terms",
    "make_schema",
    "paper_document",
]

SCHEMA_VERSION = 3  # 2: segments written by search.whoosh_internals.FastCodec; 3: ø, ł, đ, æ, œ fold

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
        **text_fields,
    )


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
) -> dict[str, Any]:
    """The fields Whoosh gets for one paper (a plain dict, so it pickles to index workers)."""
    doc: dict[str, Any] = {
        "id": id,
        "title": title or "",
        "abstract": abstract or "",
        "authors": authors if isinstance(authors, str) else ", ".join(authors or ()),
        "categories": category_terms(categories or ""),
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
