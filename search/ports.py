"""What search needs of the paper database, as Protocols (``core.database.Database`` satisfies both).

Search depends on these rather than on a concrete class: the index reads
(:class:`PaperReader`), the pages also star papers (:class:`PaperDatabase`).
Every call runs ``fn(session)`` with a SQLAlchemy ``Session`` and returns what
``fn`` returns; ``write`` runs it as one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from sqlalchemy.orm import Session

__all__ = ["PaperDatabase", "PaperReader"]

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
