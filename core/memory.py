"""glibc's allocator, told to keep few arenas: long-running processes that search keep less resident.

A search allocates NumPy arrays of a few hundred kilobytes to a few megabytes
in whichever worker thread runs it, and glibc gives each thread an arena of
its own, which stays resident after its arrays are freed. Capping the arenas
keeps the daemon's RSS near what is in use. Elsewhere than glibc this does
nothing.

The mmap threshold is left to glibc's own adjustment. Fixing it (256 KB, as an
earlier version did) also fixes the trim threshold, so every large array was a
fresh mapping whose pages were faulted in and zeroed on first touch: at 2.7
million papers the daemon's first queries went from p95 132.9 ms with it to
55.3 ms without (`bench/bench_search.py --reuse --daemon-only`, README Figures).
"""

from __future__ import annotations

import ctypes
import logging

__all__ = ["ARENAS", "tune_allocator"]

_LOGGER = logging.getLogger(__name__)
_M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)
ARENAS = 2


def tune_allocator() -> bool:
    """Cap glibc's arenas; True if it took the setting."""
    try:
        mallopt = ctypes.CDLL(None).mallopt  # this process's own symbols: glibc's, where it is glibc
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(_M_ARENA_MAX, ARENAS))
    if not ok:
        _LOGGER.debug("mallopt refused; the allocator keeps its defaults")
    return ok
