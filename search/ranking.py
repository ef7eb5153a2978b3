"""Whoosh's own evaluation of a query: the top documents and the exact number of matches.

Whoosh's default top-N search (``Searcher.search(q, limit=N)``) is fast
because it stops visiting documents that can no longer reach the top N (it
replaces a union of matchers by an intersection once one side cannot
contribute, and skips blocks by their maximum score). Its total is then
wrong in two ways, both seen on real queries (docs/search.md has the
reproductions):

* ``Results.has_exact_length()`` is decided by the *last* segment's final
  matcher alone. When it says True, ``len(results)`` counts only the
  documents visited: ``abs:quar*`` or a phrase OR a word within a date range
  gave a fraction of the total that sorting by date (which visits every
  match) reports.
* When it says False, ``estimated_min_length()`` is the smallest of the
  sub-queries' estimates, not a lower bound of the total (an OR of words is
  estimated at its rarest word), and raises ``ValueError: min() arg is an
  empty sequence`` for a prefix that matches no word in one of the fields
  (``transform*`` over title, abstract and authors) and for date ranges.

So relevance ranking here collects every match (``limit=None``: Whoosh's
``UnlimitedCollector``, which scores all matches and never prunes) and the
total is the number collected; sorting by date already visits every match.
On 40,000 papers this costs no more than the pruned search plus the recount
``len(results)`` needs. Nothing here asks Whoosh for an estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

from whoosh import query as wq
from whoosh.searching import Searcher

from search.filters import Filters

__all__ = ["Ranked", "whoosh_rank"]


@dataclass
class Ranked:
    """The top documents of a query (top-level docnums, best first) and how many matched in all."""

    total: int
    docnums: list[int]
    scores: list[float | None]


def whoosh_rank(s: Searcher, q: wq.Query, limit: int, filters: Filters, sort_new: bool) -> Ranked:
    """The top ``limit`` of ``q`` by Whoosh's matchers, newest first or by score; the total is exact."""
    if sort_new:
        found = s.search(
            q, limit=limit, filter=filters.allow, mask=filters.mask, terms=False,
            sortedby="announced", reverse=True,
        )
    else:
        found = s.search(q, limit=None, filter=filters.allow, mask=filters.mask, terms=False)
    # both collectors (SortingCollector, UnlimitedCollector) keep the set of every match
    total = len(found.docs())
    top = found.top_n[:limit]
    # a sorted search's "score" is its sort key (the date's ticks), not a relevance: say none
    scores: list[float | None] = [None if sort_new else score for score, _docnum in top]
    return Ranked(total, [docnum for _score, docnum in top], scores)
