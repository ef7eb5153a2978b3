"""What a search returns: plain data, no Whoosh objects, safe to hand to any thread or template.

Highlighted text is a list of ``(text, matched)`` segments rather than HTML, so
every consumer escapes it its own way (Jinja autoescape, ANSI bold, JSON) and
no markup from the index ever reaches a page unescaped.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Hit", "SearchResult", "Segments", "count_of", "plain"]

Segments = list[tuple[str, bool]]


def plain(segments: Segments) -> str:
    return "".join(text for text, _ in segments)


def count_of(n: int, noun: str, plural: str | None = None) -> str:
    """``1 result``, ``2 results``, ``1,600 results``: a count and its noun, agreeing."""
    return f"{n:,} {noun if n == 1 else (plural or noun + 's')}"


@dataclass
class Hit:
    """One matching paper; the text fields are filled from the database when one was given."""

    id: str
    rank: int
    score: float | None = None
    announced: dt.date | None = None
    title: str = ""
    abstract: str = ""
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    updated: dt.datetime | None = None
    title_hl: Segments = field(default_factory=list)
    snippet: Segments = field(default_factory=list)
    abstract_hl: Segments = field(default_factory=list)
    authors_hl: list[Segments] = field(default_factory=list)
    in_database: bool = False  # its text is known: stored in the index, or read from the database
    starred: bool = False
    because: list[str] = field(default_factory=list)  # For you: the words it shares with the stars


@dataclass
class SearchResult:
    """A page of hits, or an empty page and a message saying what was wrong with the query."""

    query: str
    hits: list[Hit] = field(default_factory=list)
    total: int = 0
    total_exact: bool = True
    page: int = 1
    pagelen: int = 20
    sort: str = "relevance"
    error: str | None = None
    terms: list[str] = field(default_factory=list)  # what was searched for, for display
    capped: bool = False  # total is larger than the deepest page we serve

    @property
    def ok(self) -> bool:
        return self.error is None

    def set_total(self, total: int, *, exact: bool) -> None:
        """Record how many matched; an estimate is never below the hits already shown up to this page."""
        shown = (self.page - 1) * self.pagelen + len(self.hits)
        self.total, self.total_exact = (total, True) if exact else (max(total, shown), False)

    @property
    def count_text(self) -> str:
        """``1 result``, ``37 results``, ``about 1,600 results`` (only an estimate says "about")."""
        return ("" if self.total_exact else "about ") + count_of(self.total, "result")

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.pagelen)) if self.total else 0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for hit in data["hits"]:
            for key in ("announced", "updated"):
                if hit[key] is not None:
                    hit[key] = hit[key].isoformat()
            for key in ("title_hl", "snippet", "abstract_hl"):
                hit[key] = [[text, matched] for text, matched in hit[key]]
            hit["authors_hl"] = [[[t, m] for t, m in segs] for segs in hit["authors_hl"]]
        data["pages"] = self.pages
        return data
