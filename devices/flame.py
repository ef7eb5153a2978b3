"""Optional usage input: a topic (a hood, a temperature probe) that says the stove is burning.

After ``alert_after_min`` of continuous burning an alert event is published;
after ``cut_after_min`` the gas is cut (source ``flame``). Without such a
sensor coolstove cannot know whether a flame is lit, and says so. Each report
also goes to the stove (:meth:`Stove.flame_reported`): it is the ``burning``
field of the state, and a relight after a cut is the evidence that opens the
valve again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from core.config import FlameConfig
from core.errors import InputError
from devices.stove import EventListener, Stove

__all__ = ["FlameWatcher"]

_LOGGER = logging.getLogger(__name__)


class FlameWatcher:
    def __init__(
        self,
        cfg: FlameConfig,
        stove: Stove,
        alert: EventListener | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg = cfg
        self.stove = stove
        self.alert = alert
        self.clock = clock
        self.burning_since: float | None = None
        self.alerted = False
        self.cut_done = False

    async def observe(self, payload: bytes) -> None:
        """One message from the flame topic: ``payload_on`` means burning, anything else not."""
        text = payload.decode("utf-8", "replace").strip()
        burning = text.lower() == self.cfg.payload_on.lower()
        if burning and self.burning_since is None:
            self.burning_since = self.clock()
            self.alerted = self.cut_done = False
            _LOGGER.info("stove reported burning")
        elif not burning and self.burning_since is not None:
            _LOGGER.info("stove reported off after %.0f s", self.clock() - self.burning_since)
            self.burning_since = None
        try:  # the state's "burning" (Home Assistant's binary sensor) and the valve's relight evidence
            await self.stove.flame_reported(self.cfg.burner or "all", burning)
        except InputError:
            _LOGGER.warning("flame input names an unknown burner %s", ascii(self.cfg.burner))
        await self.check()

    async def check(self) -> None:
        if self.burning_since is None:
            return
        minutes = (self.clock() - self.burning_since) / 60
        target = self.cfg.burner or "all"
        if self.cfg.alert_after_min is not None and minutes >= self.cfg.alert_after_min and not self.alerted:
            self.alerted = True
            _LOGGER.warning("stove has been burning for %.0f min", minutes)
            if self.alert is not None:
                await self.alert(target, {"event": "burning_long", "minutes": round(minutes, 1)})
        if self.cfg.cut_after_min is not None and minutes >= self.cfg.cut_after_min and not self.cut_done:
            self.cut_done = True
            _LOGGER.warning("stove burning for %.0f min: cutting the gas", minutes)
            targets = self.stove.targets(target)
            if self.stove.timers is not None:  # owed until the relay confirms, like a timer's cut
                await self.stove.timers.owe_now([g.name for g in targets], "flame")
            else:
                for g in targets:
                    await self.stove.cut(g, "flame")
            if self.alert is not None:
                await self.alert(target, {"event": "cut_after_burning", "minutes": round(minutes, 1)})

    async def run(self, interval_s: float = 5.0) -> None:
        while True:
            await asyncio.sleep(interval_s)
            await self.check()
