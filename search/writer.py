"""The index's one writer thread, and the cancellation that stops maintenance between batches.

Every write the daemon makes (a crawl batch, the check and repair at start, a
rebuild) runs in one dedicated thread and ends in one commit, so writes never
race and the event loop never waits on Whoosh. Writes from other threads (the
CLI's commands, ``asyncio.to_thread`` callers) queue on :attr:`WriterThread.lock`.
:meth:`WriterThread.cancel` makes maintenance stop at its next
:meth:`~WriterThread.checkpoint`: the daemon calls it when stopping, because a
rebuild at start may take minutes and systemd waits seconds.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from core.errors import SearchError

__all__ = ["WriterThread"]

T = TypeVar("T")


class WriterThread:
    """A one-thread executor for writes, started by :meth:`start` (owners only)."""

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._cancelled = threading.Event()
        self.lock = threading.RLock()  # held for each write, whichever thread makes it

    @property
    def started(self) -> bool:
        return self._executor is not None

    def start(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="search-writer")

    async def run(self, fn: Callable[[], T]) -> T:
        """``fn()`` in the writer thread; refused once cancelled or when not started."""
        if self._executor is None:
            raise SearchError("the search index was not opened for writing")
        self.checkpoint()
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def cancel(self) -> None:
        self._cancelled.set()

    def checkpoint(self) -> None:
        """Raise :class:`SearchError` if maintenance was cancelled (call it between batches)."""
        if self._cancelled.is_set():
            raise SearchError("index maintenance abandoned: the index is closing")

    def shutdown(self) -> None:
        """Finish the queued writes and stop the thread."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
