"""The daemon's MQTT interface: commands in, retained state and results out (aiomqtt 2.x).

Topics (``<base>`` is ``[mqtt] base_topic``):

- ``<base>/<burner>/command`` and ``<base>/all/command``: JSON commands. A
  retained command is refused (it would replay on every reconnect).
- ``<base>/<burner>/state``: retained JSON state; ``<base>/<burner>/result``:
  one result or error message per command.
- ``<base>/status``: ``online``/``offline`` availability, ``offline`` being
  the last will too.
- ``<discovery_prefix>/status``: Home Assistant's birth message; ``online``
  re-sends discovery and state.

aiomqtt has no automatic reconnection: :meth:`run` is the reconnect loop,
with capped backoff, and re-subscribes and re-publishes after each connect.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from typing import Any

import aiomqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from daemon.config import Config
from daemon.errors import InputError
from devices.commands import MAX_PAYLOAD, parse_command
from devices.hass import discovery_messages
from devices.stove import Stove

__all__ = ["MqttLink"]

_LOGGER = logging.getLogger(__name__)
logging.getLogger("mqtt").setLevel(logging.WARNING)


class MqttLink:
    def __init__(self, cfg: Config, stove: Stove, flame: Any = None) -> None:
        self.cfg = cfg
        self.mqtt = cfg.mqtt
        self.stove = stove
        self.flame = flame
        self.base = self.mqtt.base_topic
        self.client: aiomqtt.Client | None = None
        self.connected = asyncio.Event()
        self.ready = asyncio.Event()  # subscribed, online, discovery and state published
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False
        stove.add_listener(self.publish_state)

    # ------------------------------------------------------------ connection
    def _client(self) -> aiomqtt.Client:
        return aiomqtt.Client(
            self.mqtt.host,
            self.mqtt.port,
            username=self.mqtt.username,
            password=self.mqtt.password,
            identifier=f"coolstove-{self.base}-{random.getrandbits(32):08x}",
            keepalive=self.mqtt.keepalive,
            will=aiomqtt.Will(f"{self.base}/status", b"offline", qos=1, retain=True),
            timeout=10,
            protocol=aiomqtt.ProtocolVersion.V5,  # for retain-as-published, see _on_connect
        )

    async def run(self) -> None:
        """Connect, serve, reconnect with backoff; returns only when cancelled."""
        delay = 1.0
        failing = False
        while not self._stopping:
            client = self._client()
            try:
                async with client:
                    self.client = client
                    self.connected.set()
                    await self._on_connect(client)
                    self.ready.set()
                    if failing:
                        _LOGGER.info("MQTT broker %s:%s reachable again", self.mqtt.host, self.mqtt.port)
                    failing, delay = False, 1.0
                    async for message in client.messages:
                        self._dispatch(message)
            except aiomqtt.MqttError as exc:
                if not failing:
                    _LOGGER.warning("MQTT broker %s:%s lost: %s", self.mqtt.host, self.mqtt.port, exc)
                failing = True
            finally:
                self.connected.clear()
                self.ready.clear()
                self.client = None
            if self._stopping:
                return
            await asyncio.sleep(delay * (0.8 + 0.4 * random.random()))
            delay = min(delay * 2, 30.0)

    async def _on_connect(self, client: aiomqtt.Client) -> None:
        # MQTT 5 "retain as published": a command published with the retain flag
        # reaches us flagged even while we are subscribed, so it can be refused
        # the first time, not only when the broker replays it after a reconnect.
        await client.subscribe(f"{self.base}/+/command", options=SubscribeOptions(qos=1, retainAsPublished=True))
        await client.subscribe(f"{self.mqtt.discovery_prefix}/status", qos=1)
        if self.flame is not None and self.cfg.flame.topic:
            await client.subscribe(self.cfg.flame.topic, qos=1)
        await client.publish(f"{self.base}/status", b"online", qos=1, retain=True)
        await self.publish_discovery()
        for name in self.stove.names:
            await self.publish_state(name)

    async def close(self) -> None:
        """Say ``offline`` and disconnect (after the stove has released its relays)."""
        self._stopping = True
        client = self.client
        if client is not None and self.connected.is_set():
            with contextlib.suppress(aiomqtt.MqttError, asyncio.TimeoutError):
                await asyncio.wait_for(
                    client.publish(f"{self.base}/status", b"offline", qos=1, retain=True), timeout=3
                )
        for task in list(self._tasks):
            task.cancel()

    # ------------------------------------------------------------ publishing
    async def _publish(self, topic: str, payload: str | bytes, *, retain: bool = False) -> None:
        client = self.client
        if client is None or not self.connected.is_set():
            return
        try:
            await client.publish(topic, payload, qos=1, retain=retain)
        except aiomqtt.MqttError as exc:
            _LOGGER.debug("publish to %s failed: %s", topic, exc)

    async def publish_state(self, name: str) -> None:
        await self._publish(f"{self.base}/{name}/state", json.dumps(self.stove.status(name)), retain=True)

    async def publish_discovery(self) -> None:
        for burner in self.cfg.burners:
            for topic, payload in discovery_messages(self.mqtt, burner):
                await self._publish(topic, payload, retain=True)

    async def publish_event(self, name: str, event: dict[str, Any]) -> None:
        await self._publish(f"{self.base}/{name}/event", json.dumps(event))

    # ------------------------------------------------------------ incoming
    def _dispatch(self, message: aiomqtt.Message) -> None:
        topic = str(message.topic)
        task = asyncio.ensure_future(self._handle(topic, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, topic: str, message: aiomqtt.Message) -> None:
        payload = message.payload if isinstance(message.payload, bytes) else str(message.payload or "").encode()
        try:
            if topic == f"{self.mqtt.discovery_prefix}/status":
                if payload.strip() == b"online":
                    _LOGGER.info("Home Assistant came online: re-sending discovery and state")
                    await self.publish_discovery()
                    for name in self.stove.names:
                        await self.publish_state(name)
                return
            if self.flame is not None and topic == self.cfg.flame.topic:
                await self.flame.observe(payload[:256])
                return
            if topic.startswith(self.base + "/") and topic.endswith("/command"):
                await self._command(topic[len(self.base) + 1 : -len("/command")], payload, message.retain)
        except Exception:  # input must never kill the link
            _LOGGER.exception("error handling MQTT message on %s", topic)

    async def _command(self, burner: str, payload: bytes, retained: bool) -> None:
        t0 = time.perf_counter()
        result_topic = f"{self.base}/{burner if burner in (*self.stove.names, 'all') else 'error'}/result"
        if retained:
            error = "retained command refused: commands must be published without the retain flag"
            await self.stove.reject("mqtt", burner[:64], "?", error)
            await self._publish(result_topic, json.dumps({"ok": False, "error": error}))
            return
        if len(payload) > MAX_PAYLOAD:
            error = f"command is {len(payload)} bytes; the limit is {MAX_PAYLOAD}"
            await self.stove.reject("mqtt", burner[:64], "?", error)
            await self._publish(result_topic, json.dumps({"ok": False, "error": error}))
            return
        try:
            cmd = parse_command(payload, burners=self.stove.names, burner=burner)
        except InputError as exc:
            await self.stove.reject("mqtt", burner[:64], _guess_action(payload), str(exc))
            await self._publish(result_topic, json.dumps({"ok": False, "error": str(exc)}))
            return
        result = await self.stove.execute(cmd, "mqtt")
        if cmd.request_id is not None:
            result["id"] = cmd.request_id
        result["elapsed_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        await self._publish(result_topic, json.dumps(result))


def _guess_action(payload: bytes) -> str:
    try:
        obj = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return "?"
    action = obj.get("action") if isinstance(obj, dict) else None
    return action[:32] if isinstance(action, str) else "?"
