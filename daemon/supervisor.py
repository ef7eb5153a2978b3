"""Run each long-lived part as a named task under a restart policy, with capped, jittered backoff.

Logs only on transitions (failed, then recovered), as Home Assistant's coordinator does, so a part that
keeps failing does not flood the journal.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable

from core.backoff import Backoff

__all__ = ["Restart", "stop_tasks", "supervise"]

_LOGGER = logging.getLogger(__name__)


class Restart(enum.Enum):
    """What a part's end means."""

    ALWAYS = "always"
    """A service: it should never end; a return is logged and restarted like a failure."""
    ON_FAILURE = "on-failure"
    """A one-shot job (index maintenance at start): a return is success and ends supervision."""


async def supervise(
    name: str,
    factory: Callable[[], Awaitable[None]],
    *,
    restart: Restart = Restart.ALWAYS,
    initial_delay: float = 1.0,
    max_delay: float = 60.0,
    healthy_after: float = 30.0,
) -> None:
    """Await ``factory()`` until the policy says it is done; a part that failed and then ran for
    ``healthy_after`` seconds is logged as recovered and its backoff starts over."""
    backoff = Backoff(initial=initial_delay, maximum=max(initial_delay, max_delay))
    failing = False
    while True:
        task = asyncio.ensure_future(factory())
        try:
            done, _ = await asyncio.wait({task}, timeout=healthy_after)
            if not done:
                if failing:
                    _LOGGER.info("%s recovered", name)
                    failing = False
                backoff.reset()
            await task
        except asyncio.CancelledError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            raise
        except Exception:
            if not failing:
                _LOGGER.exception("%s failed; restarting with backoff", name)
            failing = True
        else:
            if restart is Restart.ON_FAILURE:
                if failing:
                    _LOGGER.info("%s recovered and finished", name)
                return
            _LOGGER.warning("%s stopped by itself; restarting", name)
        await backoff.sleep()


async def stop_tasks(tasks: list[asyncio.Task[None]], grace_s: float) -> None:
    """Cancel the tasks and wait for them for ``grace_s``; name any that outlive it (never hang a stop)."""
    for task in tasks:
        task.cancel()
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=grace_s)
        for task in pending:
            _LOGGER.error("%s did not stop within %.0f s", task.get_name(), grace_s)
