"""Which evaluator runs a query: the NumPy fast path (:mod:`search.fastscore`) where it applies.

:class:`FastPath` is the one place the index calls :func:`search.fastscore.fast_search`.
It returns None where the fast path does not apply (phrases, prefixes,
wildcards: ``Unsupported``), and the caller then uses Whoosh's matchers
(:func:`search.ranking.whoosh_rank`).

Errors of the kinds that Whoosh internals changing under the fast path would
raise (AttributeError, TypeError, ValueError, IndexError) also fall back to
Whoosh, but they may as well be a bug in the fast path: the first is logged
at WARNING with its traceback, and :attr:`FastPath.broken` stays set.
"""

from __future__ import annotations

import logging

from whoosh import query as wq
from whoosh.searching import Searcher

from search.fastscore import Unsupported, fast_search
from search.filters import Filters
from search.ranking import Ranked

__all__ = ["FALLBACK_ERRORS", "FastPath"]

_LOGGER = logging.getLogger(__name__)
FALLBACK_ERRORS: tuple[type[Exception], ...] = (AttributeError, TypeError, ValueError, IndexError)


class FastPath:
    """The fast path's dispatch and its health: ``broken`` once it has failed (logged once)."""

    def __init__(self) -> None:
        self.broken = False

    def rank(self, s: Searcher, q: wq.Query, limit: int, filters: Filters, sort_new: bool) -> Ranked | None:
        """The top ``limit`` with the exact total, or None: use Whoosh's matchers for this query."""
        try:
            got = fast_search(
                s, q, limit=limit, filter_q=filters.allow, mask_q=filters.mask, sort_new=sort_new
            )
        except Unsupported:
            return None
        except FALLBACK_ERRORS as exc:
            if not self.broken:
                _LOGGER.warning(
                    "fast scoring failed (%s: %s) on %r; Whoosh's matchers answer instead, here and "
                    "whenever it fails again (not logged again): Whoosh's internals changed, or "
                    "search.fastscore has a bug",
                    type(exc).__name__,
                    exc,
                    q,
                    exc_info=True,
                )
            self.broken = True
            return None
        return Ranked(got.total, list(got.docnums), list(got.scores))
