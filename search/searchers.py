"""A Whoosh ``Searcher`` per reading thread, refreshed when the index has a newer generation.

Searchers are not shareable between threads, so each thread keeps its own.
Readers never block: a searcher goes on reading the generation it opened
until it is replaced, immediately after this process's commits (the
``generation`` counter) and at most :data:`REFRESH_EVERY_S` later for another
process's.
"""

from __future__ import annotations

import contextlib
import threading
import time

from whoosh import index as windex
from whoosh.searching import Searcher

__all__ = ["REFRESH_EVERY_S", "Searchers"]

REFRESH_EVERY_S = 1.0  # how often a reader looks for another process's commits


class Searchers:
    """The searchers of every thread, for one index object; :meth:`close_all` closes them."""

    def __init__(self) -> None:
        self.generation = 0  # bumped after each commit made by this process
        self._local = threading.local()
        self._open: list[Searcher] = []
        self._lock = threading.Lock()

    def committed(self) -> None:
        """This process committed: every thread's next search takes a fresh searcher."""
        self.generation += 1

    def get(self, ix: windex.Index) -> Searcher:
        """This thread's searcher of ``ix``, opened or refreshed as needed."""
        local = self._local
        s: Searcher | None = getattr(local, "searcher", None)
        now = time.monotonic()
        if s is None or local.ix is not ix:
            s = ix.searcher()
            local.ix, local.generation, local.checked = ix, self.generation, now
            with self._lock:
                self._open.append(s)
        elif local.generation != self.generation or now - local.checked > REFRESH_EVERY_S:
            if not s.up_to_date():
                # a new searcher rather than refresh(): refresh() fails on a reader of an empty index
                fresh = ix.searcher()
                with self._lock:
                    self._open = [x for x in self._open if x is not s] + [fresh]
                with contextlib.suppress(Exception):
                    s.close()
                s = fresh
            local.generation, local.checked = self.generation, now
        local.searcher = s
        return s

    def close_all(self) -> None:
        with self._lock:
            for s in self._open:
                with contextlib.suppress(Exception):
                    s.close()
            self._open.clear()
        self._local = threading.local()
