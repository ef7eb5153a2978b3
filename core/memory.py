"""glibc's allocator, told to give freed memory back: long-running processes that search keep less resident.

A search allocates NumPy arrays of a few hundred kilobytes to a few megabytes
in whichever worker thread runs it. glibc raises its mmap threshold after each
such array is freed (up to 32 MB), so later ones come from per-thread arenas
that stay resident after they are freed, and each thread gets an arena of its
own. Fixing the threshold and capping the arenas keeps the daemon's RSS near
what is in use. Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import logging

__all__ = ["ARENAS", "MMAP_THRESHOLD", "tune_allocator"]

_LOGGER = logging.getLogger(__name__)
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameters (malloc.h)
_M_ARENA_MAX = -8
MMAP_THRESHOLD = 256 * 1024
ARENAS = 2


def tune_allocator() -> bool:
    """Fix glibc's mmap threshold and cap its arenas; True if both were set."""
    try:
        mallopt = ctypes.CDLL(None).mallopt  # this process's own symbols: glibc's, where it is glibc
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_ARENA_MAX, ARENAS))
    if not ok:
        _LOGGER.debug("mallopt refused; the allocator keeps its defaults")
    return ok
