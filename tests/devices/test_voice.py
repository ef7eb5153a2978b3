"""Mi Home / XiaoAI voice: the virtual switch's OFF becomes a cut, on the real miio protocol."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fakes.miio_peer import DEFAULT_TOKEN, MiioPeer
from stove_rig import make_cfg
from waiting import wait_for

from core.config import MiioBurner
from core.sqlitedb import SqliteDatabase
from devices.audit import AuditLog
from devices.miio_relay import MiioRelay
from devices.stove import Stove
from devices.timers import Timers
from devices.voice import watch_voice


async def voice_stove(tmp_path: Path, peer: MiioPeer) -> tuple[Stove, SqliteDatabase]:
    """A started stove with one miio burner whose virtual switch is (4, 1) on the peer."""
    # A generous timeout: on a loaded machine a reply that misses a short one makes the daemon
    # retry a cut the peer already took, and "one command, one cut" is what these tests count.
    burner = MiioBurner(name="left", host=peer.address, token=DEFAULT_TOKEN, pulse_s=0.3,
                        timeout_s=3.0, voice_siid=4, voice_piid=1)
    # model_copy skips validation: a poll faster than the config allows (0.5 s), for a quick test
    burner = burner.model_copy(update={"voice_poll_s": 0.05})
    cfg = make_cfg(tmp_path).model_copy(update={"burners": (burner,)})
    db = SqliteDatabase(cfg.storage.stove_db)
    db.start()
    stove = Stove(cfg, AuditLog(db), relays={"left": MiioRelay(burner)})
    await stove.start()
    return stove, db


async def test_voice_off_cuts_and_rearms_the_virtual_switch(tmp_path: Path) -> None:
    async with MiioPeer() as peer:
        stove, db = await voice_stove(tmp_path, peer)
        g = stove.burners["left"]
        task = asyncio.create_task(watch_voice(stove, g))
        try:
            assert peer.props[(4, 1)] is True, "the virtual switch rests on"
            await asyncio.sleep(0.2)
            assert not peer.changes("2.1", True), "no cut while the virtual switch stays on"
            peer.flip(4, 1)  # "小爱同学，关闭燃气灶": Mi Home switches the virtual channel off
            await wait_for(lambda: peer.changes("2.1", True), timeout=5)
            await wait_for(lambda: peer.props[(4, 1)] is True, timeout=5)
            await stove.wait_idle()
            assert peer.props[(2, 1)] is False, "the cut is a pulse: released afterwards"
            assert len(peer.changes("2.1", True)) == 1, "one voice command, one cut"
            log = await stove.audit.recent()
            assert any(e.source == "voice" and e.action == "cut" and e.result == "ok" for e in log)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await stove.shutdown()
            db.close()


async def test_voice_cut_comes_first_and_once_while_the_switch_cannot_be_reset(tmp_path: Path) -> None:
    """Resetting the virtual switch used to come first: while it failed, the gas was never cut."""
    async with MiioPeer() as peer:
        stove, db = await voice_stove(tmp_path, peer)
        timers = Timers(db, stove)
        await timers.start()
        g = stove.burners["left"]
        task = asyncio.create_task(watch_voice(stove, g))
        try:
            peer.refuse_sets.add((4, 1))  # the virtual switch cannot be put back on
            peer.flip(4, 1)
            await wait_for(lambda: peer.changes("2.1", True), timeout=5)
            await asyncio.sleep(1.0)  # twenty polls of a switch that still reads "off"
            await stove.wait_idle()
            assert len(peer.changes("2.1", True)) == 1, "one voice command is one cut, not one per poll"
            assert peer.props[(4, 1)] is False
            peer.refuse_sets.clear()
            await wait_for(lambda: peer.props[(4, 1)] is True, timeout=5)
            assert len(peer.changes("2.1", True)) == 1
            peer.flip(4, 1)  # the next voice command works again
            await wait_for(lambda: len(peer.changes("2.1", True)) == 2, timeout=5)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await timers.shutdown()
            await stove.shutdown()
            db.close()
