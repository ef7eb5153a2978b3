"""What a search asks for besides its query: category and date filters, the excluded categories, paging.

The query text is checked and parsed in :mod:`search.query`; these are the
options around it (the CLI's ``--cat --since --until --sort --page``, the
search page's form), turned into the Whoosh ``filter`` and ``mask`` queries
both evaluators take, or refused with a :class:`~search.query.QueryError`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from whoosh import query as wq

from search.query import QueryError, date_filter

__all__ = ["SORTS", "Filters", "check_paging", "make_filters"]

SORTS = ("relevance", "new")
MAX_PAGELEN = 200


@dataclass(frozen=True)
class Filters:
    """``allow``: documents must match it (None: all); ``mask``: documents matching it are dropped."""

    allow: wq.Query | None = None
    mask: wq.Query | None = None


def check_paging(page: int, pagelen: int, sort: str, max_results: int) -> None:
    if sort not in SORTS:
        raise QueryError("sort must be 'relevance' or 'new'")
    if not 1 <= pagelen <= MAX_PAGELEN:
        raise QueryError(f"page length must be between 1 and {MAX_PAGELEN}")
    if page < 1:
        raise QueryError("pages are numbered from 1")
    if page * pagelen > max_results:
        raise QueryError(f"results stop at {max_results}; narrow the query or add filters")


def make_filters(
    categories: Iterable[str] | None,
    exclude: Iterable[str] | None,
    since: dt.date | None,
    until: dt.date | None,
) -> Filters:
    """Any of ``categories``, announced ``since``..``until`` (inclusive), none of ``exclude``."""
    if since and until and since > until:
        raise QueryError("the start date is after the end date")
    allow: list[wq.Query] = []
    cats = [c.lower() for c in categories or () if c]
    if cats:
        allow.append(wq.Or([wq.Term("categories", c) for c in cats]))
    dates = date_filter("announced", since, until)
    if dates is not None:
        allow.append(dates)
    excl = [c.lower() for c in exclude or () if c]
    return Filters(
        allow=wq.And(allow) if len(allow) > 1 else (allow[0] if allow else None),
        mask=wq.Or([wq.Term("categories", c) for c in excl]) if excl else None,
    )
