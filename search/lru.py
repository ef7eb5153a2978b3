"""A thread-safe least-recently-used map bounded by bytes, for the caches of a serving process.

Every cache of search shares one memory budget (``[search] cache_mb``, split by
:func:`search.fastscore.set_cache_budget`): what a process holds is set by
configuration, not by what the queries happen to touch.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np

__all__ = ["ByteLRU", "nbytes"]


def nbytes(value: tuple[Any, ...]) -> int:
    """The bytes of the NumPy arrays in ``value`` (what dominates a cached entry)."""
    return sum(a.nbytes for a in value if isinstance(a, np.ndarray))


class ByteLRU:
    """Values keyed by tuples; past ``budget`` bytes the least recently used go first.

    A value larger than a quarter of the budget is not kept: one huge entry
    would evict everything else for a single use.
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.used = 0
        self.items: OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], int]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> tuple[Any, ...] | None:
        with self.lock:
            got = self.items.get(key)
            if got is None:
                return None
            self.items.move_to_end(key)
            return got[0]

    def put(self, key: tuple[Any, ...], value: tuple[Any, ...], size: int | None = None) -> None:
        size = nbytes(value) if size is None else size
        if size > self.budget // 4:
            return
        with self.lock:
            old = self.items.pop(key, None)  # a deeper ranking replaces a shallower one
            if old is not None:
                self.used -= old[1]
            self.items[key] = (value, size)
            self.used += size
            self._shrink()

    def resize(self, budget: int) -> None:
        with self.lock:
            self.budget = budget
            self._shrink()

    def clear(self) -> None:
        with self.lock:
            self.items.clear()
            self.used = 0

    def _shrink(self) -> None:
        while self.used > self.budget and self.items:
            _key, (_old, size) = self.items.popitem(last=False)
            self.used -= size
