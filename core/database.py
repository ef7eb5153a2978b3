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
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.errors import StorageError

__all__ = ["Database", "make_engine"]

_LOGGER = logging.getLogger(__name__)
T = TypeVar("T")
_SHUTDOWN = object()


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


class Database:
    """One database: a writer thread with a queue, and short-lived read sessions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._closed = False

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._writer, name="db-writer", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Finish queued writes, stop the writer, dispose the pool. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._queue.put(_SHUTDOWN)
            self._thread.join(10)
        self.engine.dispose()

    def __enter__(self) -> Database:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ writes
    def _writer(self) -> None:
        while True:
            task = self._queue.get()
            if task is _SHUTDOWN:
                return
            fn, fut = task
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                result = self._run_write(fn)
            except BaseException as exc:  # delivered to the caller, never kills the thread
                fut.set_exception(exc)
            else:
                fut.set_result(result)

    def _run_write(self, fn: Callable[[Session], T]) -> T:
        try:
            with self._sessions() as session, session.begin():
                return fn(session)
        except SQLAlchemyError as exc:
            raise StorageError(f"database write failed: {exc.__class__.__name__}: {exc}") from exc

    def write_blocking(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn(session)`` in the writer thread as one transaction and wait for it."""
        if self._closed:
            raise StorageError("the database is closed")
        if self._thread is None:
            return self._run_write(fn)
        fut: Future[T] = Future()
        self._queue.put((fn, fut))
        return fut.result()

    async def write(self, fn: Callable[[Session], T]) -> T:
        """Async form of :meth:`write_blocking`; the loop never blocks on SQLite."""
        if self._closed:
            raise StorageError("the database is closed")
        self.start()
        fut: Future[T] = Future()
        self._queue.put((fn, fut))
        return await asyncio.wrap_future(fut)

    # ------------------------------------------------------------ reads
    def read_blocking(self, fn: Callable[[Session], T]) -> T:
        try:
            with self._sessions() as session:
                return fn(session)
        except SQLAlchemyError as exc:
            raise StorageError(f"database read failed: {exc.__class__.__name__}: {exc}") from exc

    async def read(self, fn: Callable[[Session], T]) -> T:
        return await asyncio.to_thread(self.read_blocking, fn)
