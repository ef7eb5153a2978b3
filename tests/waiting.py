"""Polling helpers for tests that wait on real processes and devices."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def wait_for(
    cond: Callable[[], object],
    timeout: float = 5.0,  # noqa: ASYNC109 - timeout is the API
    interval: float = 0.02,
) -> None:
    """Await until ``cond()`` is truthy; fail the test with a clear message after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def wait_for_sync(cond: Callable[[], object], timeout: float = 5.0, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
