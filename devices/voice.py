"""Mi Home / XiaoAI voice: a relay-less "virtual switch" channel whose *off* means *cut*.

This is the blog's trick without Mi Home automations: "小爱同学，十分钟后关闭燃气灶"
switches the virtual channel off (now or later, the timer lives in Mi Home);
coolstove sees the off, cuts the burner, and puts the virtual switch back on so
the next voice command works.
"""

from __future__ import annotations

import asyncio
import logging

from core.config import MiioBurner
from core.errors import DeviceError
from devices.burner import BurnerGuard
from devices.stove import Stove

__all__ = ["watch_voice"]

_LOGGER = logging.getLogger(__name__)


async def watch_voice(stove: Stove, g: BurnerGuard) -> None:
    """Poll the virtual switch of one burner; returns only when cancelled.

    The cut comes first and is owed (retried until the relay confirms); only
    then is the switch put back on. While putting it back fails, the same "off"
    is not taken for a new command: the stove is cut once per voice command,
    never every poll. Only a miio burner has a voice switch: for any other this returns at once.
    """
    if not isinstance(g.cfg, MiioBurner):
        return
    interval = g.cfg.voice_poll_s
    failing = False
    handled_off = False  # this "off" was already turned into a cut; only the reset is pending
    while True:
        await asyncio.sleep(interval)
        try:
            state = await g.relay.read_voice()
            if state is None:
                return
            if state is True:
                handled_off = False
            elif not handled_off:
                _LOGGER.info("voice switch of %s turned off: cutting", g.name)
                handled_off = True
                if stove.timers is not None:
                    await stove.timers.owe_now([g.name], "voice")
                else:
                    await stove.cut(g, "voice")
            if state is False:
                await g.relay.set_voice(True)
                handled_off = False
            failing = False
        except DeviceError as exc:
            if not failing:
                _LOGGER.warning("voice switch of %s unreadable: %s", g.name, exc)
            failing = True
