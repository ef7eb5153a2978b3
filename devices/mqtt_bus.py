"""The daemon's one MQTT connection (aiomqtt 2.x, MQTT 5): every MQTT user registers on it.

The command interface (``devices/mqtt_link.py``) and every MQTT relay
(``devices/mqtt_relay.py``) share this client instead of each keeping its own
connection and reconnect loop. The bus

- connects with MQTT 5 and the options in :func:`make_client` (the same ones
  ``coolstove config check`` uses), with the will (``<base>/status`` =
  ``offline``) when it is given one;
- reconnects with :class:`core.backoff.Backoff`, logging only transitions;
- keeps a topic-filter → handler registry with subscribe options, and
  re-applies every subscription on each connect before it says ``connected``;
- hands each message to the handlers whose filter matches, synchronously,
  straight from paho's read callback (:class:`_DirectClient`): no queue and
  no task per message, so a flood is held back by TCP and the broker's own
  per-client limits instead of growing memory here. Handlers must be quick
  and must not await (queue work if there is any);
- runs connect hooks (``on_connect``) in their own task, so a slow hook (the
  link's discovery) never holds back messages a relay is waiting for.

aiomqtt's own incoming queue is bypassed (and bounded, ``MAX_QUEUED_INCOMING``,
in case a message ever reached it; drops would be counted in
:attr:`MqttBus.dropped_incoming`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiomqtt
from aiomqtt.types import PahoSocket
from paho.mqtt.client import Client as PahoClient
from paho.mqtt.client import MQTTErrorCode, MQTTMessage, topic_matches_sub
from paho.mqtt.subscribeoptions import SubscribeOptions

from core.backoff import Backoff
from core.config import MqttConfig

__all__ = ["MAX_QUEUED_INCOMING", "MqttBus", "daemon_bus", "make_client"]

_LOGGER = logging.getLogger(__name__)
#: Messages aiomqtt may hold before the bus reads them; beyond this it drops (and we count).
MAX_QUEUED_INCOMING = 10_000
_ROUTE_CACHE_SIZE = 1024
#: Fire-and-forget publishes are refused while paho has this many packets waiting to be written.
MAX_OUTGOING_BACKLOG = 1_000
#: Commands are tiny and latency matters (a cut): do not let Nagle hold them back.
_NODELAY = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)

Handler = Callable[[aiomqtt.Message], None]
Hook = Callable[[], Awaitable[None]]


class _DropCounter(logging.Filter):
    """aiomqtt logs each message it drops from a full queue; count them instead of flooding the journal."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith("Message queue is full"):
            self.dropped += 1
            return self.dropped == 1 or self.dropped % 10_000 == 0
        return True


_PAHO_LOGGER = logging.getLogger("mqtt.coolstove")  # a child of aiomqtt's "mqtt" logger (kept at WARNING)
_DROPS = _DropCounter()
_PAHO_LOGGER.addFilter(_DROPS)


