"""What search needs of the paper database, and what the pages need of the index, as Protocols.

Search depends on these rather than on a concrete class: the index reads
(:class:`PaperReader`), the pages also star papers (:class:`PaperDatabase`;
``core.database.Database`` satisfies both). Every call runs ``fn(session)``
with a SQLAlchemy ``Session`` and returns what ``fn`` returns; ``write`` runs
it as one transaction. The pages search through :class:`PaperSearch`: the
daemon's own ``SearchIndex``, or a ``ReplicaIndex`` in ``coolstove web``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

from sqlalchemy.orm import Session

from search.results import SearchResult

__all__ = ["PaperDatabase", "PaperReader", "PaperSearch"]

T = TypeVar("T")


class PaperReader(Protocol):
    """Reading the papers: the index's updates, checks, rebuilds and the hits' text."""

    @property
    def url(self) -> str:
        """The database URL (a rebuild's worker processes open their own connection with it)."""
        ...

    def read_blocking(self, fn: Callable[[Session], T]) -> T:
        """``fn(session)`` in the calling thread."""
        ...

    async def read(self, fn: Callable[[Session], T]) -> T:
        """``fn(session)`` in a worker thread."""
        ...


class PaperDatabase(PaperReader, Protocol):
    """Reading and starring papers: what the paper pages use."""

    async def write(self, fn: Callable[[Session], T]) -> T:
        """``fn(session)`` as one transaction in the database's writer thread."""
        ...


class PaperSearch(Protocol):
    """Searching the index: what the paper pages use. Neither method raises on user input."""

    max_results: int

    def search(
        self,
        query: str,
        *,
        categories: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        since: dt.date | None = None,
        until: dt.date | None = None,
        sort: str = "relevance",
        page: int = 1,
        pagelen: int = 20,
        db: PaperReader | None = None,
    ) -> SearchResult:
        """A page of hits for a user query, or an empty result whose ``error`` says why."""
        ...

    def related(
        self, paper_id: str, limit: int = 10, *, db: PaperReader | None = None, page: int = 1
    ) -> SearchResult:
        """Papers like this one (its key terms as an OR query)."""
        ...
