"""The MQTT interface against a real Mosquitto: commands, results, retained state, discovery."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from stove_rig import Rig, make_cfg
from waiting import wait_for

from core.config import FlameConfig, MqttConfig
from devices.flame import FlameWatcher
from devices.hass import discovery_messages
from devices.mqtt_link import MqttLink

pytestmark = pytest.mark.mosquitto


class Watcher:
    """A second MQTT client that records everything under some topics."""

    def __init__(self, host: str, port: int) -> None:
        self.client = aiomqtt.Client(host, port)
        self.messages: list[aiomqtt.Message] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Watcher:
        await self.client.__aenter__()
        self._task = asyncio.create_task(self._collect())
        return self

    async def _collect(self) -> None:
        async for m in self.client.messages:
            self.messages.append(m)

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self.client.__aexit__(None, None, None)

    def on(self, topic: str) -> list[Any]:
        return [m for m in self.messages if str(m.topic) == topic]

    def json_on(self, topic: str) -> list[Any]:
        return [json.loads(m.payload) for m in self.on(topic)]


@pytest.fixture
async def linked(tmp_path: Path, broker: Any, unique_topic: str) -> AsyncIterator[tuple[Rig, MqttLink, str]]:
    cfg = make_cfg(tmp_path)
    # model_copy skips validation: cut_after_min = 0 (below the config's bound) cuts on the first message
    flame_cfg = FlameConfig(topic=f"{unique_topic}/hood").model_copy(update={"cut_after_min": 0.0})
    cfg = cfg.model_copy(update=dict(
        mqtt=MqttConfig(enabled=True, host=broker.host, port=broker.port, base_topic=unique_topic,
                        discovery_prefix=f"{unique_topic}-ha"),
        flame=flame_cfg,
    ))
    rig = Rig(cfg)
    await rig.start()
    flame = FlameWatcher(cfg.flame, rig.stove)
    link = MqttLink(cfg, rig.stove, flame)
    flame.alert = link.publish_event
    task = asyncio.create_task(link.run())
    await asyncio.wait_for(link.ready.wait(), 10)
    yield rig, link, unique_topic
    await rig.stove.shutdown()
    await link.close()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await rig.timers.shutdown()
    rig.db.close()


async def test_command_cuts_and_reports(linked: tuple[Rig, MqttLink, str], broker: Any) -> None:
    rig, _, base = linked
    async with Watcher(broker.host, broker.port) as w:
        await w.client.subscribe(f"{base}/#")
        await w.client.publish(f"{base}/left/command", json.dumps({"action": "cut", "id": "r1"}), qos=1)
        await wait_for(lambda: w.on(f"{base}/left/result"), timeout=5)
        result = w.json_on(f"{base}/left/result")[0]
        assert result["ok"] is True
        assert result["id"] == "r1"
        assert [on for _, on in rig.relays["left"].history][:1] == [True], "the command energised the relay"
        await wait_for(
            lambda: any(s["state"] == "cutting" for s in w.json_on(f"{base}/left/state")), timeout=3
        )
        await rig.stove.wait_idle()
        await wait_for(lambda: w.json_on(f"{base}/left/state")[-1]["state"] == "armed", timeout=3)
        final = w.json_on(f"{base}/left/state")[-1]
        assert final["relay"] == "released"
        assert final["reachable"] is True
        assert final["last_cut"]["source"] == "mqtt"
    log = await rig.stove.audit.recent()
    assert log[0].source == "mqtt"
    assert log[0].action == "cut"


async def test_state_and_availability_are_retained(linked: tuple[Rig, MqttLink, str], broker: Any) -> None:
    _, _, base = linked
    async with Watcher(broker.host, broker.port) as w:  # connects after the daemon published
        await w.client.subscribe(f"{base}/#")
        await wait_for(lambda: w.on(f"{base}/status") and w.on(f"{base}/left/state"), timeout=5)
        assert w.on(f"{base}/status")[0].payload == b"online"
        assert w.on(f"{base}/status")[0].retain, [(str(m.topic), m.payload, m.retain) for m in w.messages]
        state = w.json_on(f"{base}/right/state")[0]
        assert {"relay", "deadline", "reachable", "last_cut"} <= set(state)


async def test_retained_command_is_refused(linked: tuple[Rig, MqttLink, str], broker: Any) -> None:
    rig, _, base = linked
    async with Watcher(broker.host, broker.port) as w:
        await w.client.subscribe(f"{base}/+/result")
        await w.client.publish(f"{base}/left/command", b'{"action":"cut"}', qos=1, retain=True)
        await wait_for(lambda: w.on(f"{base}/left/result"), timeout=5)
        assert "retained" in w.json_on(f"{base}/left/result")[0]["error"]
        await w.client.publish(f"{base}/left/command", b"", qos=1, retain=True)  # clear it
    assert rig.relays["left"].history == [], "a retained command must never move the relay"
    log = await rig.stove.audit.recent()
    assert log[0].result == "rejected"
    assert "retained" in (log[0].detail or "")


@pytest.mark.parametrize(
    ("topic_burner", "payload", "error"),
    [
        ("left", b"{not json", "not valid JSON"),
        ("left", b'{"action":"on"}', "by hand"),
        ("left", b'{"action":"cut","delay_s":-1}', "positive"),
        ("left", b'{"action":"cut","delay_s":9999999999}', "week"),
        ("left", b"x" * 100_000, "limit"),
        ("oven", b'{"action":"cut"}', "unknown burner"),
        ("left", b"\x00\x01\x02", "not valid JSON"),
        # issue 8: these got no reply and no audit row, or were taken as something else
        ("left", b"[" * 1000 + b"]" * 1000, "nested"),
        ("left", b'{"action":"cut","x":' + b"[" * 2000 + b"]" * 2000 + b"}", "nested"),
        ("left", b'{"action":"cut","delay_s":' + b"9" * 400 + b"}", "week"),
        ("left", b'{"\\ud800":1}', "surrogate"),
        ("left", b'{"action":"cut","id":"\\udc80"}', "surrogate"),
        ("left", b'{"action":"cut","delay_s":null}', "null"),
        ("left", b'{"action":"cut","delay_s":true}', "number"),
        ("left", b'{"action":"cut","delay_s":"\xef\xbc\x96\xef\xbc\x90"}', "ASCII"),
        ("left", b'{"action":"cut","delay_s":"\xd9\xa6\xd9\xa0"}', "ASCII"),
    ],
)
async def test_bad_payloads_get_an_error_and_touch_nothing(
    linked: tuple[Rig, MqttLink, str], broker: Any, topic_burner: str, payload: bytes, error: str
) -> None:
    rig, link, base = linked
    result_topic = f"{base}/{topic_burner if topic_burner != 'oven' else 'error'}/result"
    async with Watcher(broker.host, broker.port) as w:
        await w.client.subscribe(result_topic)
        await w.client.publish(f"{base}/{topic_burner}/command", payload, qos=1)
        await wait_for(lambda: w.on(result_topic), timeout=5)
        msg = w.json_on(result_topic)[0]
        assert msg["ok"] is False
        assert error in msg["error"]
    assert all(not r.history for r in rig.relays.values())
    assert link.connected.is_set(), "bad input must not take the link down"
    log = await rig.stove.audit.recent()
    assert log[0].result == "rejected"
    assert log[0].source == "mqtt"
    assert log[0].detail == msg["error"]
    assert rig.timers.deadline("left") is None, "nothing was scheduled either"


async def test_countdown_over_mqtt(linked: tuple[Rig, MqttLink, str], broker: Any) -> None:
    rig, _, base = linked
    async with Watcher(broker.host, broker.port) as w:
        await w.client.subscribe(f"{base}/right/#")
        await w.client.publish(f"{base}/right/command", b'{"action":"cut","delay_s":600}', qos=1)
        await wait_for(lambda: w.on(f"{base}/right/result"), timeout=5)
        await wait_for(lambda: any(s["deadline"] for s in w.json_on(f"{base}/right/state")), timeout=5)
        state = [s for s in w.json_on(f"{base}/right/state") if s["deadline"]][-1]
        assert 590 <= state["time_left_s"] <= 600
    assert rig.timers.deadline("right") is not None


async def test_discovery_and_rediscovery_on_ha_birth(linked: tuple[Rig, MqttLink, str], broker: Any) -> None:
    rig, link, base = linked
    prefix = f"{base}-ha"
    n = sum(len(discovery_messages(link.mqtt, b)) for b in rig.cfg.burners)  # entities x 2 burners
    async with Watcher(broker.host, broker.port) as w:
        await w.client.subscribe(f"{prefix}/+/+/+/config")
        await wait_for(lambda: len(w.messages) >= n, timeout=5)  # retained
        configs = {str(m.topic): json.loads(m.payload) for m in w.messages}
        valve = configs[f"{prefix}/valve/coolstove_left/gas/config"]
        assert valve["device_class"] == "gas"
        assert valve["payload_open"] is None, "Home Assistant must offer no way to open the gas"
        assert json.loads(valve["payload_close"]) == {"action": "cut"}
        assert valve["command_topic"] == f"{base}/left/command"
        kinds = {t.split("/")[1] for t in configs}
        assert kinds >= {"valve", "button", "number", "sensor", "binary_sensor"}
        assert all(c["availability"][0]["topic"] == f"{base}/status" for c in configs.values())
        before = len(w.messages)
        await w.client.publish(f"{prefix}/status", b"online", qos=1)
        await wait_for(lambda: len(w.messages) >= before + n, timeout=5)


async def test_flame_input_cuts_after_the_limit(linked: tuple[Rig, MqttLink, str], broker: Any) -> None:
    rig, _, base = linked
    async with Watcher(broker.host, broker.port) as w:
        await w.client.subscribe(f"{base}/+/event")
        await w.client.publish(f"{base}/hood", b"ON", qos=1)
        await wait_for(lambda: any(h[1] for h in rig.relays["left"].history), timeout=5)
        await wait_for(lambda: w.on(f"{base}/all/event"), timeout=5)
        assert w.json_on(f"{base}/all/event")[0]["event"] == "cut_after_burning"
    await rig.stove.wait_idle()
    log = await rig.stove.audit.recent(limit=10)
    assert any(e.source == "flame" for e in log)
