"""What search needs of the paper database, and what the pages need of the index, as Protocols.

Search depends on these rather than on a concrete class: the index reads
(:class:`PaperReader`), the pages also star papers (:class:`PaperDatabase`;
``core.database.Database`` satisfies both). Every call runs ``fn(session)``
with a SQLAlchemy ``Session`` and returns what ``fn`` returns; ``write`` runs
it as one transaction. The pages search through :class:`PaperSearch`: the
daemon's own ``SearchIndex``, or a ``ReplicaIndex`` in ``coolstove web``. The [FAQ] button talks to
a :class:`FaqService` (the daemon's ``feeds.faq.FaqEngine`` when ``[llm]`` is on).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Protocol, TypeVar

from sqlalchemy.orm import Session

from search.results import SearchResult

__all__ = ["FaqService", "FaqState", "PaperDatabase", "PaperReader", "PaperSearch"]

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


class FaqState(Protocol):
    """One paper's FAQ in one language as a reader sees it."""

    @property
    def paper_id(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def language(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def status(self) -> str:
        """none | queued | running | done | error"""
        ...
    @property
    def position(self) -> int | None:
        """Place in the queue, 1 = next (queued only)."""
        ...
    @property
    def text(self) -> str:
        """The model's Markdown so far (untrusted)."""
        ...
    @property
    def note(self) -> str | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def detail(self) -> str | None: ...


class FaqService(Protocol):
    """The FAQ per paper from a language model. Every method raises ``InputError`` for a malformed id,
    an unknown language or a paper not in the database; :meth:`request` also when the queue is full."""

    languages: tuple[str, ...]

    async def status(self, paper_id: str, language: str) -> FaqState: ...

    async def request(self, paper_id: str, language: str) -> FaqState:
        """Queue the FAQ unless it exists or is under way."""
        ...

    def watch(self, paper_id: str, language: str) -> AsyncIterator[FaqState]:
        """Each new state until it is done or failed; the generation goes on if the reader leaves."""
        ...
