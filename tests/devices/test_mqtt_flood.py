"""MQTT floods against a real Mosquitto: bounded work, cuts still land, refusals audited in bulk.

No timings are asserted: a cut must land during the flood, the link must stay
up, and the number of tasks, queued items, audit rows and re-publishes is
counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing as mp
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from stove_rig import Rig, make_cfg
from test_mqtt_link import Watcher
from waiting import wait_for

from core.config import MqttConfig
from devices.hass import discovery_messages
from devices.mqtt_link import MqttLink

pytestmark = pytest.mark.mosquitto

GARBAGE = [b"{not json", b'{"action":"on"}', b'{"action":"cut","delay_s":-1}', b"[" * 500 + b"]" * 500,
           b'{"action":"cut","delay_s":null}', b'{"\\ud800":1}', b"\x00\xff"]


@asynccontextmanager
async def running_link(
    tmp_path: Path, broker: Any, base: str, **attrs: Any
) -> AsyncIterator[tuple[Rig, MqttLink]]:
    cfg = make_cfg(tmp_path)
    cfg = cfg.model_copy(update={"mqtt": MqttConfig(enabled=True, host=broker.host, port=broker.port,
                                                    base_topic=base, discovery_prefix=f"{base}-ha")})
    rig = Rig(cfg)
    rig.stove.audit.refusal_window_s = 3600  # one window for the whole test: rows are counted, not timed
    await rig.start()
    link = MqttLink(cfg, rig.stove)
    for k, v in attrs.items():
        setattr(link, k, v)
    if "refusal_size" in attrs:
        link._refusals = asyncio.Queue(attrs["refusal_size"])
    task = asyncio.create_task(link.run())
    await asyncio.wait_for(link.ready.wait(), 10)
    try:
        yield rig, link
    finally:
        await rig.stove.shutdown()
        await link.close()
        await rig.stove.audit.close()  # as the daemon does at shutdown: open refusal counts are written
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await rig.timers.shutdown()
        rig.db.close()


def _flood(host: str, port: int, topic: str, payloads: list[bytes], count: int, half: Any, done: Any) -> None:
    client = paho.Client(paho.CallbackAPIVersion.VERSION2)
    client.connect(host, port)
    client.loop_start()
    for i in range(count):
        client.publish(topic, payloads[i % len(payloads)], qos=0)
        if i == count // 2:
            half.set()
    while client._out_packet:  # everything written before disconnecting
        time.sleep(0.01)
    client.loop_stop()
    client.disconnect()
    done.set()


class Flooder:
    """Another client in another process, publishing ``count`` messages as fast as paho can (QoS 0)."""

    def __init__(self, broker: Any, topic: str, payloads: list[bytes], count: int) -> None:
        ctx = mp.get_context("spawn")
        self.half, self.done = ctx.Event(), ctx.Event()
        self.proc = ctx.Process(target=_flood, args=(broker.host, broker.port, topic, payloads, count,
                                                     self.half, self.done), daemon=True)

    def start(self) -> None:
        self.proc.start()

    def close(self) -> None:
        self.done.wait(60)
        self.proc.join(10)


async def sample_tasks(stop: asyncio.Event, into: list[int]) -> None:
    while not stop.is_set():
        into.append(len(asyncio.all_tasks()))
        await asyncio.sleep(0.01)


async def wait_idle(
    link: MqttLink,
    cond: Callable[[], bool] = lambda: True,
    timeout: float = 60,  # noqa: ASYNC109 - timeout is the API
) -> None:
    await wait_for(lambda: link.idle() and cond(), timeout=timeout)


async def test_a_refusal_flood_is_bounded_and_a_cut_still_lands(
    tmp_path: Path, broker: Any, unique_topic: str
) -> None:
    async with running_link(tmp_path, broker, unique_topic) as (rig, link), \
            Watcher(broker.host, broker.port) as w:
        await w.client.subscribe(f"{unique_topic}/left/result", qos=1)
        baseline = len(asyncio.all_tasks())
        stop, tasks = asyncio.Event(), []
        sampler = asyncio.create_task(sample_tasks(stop, tasks))
        flood = Flooder(broker, f"{unique_topic}/left/command", GARBAGE, 20_000)
        flood.start()
        await asyncio.to_thread(flood.half.wait, 30)
        await w.client.publish(f"{unique_topic}/left/command", b'{"action":"cut","id":"real"}', qos=1)
        await wait_for(lambda: any(on for _, on in rig.relays["left"].history), timeout=90)
        await asyncio.to_thread(flood.close)
        await wait_idle(link, timeout=120)
        stop.set()
        await sampler
        assert link.connected.is_set(), "the flood did not take the link down"
        await wait_for(lambda: any(r.get("id") == "real" for r in w.json_on(f"{unique_topic}/left/result")),
                       timeout=10)
        real = next(r for r in w.json_on(f"{unique_topic}/left/result") if r.get("id") == "real")
        assert real["ok"] is True, "the cut was carried out, not refused"
        assert max(tasks) <= baseline + 10, f"no task per message: at most {max(tasks)} tasks for {baseline}"
        assert link.max_queued["refusals"] <= link.refusal_size
        assert link.max_queued["urgent"] <= link.urgent_size
        await rig.stove.wait_idle()  # the cut's audit row is written when its pulse ends
        replies = [r for r in w.json_on(f"{unique_topic}/left/result") if r.get("ok") is False]
    refused = link.stats["refused"]  # the link is closed: final counts
    assert refused >= 1000, "the flood reached the link"
    assert link.stats["answered"] + link.stats["unanswered"] + link.stats["overflow"] == refused
    assert len(replies) <= link.stats["answered"]
    # answered = sent at QoS 0; a watcher in this busy process may itself be too slow to get them all
    assert replies, "refusals are answered on /result"
    assert link.stats["answered"] >= 1000, "refusals are answered on /result"
    assert all(r["error"] for r in replies)
    # the link is closed: every refusal is in the audit log, as a row or in a count
    rows = await _all_rows(tmp_path)
    rejected = [r for r in rows if r["result"] == "rejected"]
    # per kind of refusal (unreadable, cut, other) a few rows and one count, plus the overflow rows
    assert len(rejected) <= 25, f"a handful of rows, not one per message: {len(rejected)}"
    assert counted_rows(rejected) == refused, "every refusal is accounted for"
    assert any(r["action"] == "cut" and r["result"] == "ok" and r["source"] == "mqtt" for r in rows), [
        r for r in rows if r["result"] != "rejected"]


async def _all_rows(tmp_path: Path) -> list[dict[str, Any]]:
    import sqlite3

    con = sqlite3.connect(tmp_path / "stove.db")
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute("SELECT * FROM audit ORDER BY id")]
    finally:
        con.close()


def counted_rows(rows: list[dict[str, Any]]) -> int:
    total = 0
    for r in rows:
        m = re.match(r"(\d+) more refused", r["detail"] or "")
        total += int(m.group(1)) if m else 1
    return total


async def test_overflow_is_one_row_per_burst(tmp_path: Path, broker: Any, unique_topic: str) -> None:
    async with running_link(tmp_path, broker, unique_topic, refusal_size=4, overflow_window_s=3600) as (
        rig,
        link,
    ):
        flood = Flooder(broker, f"{unique_topic}/right/command", GARBAGE, 5_000)
        flood.start()
        await asyncio.to_thread(flood.close)
        await wait_idle(link, lambda: link.stats["refused"] >= 1000, timeout=60)
    overflow, refused = link.stats["overflow"], link.stats["refused"]  # the link is closed: final counts
    assert overflow > 0, "a 4-slot refusal queue overflowed"
    rows = [r for r in await _all_rows(tmp_path) if r["result"] == "rejected"]
    overflow_rows = [r for r in rows if r["action"] == "overflow"]
    assert len(overflow_rows) == 1, "one row for the burst, not one per message"
    assert overflow_rows[0]["detail"].startswith(f"{overflow} more refused")
    assert counted_rows(rows) == refused
    assert all(not on for _, on in rig.relays["right"].history)


async def test_home_assistant_online_storm_republishes_once(
    tmp_path: Path, broker: Any, unique_topic: str
) -> None:
    async with running_link(tmp_path, broker, unique_topic, ha_settle_s=0.3) as (rig, link), \
            Watcher(broker.host, broker.port) as w:
        prefix = f"{unique_topic}-ha"
        n = sum(len(discovery_messages(link.mqtt, b)) for b in rig.cfg.burners)
        await w.client.subscribe(f"{prefix}/+/+/+/config", qos=1)
        await wait_for(lambda: len(w.messages) >= n, timeout=5)  # the retained ones
        before = len(w.messages)
        for _ in range(2000):
            await w.client.publish(f"{prefix}/status", b"online", qos=1)
        await wait_for(lambda: link.stats["ha_online"] == 2000, timeout=30)
        await wait_for(lambda: link.stats["ha_republished"] >= 1 and link._ha_task is not None
                       and link._ha_task.done(), timeout=30)
        await wait_for(lambda: len(w.messages) >= before + n, timeout=10)
        assert link.stats["ha_republished"] == 1, "one re-publish for the whole burst"
        assert len(w.messages) - before == n
        assert all(json.loads(m.payload) for m in w.messages[before:])
