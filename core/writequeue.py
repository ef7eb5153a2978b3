"""The one writer thread both databases share the design of (datasette's): a queue, one transaction a write.

:class:`WriteQueue` owns the thread, the queue and the closed flag; a database subclass says only how one
write runs (:meth:`WriteQueue._run_write`: SQLAlchemy's session in :mod:`core.database`, plain sqlite3 in
:mod:`core.sqlitedb`). SQLite then never sees two writers from this process, and the event loop never
waits on a write.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

from core.errors import StorageError

__all__ = ["WriteQueue"]

T = TypeVar("T")
H = TypeVar("H")  # what a write function is handed: a Session, a sqlite3 Connection
_SHUTDOWN = object()


class WriteQueue(Generic[H]):
    """A writer thread fed by a queue, started by :meth:`start`; before that, writes run in the caller."""

    def __init__(self) -> None:
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._closed = False

    def start(self) -> None:
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(target=self._writer, name="db-writer", daemon=True)
            self._thread.start()

    def _stop_writer(self) -> bool:
        """Finish the queued writes and stop the thread; False if it was already closed."""
        if self._closed:
            return False
        self._closed = True
        if self._thread is not None:
            self._queue.put(_SHUTDOWN)
            self._thread.join(10)
        return True

    def _run_write(self, fn: Callable[[H], T]) -> T:
        raise NotImplementedError

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

    def write_blocking(self, fn: Callable[[H], T]) -> T:
        """Run ``fn`` in the writer thread as one transaction and wait for it."""
        if self._closed:
            raise StorageError("the database is closed")
        if self._thread is None:
            return self._run_write(fn)
        fut: Future[T] = Future()
        self._queue.put((fn, fut))
        return fut.result()

    async def write(self, fn: Callable[[H], T]) -> T:
        """Async form of :meth:`write_blocking`; the loop never blocks on the database."""
        if self._closed:
            raise StorageError("the database is closed")
        self.start()
        fut: Future[T] = Future()
        self._queue.put((fn, fut))
        return await asyncio.wrap_future(fut)
