"""The stove state machine and its timers, on simulated relays and a real SQLite file."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from stove_rig import Rig, make_cfg
from waiting import wait_for

from devices.commands import parse_command


def cmd(payload: dict, names=("left", "right")):
    return parse_command(payload, burners=names)


async def test_cut_is_a_bounded_pulse_then_release(rig: Rig) -> None:
    relay = rig.relays["left"]
    result = await rig.stove.execute(cmd({"action": "cut", "burner": "left"}), "cli")
    assert result["ok"]
    assert result["burners"]["left"]["ok"]
    assert relay.energised is True, "the relay must be energised right after the cut is confirmed"
    assert rig.stove.status("left")["state"] == "cutting"
    await rig.stove.wait_idle()
    assert relay.energised is False
    on, off = relay.history[-2], relay.history[-1]
    assert on[1] is True
    assert off[1] is False
    assert 0.25 <= off[0] - on[0] <= 1.5, "the pulse lasts pulse_s (0.3 s), not forever"
    assert rig.relays["right"].history == [], "the other burner is untouched"
    st = rig.stove.status("left")
    assert st["state"] == "armed"
    assert st["relay"] == "released"
    assert st["last_cut"]["result"] == "ok"
    log = await rig.stove.audit.recent()
    assert log[0].action == "cut"
    assert log[0].source == "cli"
    assert log[0].result == "ok"
    assert log[0].latency_ms is not None


async def test_device_side_pulse_is_requested(rig: Rig) -> None:
    """With NC wiring the device is asked to release by itself, in case the daemon dies."""
    relay = rig.relays["left"]
    await rig.stove.execute(cmd({"action": "cut", "burner": "left"}), "cli")
    assert relay._auto_off is not None
    await rig.stove.wait_idle()


async def test_all_burners(rig: Rig) -> None:
    result = await rig.stove.execute(cmd({"action": "cut"}), "mqtt")
    assert set(result["burners"]) == {"left", "right"}
    assert rig.relays["left"].energised
    assert rig.relays["right"].energised
    await rig.stove.wait_idle()
    assert not rig.relays["left"].energised
    assert not rig.relays["right"].energised


async def test_second_cut_during_pulse_is_a_noop(rig: Rig) -> None:
    first, second = await asyncio.gather(
        rig.stove.execute(cmd({"action": "cut", "burner": "left"}), "cli"),
        rig.stove.execute(cmd({"action": "cut", "burner": "left"}), "http"),
    )
    assert first["ok"]
    assert second["ok"]
    await rig.stove.wait_idle()
    ons = [h for h in rig.relays["left"].history if h[1]]
    assert len(ons) == 1


async def test_no_wiring_cuts_by_releasing(tmp_path: Path) -> None:
    rig = Rig(make_cfg(tmp_path, wiring="no"))
    for r in rig.relays.values():
        r.energised = True  # NO wiring: energised is the usable resting state
    await rig.start()
    try:
        relay = rig.relays["left"]
        assert relay.energised is True, "reconciliation must not flip an NO relay out of rest"
        await rig.stove.execute(cmd({"action": "cut", "burner": "left"}), "cli")
        assert relay.energised is False
        assert rig.stove.status("left")["gas_cut"] is True
        await rig.stove.wait_idle()
        assert relay.energised is True
    finally:
        await rig.stop()


async def test_unreachable_relay_fails_clearly_and_is_audited(rig: Rig) -> None:
    relay = rig.relays["left"]
    relay.offline = True
    result = await rig.stove.execute(cmd({"action": "cut", "burner": "left"}), "http")
    assert result["ok"] is False
    assert "offline" in result["burners"]["left"]["error"]
    await rig.stove.wait_idle()
    st = rig.stove.status("left")
    assert st["reachable"] is False
    assert st["state"] == "armed"
    log = await rig.stove.audit.recent()
    assert log[0].result == "failed"
    relay.offline = False
    await rig.stove.poll()
    assert rig.stove.status("left")["reachable"] is True


async def test_failed_release_is_retried_until_it_succeeds(rig: Rig) -> None:
    relay = rig.relays["left"]
    real_set = relay.set
    calls = {"n": 0}

    async def flaky(on: bool, *, auto_off_s: float | None = None) -> None:
        if not on:
            calls["n"] += 1
            if calls["n"] <= 2:
                relay.energised = True  # the release did not reach the coil
                from core.errors import DeviceUnavailable

                raise DeviceUnavailable("simulated drop-out")
        await real_set(on, auto_off_s=None)  # no device pulse: only the daemon can release

    relay.set = flaky  # type: ignore[method-assign]
    await rig.stove.execute(cmd({"action": "cut", "burner": "left"}), "cli")
    await rig.stove.wait_idle()
    assert relay.energised is True
    await wait_for(lambda: relay.energised is False, timeout=5)
    assert calls["n"] >= 3


async def test_startup_releases_an_energised_relay(tmp_path: Path) -> None:
    rig = Rig(make_cfg(tmp_path))
    rig.relays["left"].energised = True  # as after a crash mid-pulse
    await rig.start()
    try:
        assert rig.relays["left"].energised is False
        log = await rig.stove.audit.recent()
        assert any(e.source == "startup" and e.burner == "left" for e in log)
    finally:
        await rig.stop()


async def test_shutdown_mid_pulse_releases(tmp_path: Path) -> None:
    rig = Rig(make_cfg(tmp_path, pulse_s=30.0))
    await rig.start()
    await rig.stove.execute(cmd({"action": "cut", "burner": "left"}), "cli")
    assert rig.relays["left"].energised
    history = rig.relays["left"].history
    await rig.stop()
    assert history[-1][1] is False, "shutdown must release the relay"


async def test_countdown_fires_at_its_deadline(rig: Rig) -> None:
    r = await rig.stove.execute(cmd({"action": "cut", "burner": "left", "delay_s": 1}), "http")
    assert r["ok"]
    deadline = rig.timers.deadline("left")
    assert deadline is not None
    assert rig.stove.status("left")["deadline"] == deadline.isoformat()
    await wait_for(lambda: any(h[1] for h in rig.relays["left"].history), timeout=5)
    fired = next(h[0] for h in rig.relays["left"].history if h[1])
    assert abs(fired - deadline.timestamp()) < 1.0
    await rig.stove.wait_idle()
    await wait_for(lambda: rig.timers.deadline("left") is None, timeout=2)
    log = await rig.stove.audit.recent()
    assert any(e.source == "timer" and e.action == "cut" and e.result == "ok" for e in log)


async def test_cancel_and_extend(rig: Rig) -> None:
    await rig.stove.execute(cmd({"action": "cut", "delay_s": 600}), "http")
    first = rig.timers.deadline("left")
    assert first is not None
    assert rig.timers.deadline("right") is not None
    r = await rig.stove.execute(cmd({"action": "extend", "burner": "left", "by_s": 300}), "http")
    assert r["ok"]
    assert rig.timers.deadline("left") == first + dt.timedelta(seconds=300)
    r = await rig.stove.execute(cmd({"action": "cancel", "burner": "right"}), "http")
    assert r["ok"]
    assert rig.timers.deadline("right") is None
    r = await rig.stove.execute(cmd({"action": "extend", "burner": "right", "by_s": 60}), "http")
    assert r["ok"] is False
    assert "no countdown" in r["error"]
    log = await rig.stove.audit.recent()
    assert log[0].result == "rejected"
    await rig.stove.execute(cmd({"action": "cancel"}), "http")
    assert rig.timers.deadline("left") is None


async def test_deadline_survives_restart_and_overdue_fires_at_start(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path)
    rig = Rig(cfg)
    await rig.start()
    await rig.stove.execute(cmd({"action": "cut", "burner": "right", "delay_s": 1}), "http")
    deadline = rig.timers.deadline("right")
    await rig.stop()  # the daemon goes down before the deadline
    await asyncio.sleep(1.5)  # ...and the deadline passes while it is down
    rig2 = Rig(cfg)
    await rig2.start()
    try:
        await wait_for(lambda: any(h[1] for h in rig2.relays["right"].history), timeout=5)
        fired = next(h[0] for h in rig2.relays["right"].history if h[1])
        assert deadline is not None
        assert fired >= deadline.timestamp()
        assert not any(h[1] for h in rig2.relays["left"].history)
    finally:
        await rig2.stop()


async def test_schedules_persist_and_validate(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path)
    rig = Rig(cfg)
    await rig.start()
    entry = await rig.timers.add_schedule("all", "23:00")
    assert entry["cron"] == "0 23 * * *"
    nxt = dt.datetime.fromisoformat(entry["next"]).astimezone()
    assert (nxt.hour, nxt.minute) == (23, 0)
    import pytest

    from core.errors import InputError

    for bad in ("25:00", "* * *", "not cron", "", "0 23 * * * * *"):
        with pytest.raises(InputError):
            await rig.timers.add_schedule("all", bad)
    with pytest.raises(InputError):
        await rig.timers.add_schedule("oven", "23:00")
    await rig.stop()
    rig2 = Rig(cfg)
    await rig2.start()
    try:
        items = rig2.timers.schedules()
        assert [s["id"] for s in items] == [entry["id"]]
        assert sorted(items[0]["burners"]) == ["left", "right"]
        assert await rig2.timers.remove_schedule(entry["id"]) is True
        assert rig2.timers.schedules() == []
        assert await rig2.timers.remove_schedule(entry["id"]) is False
    finally:
        await rig2.stop()