class _DirectClient(aiomqtt.Client):
    """aiomqtt's client, with each message handed to ``deliver`` inside paho's read callback.

    aiomqtt 2.5 puts every message in an unbounded queue and its iterator
    spawns a task per ``__anext__``; under a flood that costs more than the
    messages do. Delivering inline means reading only as fast as the handlers
    keep up. And where aiomqtt's reader reads one packet per readable event
    (paho's ``loop_read`` ignores its ``max_packets``), this one reads up to
    ``READ_BATCH`` packets per event: one loop turn per message made the
    daemon spend most of a flood in the event loop itself.
    """

    # Packets per readable event: more means fewer loop turns under a flood, fewer means a cut's
    # task waits behind a shorter batch (bench_stove: at a 2,000/s flood, 256 gave p99 128 ms, 32 gave 40 ms).
    READ_BATCH = 32

    def __init__(self, *args: Any, deliver: Handler | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deliver = deliver

    def _on_socket_open(self, client: PahoClient, userdata: Any, sock: PahoSocket) -> None:
        def callback() -> None:
            try:
                for _ in range(self.READ_BATCH):
                    if client._sock is None:
                        return
                    rc = client._packet_read()  # what loop_read does, without its 1-packet cap
                    if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                        return
                    if rc > 0:
                        client._loop_rc_handle(rc)
                        return
            except Exception as exc:  # a broken socket: the connection is over (as aiomqtt does)
                if not self._disconnected.done():
                    self._disconnected.set_exception(exc)

        def create_misc_task() -> None:
            self._misc_task = self._loop.create_task(self._misc_loop())

        self._loop.call_soon_threadsafe(self._loop.add_reader, sock.fileno(), callback)
        self._loop.call_soon_threadsafe(create_misc_task)

    def _on_message(self, client: PahoClient, userdata: Any, message: MQTTMessage) -> None:
        if self._deliver is None:
            super()._on_message(client, userdata, message)
            return
        try:
            self._deliver(aiomqtt.Message._from_paho_message(message))  # aiomqtt's own conversion
        except Exception:  # paho would re-raise out of its read loop and drop the connection
            _LOGGER.exception("cannot deliver an MQTT message")


def make_client(
    mqtt: MqttConfig,
    *,
    identifier: str | None = None,
    will: tuple[str, bytes] | None = None,
    timeout: float = 10.0,
    deliver: Handler | None = None,
) -> aiomqtt.Client:
    """The daemon's MQTT client: MQTT 5, no Nagle, bounded incoming queue, optional retained will.

    With ``deliver``, messages go to it as they are read instead of to ``client.messages``.
    """
    return _DirectClient(
        mqtt.host,
        mqtt.port,
        username=mqtt.username,
        password=mqtt.password,
        identifier=identifier or f"coolstove-{mqtt.base_topic}-{secrets.token_hex(4)}",
        keepalive=mqtt.keepalive,
        will=None if will is None else aiomqtt.Will(will[0], will[1], qos=1, retain=True),
        timeout=timeout,
        protocol=aiomqtt.ProtocolVersion.V5,  # retain-as-published on the command topics
        socket_options=_NODELAY,
        max_queued_incoming_messages=MAX_QUEUED_INCOMING,
        logger=_PAHO_LOGGER,
        deliver=deliver,
    )


def daemon_bus(mqtt: MqttConfig) -> MqttBus:
    """The daemon's one connection: its will is ``<base>/status`` = ``offline`` (retained)."""
    return MqttBus(mqtt, will=(f"{mqtt.base_topic}/status", b"offline"))


@dataclass
class _Subscription:
    qos: int
    options: SubscribeOptions | None
    handlers: list[Handler]


class MqttBus:
    """One aiomqtt client for the whole daemon; see the module docstring."""

    def __init__(
        self,
        mqtt: MqttConfig,
        *,
        will: tuple[str, bytes] | None = None,
        backoff: Backoff | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.mqtt = mqtt
        self.will = will
        self.timeout = timeout
        self.backoff = backoff or Backoff(initial=0.5, maximum=30.0)
        self.connected = asyncio.Event()
        self.last_error: str | None = None
        self.connections = 0
        self._client: aiomqtt.Client | None = None
        self._subs: dict[str, _Subscription] = {}
        self._route_cache: dict[str, list[tuple[str, Handler]]] = {}
        self._sub_lock = asyncio.Lock()
        self._connect_hooks: list[Hook] = []
        self._disconnect_hooks: list[Callable[[], None]] = []
        self._runner: asyncio.Task[None] | None = None
        self._hook_task: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def address(self) -> str:
        return f"{self.mqtt.host}:{self.mqtt.port}"

    @property
    def dropped_incoming(self) -> int:
        return _DROPS.dropped

    # ------------------------------------------------------------ registry
    async def subscribe(self, topic: str, handler: Handler, *, qos: int = 1,
                        options: SubscribeOptions | None = None) -> None:
        """Deliver messages on ``topic`` (a filter) to ``handler``, now and after every reconnect.

        Never fails because the broker is down: the subscription is applied on
        the next connect.
        """
        async with self._sub_lock:
            sub = self._subs.get(topic)
            self._route_cache.clear()
            if sub is not None:
                if handler not in sub.handlers:
                    sub.handlers.append(handler)
                return
            self._subs[topic] = _Subscription(qos, options, [handler])
            client = self._client
            if client is not None:
                with contextlib.suppress(aiomqtt.MqttError):  # the reconnect re-applies it
                    await self._apply(client, topic, self._subs[topic])

    async def unsubscribe(self, topic: str, handler: Handler) -> None:
        async with self._sub_lock:
            sub = self._subs.get(topic)
            if sub is None or handler not in sub.handlers:
                return
            sub.handlers.remove(handler)
            self._route_cache.clear()
            if sub.handlers:
                return
            del self._subs[topic]
            client = self._client
            if client is not None:
                with contextlib.suppress(aiomqtt.MqttError):
                    await client.unsubscribe(topic, timeout=self.timeout)

    async def _apply(self, client: aiomqtt.Client, topic: str, sub: _Subscription) -> None:
        if sub.options is not None:
            await client.subscribe(topic, options=sub.options, timeout=self.timeout)
        else:
            await client.subscribe(topic, qos=sub.qos, timeout=self.timeout)

    def on_connect(self, hook: Hook) -> None:
        """``await hook()`` after each connect, once every subscription is in place."""
        self._connect_hooks.append(hook)

    def on_disconnect(self, hook: Callable[[], None]) -> None:
        self._disconnect_hooks.append(hook)

    # ------------------------------------------------------------ publishing
    async def publish(self, topic: str, payload: str | bytes, *, qos: int = 1, retain: bool = False,
                      timeout: float | None = None) -> None:  # noqa: ASYNC109 - timeout is the API
        """Publish; raises ``aiomqtt.MqttError`` when not connected or the broker does not ack."""
        client = self._client
        if client is None or not self.connected.is_set():
            raise aiomqtt.MqttError(f"not connected to the MQTT broker {self.address}")
        await client.publish(topic, payload, qos=qos, retain=retain,
                             timeout=self.timeout if timeout is None else timeout)

    def publish_nowait(self, topic: str, payload: str | bytes) -> bool:
        """Fire-and-forget QoS 0 publish; False (nothing sent) when not connected or backed up.

        For answers that must not wait (refusals under a flood): aiomqtt's
        ``publish`` waits a loop turn even at QoS 0. paho's outgoing buffer is
        checked first, so this never grows memory when the broker reads slowly.
        """
        client = self._client
        if client is None or not self.connected.is_set():
            return False
        paho_client = client._client  # the one place coolstove reaches under aiomqtt
        if len(paho_client._out_packet) >= MAX_OUTGOING_BACKLOG:
            return False
        info = paho_client.publish(topic, payload, qos=0)
        return info.rc == 0

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Run the connection in the background (idempotent); never waits for the broker."""
        if self._runner is None or self._runner.done():
            self._closing = False
            self._runner = asyncio.get_running_loop().create_task(self.run(), name="mqtt-bus")

    async def wait_connected(self, timeout: float) -> bool:  # noqa: ASYNC109 - timeout is the API
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.connected.wait()
        return self.connected.is_set()

    async def close(self) -> None:
        """Disconnect cleanly (no will) and stop reconnecting."""
        self._closing = True
        for task in (self._hook_task, self._runner):
            if task is None or task is asyncio.current_task():
                continue
            # aiomqtt's connect can swallow one cancellation (it lands inside its own
            # wait for CONNACK), so cancel until the task has really ended.
            while not task.done():
                task.cancel()
                await asyncio.wait([task], timeout=0.5)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                task.result()
        self._runner = self._hook_task = None

    async def run(self) -> None:
        """Connect, serve, reconnect with backoff; returns only when closed or cancelled."""
        failing = False
        while not self._closing:
            client = make_client(self.mqtt, will=self.will, timeout=self.timeout, deliver=self._deliver)
            try:
                async with client:
                    async with self._sub_lock:
                        self._client = client
                        for topic, sub in list(self._subs.items()):
                            await self._apply(client, topic, sub)
                    if self._closing:  # closed while connecting: leave without serving
                        return
                    self.connections += 1
                    self.connected.set()
                    self.backoff.reset()
                    if failing:
                        _LOGGER.info("MQTT broker %s reachable again", self.address)
                    elif self.connections == 1:
                        _LOGGER.info("connected to MQTT broker %s", self.address)
                    failing, self.last_error = False, None
                    self._hook_task = asyncio.create_task(self._run_hooks(), name="mqtt-bus-hooks")
                    async for message in client.messages:  # only ends (MqttError) when the connection does
                        self._deliver(message)
            except aiomqtt.MqttError as exc:
                self.last_error = str(exc) or type(exc).__name__
                if not failing:
                    _LOGGER.warning("MQTT broker %s unavailable: %s", self.address, self.last_error)
                failing = True
            except Exception as exc:  # never let the connection die: relays and commands depend on it
                self.last_error = str(exc) or type(exc).__name__
                _LOGGER.exception("MQTT connection to %s failed unexpectedly", self.address)
                failing = True
            finally:
                self._client = None
                self.connected.clear()
                if self._hook_task is not None:
                    self._hook_task.cancel()
                    self._hook_task = None
                for hook in self._disconnect_hooks:
                    with contextlib.suppress(Exception):
                        hook()
            if self._closing:
                return
            await self.backoff.sleep()

    async def _run_hooks(self) -> None:
        for hook in list(self._connect_hooks):
            try:
                await hook()
            except aiomqtt.MqttError as exc:
                _LOGGER.debug("MQTT connect hook failed: %s", exc)
                return
            except Exception:
                _LOGGER.exception("MQTT connect hook failed")

    def _handlers(self, topic: str) -> list[tuple[str, Handler]]:
        """Handlers for a topic, cached (bounded; cleared whenever the registry changes)."""
        found = self._route_cache.get(topic)
        if found is None:
            found = [(pattern, handler) for pattern, sub in self._subs.items()
                     if pattern == topic or topic_matches_sub(pattern, topic) for handler in sub.handlers]
            if len(self._route_cache) >= _ROUTE_CACHE_SIZE:
                self._route_cache.clear()
            self._route_cache[topic] = found
        return found

    def _deliver(self, message: aiomqtt.Message) -> None:
        for pattern, handler in self._handlers(message.topic.value):
            try:
                handler(message)
            except Exception:  # one bad handler or message never ends the connection
                _LOGGER.exception("MQTT handler for %s failed", pattern)
