"""Where the sync SQLAlchemy engine crosses into asyncio: one writer thread, reads in threads.

Used by both databases: the stove's (audit log) and the papers' (feeds, search).

Writes go through a single dedicated thread fed by a queue (datasette's
design), so SQLite never sees two writers and every write is one transaction:
``await db.write(fn)`` runs ``fn(session)`` inside ``session.begin()`` and
either all of it commits or none of it does. Reads open a fresh ``Session``
per call; WAL lets them run beside the writer. The same code runs on
PostgreSQL by changing the URL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.errors import StorageError
from core.writequeue import WriteQueue

__all__ = ["Database", "make_engine"]

_LOGGER = logging.getLogger(__name__)
T = TypeVar("T")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine with the pragmas coolstove relies on (WAL, foreign keys, busy timeout)."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"))
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


class Database(WriteQueue[Session]):
    """One database: a writer thread with a queue (:class:`~core.writequeue.WriteQueue`), and
    short-lived read sessions."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    # ------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Finish queued writes, stop the writer, dispose the pool. Idempotent."""
        if self._stop_writer():
            self.engine.dispose()

    def __enter__(self) -> Database:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ writes (in WriteQueue's thread)
    def _run_write(self, fn: Callable[[Session], T]) -> T:
        try:
            with self._sessions() as session, session.begin():
                return fn(session)
        except SQLAlchemyError as exc:
            raise StorageError(f"database write failed: {exc.__class__.__name__}: {exc}") from exc

    # ------------------------------------------------------------ reads
    def read_blocking(self, fn: Callable[[Session], T]) -> T:
        try:
            with self._sessions() as session:
                return fn(session)
        except SQLAlchemyError as exc:
            raise StorageError(f"database read failed: {exc.__class__.__name__}: {exc}") from exc

    async def read(self, fn: Callable[[Session], T]) -> T:
        return await asyncio.to_thread(self.read_blocking, fn)
