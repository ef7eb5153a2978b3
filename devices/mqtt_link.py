"""The daemon's MQTT interface: commands in, retained state and results out.

Topics (``<base>`` is ``[mqtt] base_topic``):

- ``<base>/<burner>/command`` and ``<base>/all/command``: JSON commands. A
  retained command is refused (it would replay on every reconnect); clearing
  one (the empty retained publish) is no command and is ignored.
- ``<base>/<burner>/state``: retained JSON state; ``<base>/<burner>/result``:
  one result or error message per command.
- ``<base>/status``: ``online``/``offline`` availability, ``offline`` being
  the last will too (the will belongs to the bus's one client).
- ``<discovery_prefix>/status``: Home Assistant's birth message; ``online``
  re-sends discovery and state, once per burst (debounced).

The link rides on the daemon's one connection (:class:`devices.mqtt_bus.MqttBus`).
Nothing here grows with the input: messages are triaged inline as they
arrive (no task per message). A malformed or refused command is decided at
once by :meth:`MqttLink._refuse`, the one place that both answers on
``/result`` and audits; valid commands go to small bounded queues served by a
fixed set of workers, a cut-now in a queue of its own, so a cut is never
behind a flood of refusals or other commands. What does not fit in a queue is
refused and counted, and written as one audit row per burst.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections import Counter
from typing import Any

import aiomqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from core.config import Config, MqttConfig
from core.errors import DeviceRejected, DeviceUnavailable, InputError
from devices.commands import MAX_PAYLOAD, Command, load_command_json, parse_command
from devices.flame import FlameWatcher
from devices.hass import discovery_messages, retired_configs
from devices.mqtt_bus import MqttBus, make_client
from devices.stove import Stove

__all__ = ["MqttLink", "command_subscription", "probe_broker"]

_LOGGER = logging.getLogger(__name__)
logging.getLogger("mqtt").setLevel(logging.WARNING)


def command_subscription(mqtt: MqttConfig) -> tuple[str, SubscribeOptions]:
    """The command topic filter and its MQTT 5 options (also what ``config check`` tries).

    "Retain as published": a command published with the retain flag reaches
    us flagged even while we are subscribed, so it can be refused the first
    time, not only when the broker replays it after a reconnect.
    """
    return f"{mqtt.base_topic}/+/command", SubscribeOptions(qos=1, retainAsPublished=True)


async def probe_broker(mqtt: MqttConfig) -> None:
    """Connect as the daemon does (same client options, MQTT 5) and subscribe as the link does.

    No will: a check that dies must not announce a running daemon ``offline``. Raises
    ``DeviceUnavailable`` when the broker cannot be reached, ``DeviceRejected`` when it refuses.
    """
    topic, options = command_subscription(mqtt)
    try:
        identifier = f"coolstove-check-{secrets.token_hex(4)}"
        async with make_client(mqtt, identifier=identifier, timeout=5) as client:
            granted = await client.subscribe(topic, options=options, timeout=5)
            await client.unsubscribe(topic, timeout=5)
    except aiomqtt.MqttError as exc:
        raise DeviceUnavailable(str(exc)) from exc
    refused = [code for code in granted if getattr(code, "is_failure", False)]
    if refused:
        raise DeviceRejected(f"the broker refused the subscription to {topic}: {refused[0]}")



class MqttLink:
    #: Valid commands waiting for the worker (cancel, extend, delayed cuts).
    queue_size = 32
    #: Cuts-now waiting for their own worker; a cut in progress makes more of them no-ops.
    urgent_size = 8
    #: Refusals waiting to be audited and answered.
    refusal_size = 256
    #: Flame observations (only the latest few matter).
    flame_size = 16
    #: Home Assistant "online" bursts: re-publish once the burst has been quiet this long,
    ha_settle_s = 1.0
    #: ... or at the latest this long after it began, and never more often than this.
    ha_max_wait_s = 5.0
    ha_min_interval_s = 5.0
    #: Refusals that found even the refusal queue full are written as one row per this window.
    overflow_window_s = 5.0

    def __init__(
        self, cfg: Config, stove: Stove, flame: FlameWatcher | None = None, *, bus: MqttBus | None = None
    ) -> None:
        self.cfg = cfg
        self.mqtt = cfg.mqtt
        self.stove = stove
        self.flame = flame
        self.base = self.mqtt.base_topic
        self._own_bus = bus is None
        self.bus = bus or MqttBus(cfg.mqtt, will=(f"{self.base}/status", b"offline"))
        self.ready = asyncio.Event()  # subscribed, online, discovery and state published
        self.stats: Counter[str] = Counter()
        self.max_queued: Counter[str] = Counter()
        self._queue: asyncio.Queue[tuple[Command, str, float]] = asyncio.Queue(self.queue_size)
        self._urgent: asyncio.Queue[tuple[Command, str, float]] = asyncio.Queue(self.urgent_size)
        self._refusals: asyncio.Queue[tuple[str, str, str, str]] = asyncio.Queue(self.refusal_size)
        self._flame_q: asyncio.Queue[bytes] = asyncio.Queue(self.flame_size)
        self._workers: list[asyncio.Task[None]] = []
        self._busy = 0
        self._attached = False
        self._stopping = False
        self._ha_task: asyncio.Task[None] | None = None
        self._ha_first = self._ha_last = 0.0
        self._ha_published = float("-inf")
        self._overflow = 0
        self._overflow_last = ""
        self._overflow_timer: asyncio.TimerHandle | None = None
        self._overflow_task: asyncio.Task[None] | None = None
        stove.add_listener(self.publish_state)

    @property
    def connected(self) -> asyncio.Event:
        return self.bus.connected

    # ------------------------------------------------------------ lifecycle
    async def attach(self) -> None:
        """Register the link's topics and hooks on the bus and start its workers (idempotent)."""
        if self._attached:
            return
        self._attached = True
        topic, options = command_subscription(self.mqtt)
        await self.bus.subscribe(topic, self._on_command, options=options)
        await self.bus.subscribe(f"{self.mqtt.discovery_prefix}/status", self._on_ha_status, qos=1)
        if self.flame is not None and self.cfg.flame.topic:
            await self.bus.subscribe(self.cfg.flame.topic, self._on_flame, qos=1)
        self.bus.on_connect(self._on_connect)
        self.bus.on_disconnect(self.ready.clear)
        for name, coro in (("urgent", self._command_worker(self._urgent)),
                           ("commands", self._command_worker(self._queue)),
                           ("refusals", self._refusal_worker()),
                           ("flame", self._flame_worker())):
            self._workers.append(asyncio.create_task(coro, name=f"mqtt-link-{name}"))
        if self.bus.connected.is_set():  # the bus came up before the link attached
            with contextlib.suppress(aiomqtt.MqttError):  # lost meanwhile: the reconnect runs the hook
                await self._on_connect()

    async def run(self) -> None:
        """Attach and serve until cancelled (with a bus of its own, also keep it connected)."""
        await self.attach()
        if self._own_bus:
            self.bus.start()
        await asyncio.Future()  # the bus and the workers do the work

    async def _on_connect(self) -> None:
        await self.bus.publish(f"{self.base}/status", b"online", qos=1, retain=True)
        for burner in self.cfg.burners:  # once per connection: the broker forgets them at once
            for topic in retired_configs(self.mqtt, burner, self.cfg.flame):
                await self._publish(topic, b"", retain=True)
        await self.publish_discovery()
        for name in self.stove.names:
            await self.publish_state(name)
        self.ready.set()

    async def close(self) -> None:
        """Say ``offline`` (after the stove has released its relays) and stop the workers."""
        self._stopping = True
        if self.bus.connected.is_set():
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                await self.bus.publish(f"{self.base}/status", b"offline", qos=1, retain=True, timeout=3)
        for task in (*self._workers, self._ha_task):
            if task is not None:
                task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()
        while not self._refusals.empty():  # never audited one by one: count them with the overflow
            _, _, _, error = self._refusals.get_nowait()
            self._count_overflow(error)
        await self._flush_overflow()
        if self._own_bus:
            await self.bus.close()

    def idle(self) -> bool:
        """Nothing queued and no worker busy (for tests and the bench)."""
        queues = (self._queue, self._urgent, self._refusals, self._flame_q)
        return self._busy == 0 and all(q.empty() for q in queues)

    # ------------------------------------------------------------ publishing
    async def _publish(self, topic: str, payload: str | bytes, *, retain: bool = False, qos: int = 1) -> None:
        try:
            await self.bus.publish(topic, payload, qos=qos, retain=retain)
        except aiomqtt.MqttError as exc:
            _LOGGER.debug("publish to %s failed: %s", topic, exc)

    async def publish_state(self, name: str) -> None:
        await self._publish(f"{self.base}/{name}/state", json.dumps(self.stove.status(name)), retain=True)

    async def publish_discovery(self) -> None:
        for burner in self.cfg.burners:
            for topic, payload in discovery_messages(self.mqtt, burner, self.cfg.flame):
                await self._publish(topic, payload, retain=True)

    async def publish_event(self, name: str, event: dict[str, Any]) -> None:
        await self._publish(f"{self.base}/{name}/event", json.dumps(event))

    # ------------------------------------------------------------ incoming (inline, no awaiting)
    def _on_command(self, message: aiomqtt.Message) -> None:
        t0 = time.perf_counter()
        topic = message.topic.value
        burner = topic[len(self.base) + 1 : -len("/command")]
        result_topic = f"{self.base}/{burner if burner in (*self.stove.names, 'all') else 'error'}/result"
        raw = message.payload
        payload = raw if isinstance(raw, bytes | bytearray) else str(raw if raw is not None else "").encode()
        if message.retain and not payload:
            # The standard way to clear a retained message (a retained command someone
            # published by mistake): nothing was asked, so nothing is answered or audited.
            self.stats["cleared"] += 1
            return
        if message.retain:
            self._refuse(result_topic, burner, "?",
                         "retained command refused: commands must be published without the retain flag")
            return
        if len(payload) > MAX_PAYLOAD:
            self._refuse(
                result_topic, burner, "?", f"command is {len(payload)} bytes; the limit is {MAX_PAYLOAD}"
            )
            return
        action = "?"
        try:
            obj = load_command_json(bytes(payload))
            if isinstance(obj, dict) and isinstance(obj.get("action"), str):
                action = obj["action"][:32]
            cmd = parse_command(obj, burners=self.stove.names, burner=burner)
        except InputError as exc:
            self._refuse(result_topic, burner, action, str(exc))
            return
        urgent = cmd.action == "cut" and cmd.delay_s is None and cmd.at is None
        queue = self._urgent if urgent else self._queue
        try:
            queue.put_nowait((cmd, result_topic, t0))
        except asyncio.QueueFull:
            self._refuse(result_topic, burner, cmd.action,
                         f"busy: {queue.qsize()} commands are waiting; try again in a moment")
            return
        self.max_queued["urgent" if urgent else "commands"] = max(
            self.max_queued["urgent" if urgent else "commands"], queue.qsize())

    def _refuse(self, result_topic: str, burner: str, action: str, error: str) -> None:
        """The one place a refused MQTT command is decided: answered on ``/result`` and audited.

        The answer and the audit row are written by the refusal worker, in
        order. When even its queue is full the refusal is counted instead, and
        the count is written as one audit row per burst.
        """
        self.stats["refused"] += 1
        try:
            self._refusals.put_nowait((result_topic, burner[:64], action, error))
        except asyncio.QueueFull:
            self._count_overflow(error)
            return
        self.max_queued["refusals"] = max(self.max_queued["refusals"], self._refusals.qsize())

    def _on_ha_status(self, message: aiomqtt.Message) -> None:
        raw = message.payload
        if not (isinstance(raw, bytes | bytearray) and raw.strip() == b"online"):
            return
        self.stats["ha_online"] += 1
        loop = asyncio.get_running_loop()
        self._ha_last = loop.time()
        if self._ha_task is None or self._ha_task.done():
            self._ha_first = self._ha_last
            self._ha_task = loop.create_task(self._ha_republish(), name="mqtt-ha-republish")

    def _on_flame(self, message: aiomqtt.Message) -> None:
        raw = message.payload
        payload = bytes(raw[:256]) if isinstance(raw, bytes | bytearray) else str(raw)[:256].encode()
        if self._flame_q.full():  # a state, not a command: the newest matters, drop the oldest
            self._flame_q.get_nowait()
            self.stats["flame_dropped"] += 1
        self._flame_q.put_nowait(payload)

    # ------------------------------------------------------------ workers
    async def _command_worker(self, queue: asyncio.Queue[tuple[Command, str, float]]) -> None:
        while True:
            cmd, result_topic, t0 = await queue.get()
            self._busy += 1
            try:
                result = await self.stove.execute(cmd, "mqtt")
                if cmd.request_id is not None:
                    result["id"] = cmd.request_id
                result["elapsed_ms"] = round((time.perf_counter() - t0) * 1000, 1)
                self.stats["executed"] += 1
                await self._publish(result_topic, json.dumps(result))
            except Exception:  # a command must never end the worker
                _LOGGER.exception("MQTT command %s on %s failed", cmd.action, cmd.burner)
            finally:
                self._busy -= 1

    async def _refusal_worker(self) -> None:
        while True:
            result_topic, burner, action, error = await self._refusals.get()
            self._busy += 1
            try:
                # Audited first (rate-limited: mostly a count, no await), then answered at
                # QoS 0 without waiting: under a flood a PUBACK would queue behind the flood.
                await self.stove.reject("mqtt", burner, action, error)
                if self.bus.publish_nowait(result_topic, json.dumps({"ok": False, "error": error})):
                    self.stats["answered"] += 1
                else:
                    self.stats["unanswered"] += 1
            except Exception:
                _LOGGER.exception("could not answer a refused MQTT command")
            finally:
                self._busy -= 1

    async def _flame_worker(self) -> None:
        while True:
            payload = await self._flame_q.get()
            self._busy += 1
            try:
                if self.flame is not None:
                    await self.flame.observe(payload)
            except Exception:
                _LOGGER.exception("flame input failed")
            finally:
                self._busy -= 1

    async def _ha_republish(self) -> None:
        """Wait for the end of a burst of Home Assistant births, then re-send discovery and state once."""
        loop = asyncio.get_running_loop()
        while True:
            due = max(min(self._ha_last + self.ha_settle_s, self._ha_first + self.ha_max_wait_s),
                      self._ha_published + self.ha_min_interval_s)
            if loop.time() >= due:
                break
            await asyncio.sleep(due - loop.time())
        self._ha_published = loop.time()
        self.stats["ha_republished"] += 1
        _LOGGER.info("Home Assistant came online (%d birth message(s)): re-sending discovery and state",
                     self.stats["ha_online"])
        await self.publish_discovery()
        for name in self.stove.names:
            await self.publish_state(name)

    # ------------------------------------------------------------ overflow
    def _count_overflow(self, error: str) -> None:
        self._overflow += 1
        self._overflow_last = error
        self.stats["overflow"] += 1
        if self._overflow_timer is None and not self._stopping:
            loop = asyncio.get_running_loop()
            self._overflow_timer = loop.call_later(self.overflow_window_s, self._end_overflow_window)

    def _end_overflow_window(self) -> None:
        self._overflow_timer = None
        if self._overflow_task is None or self._overflow_task.done():
            self._overflow_task = asyncio.get_running_loop().create_task(self._flush_overflow())

    async def _flush_overflow(self) -> None:
        if self._overflow_timer is not None:
            self._overflow_timer.cancel()
            self._overflow_timer = None
        n, self._overflow = self._overflow, 0
        if not n:
            return
        _LOGGER.warning("MQTT: %d command(s) refused unanswered, the link's queues were full", n)
        await self.stove.audit.record(
            source="mqtt", burner="all", action="overflow", result="rejected",
            detail=f"{n} more refused commands from mqtt, unanswered: the queues were full; "
                   f"last: {self._overflow_last}")
