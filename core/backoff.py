"""Capped, jittered exponential backoff: the one retry delay every loop in the daemon uses.

Reconnect loops (MQTT), the release of a relay that did not answer, an owed
cut and the supervisor all wait the same way, so they are tuned in one place
and a flapping device never turns into a tight loop.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

__all__ = ["Backoff"]


@dataclass
class Backoff:
    """``next()`` gives the delay before the next attempt; ``reset()`` after a success.

    Delays grow ``initial * factor**n`` up to ``maximum``, each multiplied by a
    jitter in ``[1 - jitter, 1 + jitter]`` so that many clients do not retry
    in step.
    """

    initial: float = 1.0
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 0.2
    attempts: int = field(default=0, init=False)
    _rng: random.Random = field(default_factory=random.Random, init=False, repr=False)

    def __post_init__(self) -> None:
        if not (0 < self.initial <= self.maximum) or self.factor < 1 or not (0 <= self.jitter < 1):
            raise ValueError(f"unusable backoff {self!r}")

    def peek(self) -> float:
        """The delay ``next()`` would give, without jitter."""
        return min(self.initial * self.factor**self.attempts, self.maximum)

    def next(self) -> float:
        base = self.peek()
        self.attempts += 1
        return base * (1 - self.jitter + 2 * self.jitter * self._rng.random())

    def reset(self) -> None:
        self.attempts = 0

    async def sleep(self) -> float:
        """Wait ``next()`` seconds and say how long that was."""
        delay = self.next()
        await asyncio.sleep(delay)
        return delay
