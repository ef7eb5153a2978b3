"""Run each long-lived part as a named task; restart it with capped, jittered backoff.

Logs only on transitions (failed, then recovered), as Home Assistant's
coordinator does, so a part that keeps failing does not flood the journal.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from daemon.backoff import Backoff

__all__ = ["supervise"]

_LOGGER = logging.getLogger(__name__)


async def supervise(
    name: str,
    factory: Callable[[], Awaitable[None]],
    *,
    initial_delay: float = 1.0,
    max_delay: float = 60.0,
    healthy_after: float = 30.0,
) -> None:
    """Await ``factory()`` forever; a return or an exception restarts it after a backoff."""
    backoff = Backoff(initial=initial_delay, maximum=max(initial_delay, max_delay))
    failing = False
    while True:
        started = time.monotonic()
        try:
            await factory()
            _LOGGER.warning("%s stopped by itself; restarting", name)
        except asyncio.CancelledError:
            raise
        except Exception:
            if not failing:
                _LOGGER.exception("%s failed; restarting with backoff", name)
            failing = True
        else:
            failing = False
        if time.monotonic() - started > healthy_after:
            if failing:
                _LOGGER.info("%s had been running fine; backoff reset", name)
            backoff.reset()
        await backoff.sleep()
