"""A relay channel behind MQTT: Tasmota or zigbee2mqtt.

The driver talks through the daemon's one MQTT connection
(:class:`devices.mqtt_bus.MqttBus`), registering its topics there; given only
an ``MqttConfig`` (``coolstove config check``, tests) it owns a bus of its own.
``start()`` never fails because the broker is down. ``read()`` and ``set()`` publish a command and
wait for the device's own report; they raise ``DeviceUnavailable`` at once
while the broker is unreachable (after waiting ``timeout_s`` for a
reconnect), and when the device does not answer within ``timeout_s`` per
attempt (``retries + 1`` attempts). A device that answers with the wrong state
is ``DeviceRejected``. Commands are never retained: a retained "ON" would
cut the gas again on every device reconnect.

Tasmota (``command_topic`` = the device topic ``<t>``, ``power_index`` = i; the
default ``full_topic`` ``%prefix%/%topic%/`` shown)::

    cmnd/<t>/PulseTime<i>  <encoded seconds>   only when auto_off_s is given, before ON
    cmnd/<t>/POWER<i>      ON | OFF | ""       "" is a query
    stat/<t>/POWER<i>      ON | OFF | {"POWER<i>":"ON"}   (stat/<t>/POWER on one-relay devices)
    stat/<t>/RESULT        {"POWER<i>":"ON"} / {"PulseTime<i>":{"Set":n,...}}   (SetOption4 0)
    stat/<t>/PULSETIME     {"PulseTime<i>":{"Set":n,...}}   (SetOption4 1; PULSETIME<i> is taken too)
    tele/<t>/LWT           Online | Offline

Every topic follows ``full_topic`` (Tasmota's ``FullTopic``): ``home/%topic%/%prefix%/``
puts the Last Will at ``home/<t>/tele/LWT``. ``state_topic`` instead replaces only the
``stat/<t>`` prefix (the older way to say where reports go).

zigbee2mqtt (``command_topic`` = ``zigbee2mqtt/<friendly name>``)::

    <ct>/set  {"state":"ON","on_time":N}  (on_time only when auto_off_s is given) / {"state":"OFF"}
    <ct>/get  {"state":""}
    <ct>      the device's JSON state (or ``state_topic``)

The key is ``state``; ``state_<endpoint>`` with ``endpoint`` set (a multi-gang device:
``state_l1``, ``state_l2``…), and ``state_l<i>`` for ``power_index`` i > 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiomqtt

from core.backoff import Backoff
from core.config import MqttBurner, MqttConfig
from core.errors import ConfigError, DeviceRejected, DeviceUnavailable
from devices.mqtt_bus import MqttBus
from devices.relay import Relay

__all__ = ["MqttRelay", "tasmota_pulse_time", "zigbee_on_time"]

_LOGGER = logging.getLogger(__name__)

TASMOTA_MAX_PULSE_S = 64800  # PulseTime 64900 = 64900 - 100 seconds
ZIGBEE_MAX_ON_TIME_S = 6553.5  # ZCL OnWithTimedOff: uint16 tenths of a second
_TWIN_WAIT_S = 0.25


def tasmota_pulse_time(seconds: float) -> int:
    """Tasmota's ``PulseTime`` value for a pulse of ``seconds``.

    ``1..111`` are tenths of a second (0.1 … 11.1 s); ``112..64900`` are whole
    seconds plus 100 (``113`` = 13 s). Short pulses round to the nearest
    tenth (at least 1, since 0 disables the pulse); longer ones round up to the
    next second, so the device never releases earlier than asked.
    """
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"a pulse must be a positive number of seconds, got {seconds!r}")
    if seconds > TASMOTA_MAX_PULSE_S:
        raise ValueError(f"Tasmota pulses are at most {TASMOTA_MAX_PULSE_S} s, got {seconds:g}")
    if round(seconds, 6) <= 11.1:
        return max(1, round(seconds * 10))
    return max(112, math.ceil(round(seconds, 6)) + 100)


def zigbee_on_time(seconds: float) -> int | float:
    """zigbee2mqtt's ``on_time`` (seconds, the device counts tenths)."""
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"on_time must be a positive number of seconds, got {seconds!r}")
    if seconds > ZIGBEE_MAX_ON_TIME_S:
        raise ValueError(f"zigbee on_time is at most {ZIGBEE_MAX_ON_TIME_S} s, got {seconds:g}")
    tenths = max(1, math.ceil(round(seconds * 10, 6)))
    return tenths // 10 if tenths % 10 == 0 else tenths / 10


@dataclass
class _Waiter:
    kind: str
    accept: Callable[[Any], bool]
    future: asyncio.Future[Any]
    seen: list[Any] = field(default_factory=list)


class MqttRelay(Relay):
    """``Relay`` on a Tasmota or zigbee2mqtt device (``driver = "mqtt"``)."""

    def __init__(
        self,
        burner: MqttBurner,
        mqtt: MqttConfig | MqttBus | None,
        *,
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 30.0,
    ) -> None:
        if mqtt is None:
            raise ConfigError(f"burner {burner.name!r}: driver mqtt needs the [mqtt] section")
        if burner.flavour not in ("tasmota", "zigbee2mqtt"):
            raise ConfigError(f"burner {burner.name!r}: unknown mqtt flavour {burner.flavour!r}")
        if not burner.command_topic:
            raise ConfigError(f"burner {burner.name!r}: driver mqtt needs command_topic")
        self.name = burner.name
        self.cfg = burner
        if isinstance(mqtt, MqttBus):
            self.bus, self._own_bus = mqtt, False
        else:
            backoff = Backoff(initial=reconnect_min_s, maximum=max(reconnect_min_s, reconnect_max_s))
            self.bus = MqttBus(mqtt, backoff=backoff, timeout=max(2.0, burner.timeout_s))
            self._own_bus = True
        self.mqtt = self.bus.mqtt
        self.flavour = burner.flavour
        self.timeout_s = burner.timeout_s
        self.attempts = burner.retries + 1
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        #: Tasmota's PulseTime is device-side; zigbee on_time depends on the firmware, so it is not promised.
        self.has_device_pulse = self.flavour == "tasmota"
        #: Last availability the device announced (Tasmota LWT, zigbee2mqtt availability); None = unknown.
        self.device_online: bool | None = None
        #: Last coil state the device reported, asked or not.
        self.last_reported: bool | None = None
        t, i = burner.command_topic.rstrip("/"), burner.power_index
        if self.flavour == "tasmota":
            state_topic = burner.state_topic

            def stat(leaf: str) -> str:
                if state_topic:
                    return f"{state_topic.rstrip('/')}/{leaf}"
                return burner.tasmota_topic("stat", leaf)

            self._power_cmd = burner.tasmota_topic("cmnd", f"POWER{i}")
            self._pulse_cmd = burner.tasmota_topic("cmnd", f"PulseTime{i}")
            # SetOption4 1 answers a power change on stat/<t>/POWER<i> (JSON, then the word), as without it
            self._power_topics = {stat(f"POWER{i}")} | ({stat("POWER")} if i == 1 else set())
            self._power_keys = {f"power{i}"} | ({"power"} if i == 1 else set())
            self._pulse_key = f"pulsetime{i}"
            # SetOption4 0: stat/<t>/RESULT; 1: stat/<t>/<COMMAND>, which Tasmota spells without the index
            # (PULSETIME); PULSETIME<i> is taken too. The JSON key says which relay it is about.
            self._result_topics = {stat("RESULT"), stat("PULSETIME"), stat(f"PULSETIME{i}")}
            self._avail_topic = burner.tasmota_topic("tele", "LWT")
            self._subscriptions = sorted({*self._power_topics, *self._result_topics, self._avail_topic})
        else:
            self._set_topic = f"{t}/set"
            self._get_topic = f"{t}/get"
            self._state_topic = (burner.state_topic or t).rstrip("/")
            self._state_key = burner.state_key
            self._avail_topic = f"{t}/availability"
            self._subscriptions = sorted({self._state_topic, self._avail_topic})
        self._subscribed = False
        self._waiters: list[_Waiter] = []
        self._op_lock = asyncio.Lock()
        self._dual: bool | None = None  # see _learn_twins
        self._words_seen = 0
        self._word_event = asyncio.Event()

    def __repr__(self) -> str:
        return f"<MqttRelay {self.name} {self.flavour} {self.cfg.command_topic}>"

    @property
    def connected(self) -> bool:
        return self._subscribed and self.bus.connected.is_set()

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Register on the bus; wait up to ``timeout_s`` for a connection, never fail."""
        if not self._subscribed:
            self._subscribed = True
            for topic in self._subscriptions:
                await self.bus.subscribe(topic, self._on_message, qos=1)
            self.bus.on_connect(self._on_connect)
        if self._own_bus:
            self.bus.start()
        await self.bus.wait_connected(self.timeout_s)

    async def _on_connect(self) -> None:
        self._dual = None  # relearn: the device may have been reconfigured meanwhile

    async def stop(self) -> None:
        if self._subscribed:
            self._subscribed = False
            for topic in self._subscriptions:
                await self.bus.unsubscribe(topic, self._on_message)
        if self._own_bus:
            await self.bus.close()
        for w in self._waiters:
            if not w.future.done():
                w.future.set_exception(DeviceUnavailable(f"{self.name}: relay stopped"))

    # ------------------------------------------------------------ incoming
    def _on_message(self, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        raw = message.payload
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes | bytearray) else str(raw or "")
        for kind, value, form in self._parse(topic, text):
            if kind == "online":
                self.device_online = value
                continue
            if kind == "power":
                self.last_reported = value
                if form == "word":
                    self._words_seen += 1
                    self._word_event.set()
                elif self._dual:
                    continue  # its twin (the plain word) follows and is the one that answers
            if message.retain:
                continue  # old news: never confirms a command
            for w in self._waiters:
                if w.kind == kind and not w.future.done():
                    if w.accept(value):
                        w.future.set_result((value, form))
                    else:
                        w.seen.append(value)

    def _parse(self, topic: str, text: str) -> list[tuple[str, Any, str]]:
        """Events in a message: (kind, value, form); form "json" or "word" tells Tasmota's twins apart."""
        if topic == self._avail_topic:
            state: Any = text.strip()
            with contextlib.suppress(ValueError, AttributeError):
                state = json.loads(state).get("state", "")
            return [("online", str(state).lower() == "online", "word")]
        if self.flavour == "tasmota":
            if topic not in self._power_topics and topic not in self._result_topics:
                return []
            data = _json_object(text)
            if not data:
                power = _power_word(text) if topic in self._power_topics else None
                return [] if power is None else [("power", power, "word")]
            events: list[tuple[str, Any, str]] = []
            for key, value in data.items():
                if key.lower() in self._power_keys:
                    power = _power_word(str(value))
                    if power is not None:
                        events.append(("power", power, "json"))
                elif key.lower() == self._pulse_key:
                    events.append(("pulsetime", value, "json"))
            return events
        if topic == self._state_topic:
            value = _json_object(text).get(self._state_key)
            power = _power_word(str(value)) if value is not None else None
            return [] if power is None else [("power", power, "json")]
        return []

    # ------------------------------------------------------------ request/response
    async def _exchange(
        self, topic: str, payload: str, kind: str, accept: Callable[[Any], bool], what: str,
        *, attempts: int | None = None,
    ) -> Any:
        """Publish ``payload`` and wait for an accepted report; retried ``attempts`` times."""
        loop = asyncio.get_running_loop()
        seen: list[Any] = []
        problem = "no answer"
        attempts = attempts or self.attempts
        for _ in range(attempts):
            await self._connected_or_raise(what)
            waiter = _Waiter(kind, accept, loop.create_future())
            self._waiters.append(waiter)
            words_before = self._words_seen
            try:
                await self.bus.publish(topic, payload, qos=1, retain=False, timeout=self.timeout_s)
                async with asyncio.timeout(self.timeout_s):
                    value, form = await waiter.future
            except TimeoutError:
                problem = f"no answer within {self.timeout_s:g} s"
                continue
            except aiomqtt.MqttError as exc:
                problem = f"MQTT error: {exc}"
                continue
            finally:
                self._waiters.remove(waiter)
                seen.extend(waiter.seen)
            if kind == "power" and self._dual is None and self.flavour == "tasmota":
                await self._learn_twins(form, words_before)
            return value
        if seen:
            raise DeviceRejected(f"{self.name}: {what}: the device reported {seen[-1]!r} instead")
        offline = " (the device announced it is offline)" if self.device_online is False else ""
        raise DeviceUnavailable(f"{self.name}: {what}: {problem}, {attempts} attempt(s){offline}")

    async def _learn_twins(self, form: str, words_before: int) -> None:
        """Does this Tasmota report each power change twice (RESULT JSON, then the plain word)?

        By default it does; ``SetOption90 1`` drops the plain word. A twin that
        arrives after its answer would be taken as the answer to the next
        command, so once twins are seen only the plain word (always the second
        one) answers. Learnt on the first power answer: a JSON answer waits a
        moment for its plain twin.
        """
        if form == "word":
            self._dual = False  # the plain word came first: no JSON twin is on its way
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_TWIN_WAIT_S):
                while self._words_seen == words_before:
                    self._word_event.clear()
                    await self._word_event.wait()
        self._dual = self._words_seen != words_before
        _LOGGER.debug("%s: Tasmota reports power %s",
                      self.name, "twice" if self._dual else "once (JSON only)")

    async def _connected_or_raise(self, what: str) -> None:
        if not self._subscribed:
            raise DeviceUnavailable(f"{self.name}: {what}: relay stopped")
        if not await self.bus.wait_connected(self.timeout_s):
            reason = f": {self.bus.last_error}" if self.bus.last_error else ""
            raise DeviceUnavailable(
                f"{self.name}: {what}: not connected to the MQTT broker {self.bus.address}{reason}")

    # ------------------------------------------------------------ the coil
    async def set(self, on: bool, *, auto_off_s: float | None = None) -> None:
        want = bool(on)
        word = "ON" if want else "OFF"
        async with self._op_lock:
            if self.flavour == "tasmota":
                if want and auto_off_s is not None:
                    await self._tasmota_pulse(auto_off_s)
                what = f"POWER{self.cfg.power_index} {word}"
                await self._exchange(self._power_cmd, word, "power", lambda v: v is want, what)
            else:
                body: dict[str, Any] = {self._state_key: word}
                if want and auto_off_s is not None:
                    body["on_time"] = zigbee_on_time(min(auto_off_s, ZIGBEE_MAX_ON_TIME_S))
                await self._exchange(self._set_topic, json.dumps(body), "power", lambda v: v is want,
                                     f"set {word}")

    async def _tasmota_pulse(self, auto_off_s: float) -> None:
        """Set PulseTime before ON; an unconfirmed PulseTime is logged and the cut goes on."""
        value = tasmota_pulse_time(min(auto_off_s, TASMOTA_MAX_PULSE_S))  # too long: the longest there is
        try:
            answer = await self._exchange(self._pulse_cmd, str(value), "pulsetime", lambda v: True,
                                          f"PulseTime{self.cfg.power_index} {value}", attempts=1)
        except DeviceUnavailable as exc:
            if not self.bus.connected.is_set():
                raise
            _LOGGER.warning("%s: PulseTime not confirmed, cutting anyway: %s", self.name, exc)
            return
        confirmed = answer.get("Set") if isinstance(answer, dict) else answer
        if isinstance(confirmed, int | float | str) and str(confirmed).split(" ")[0] != str(value):
            _LOGGER.warning("%s: asked PulseTime %s, device set %s", self.name, value, confirmed)

    async def read(self) -> bool:
        async with self._op_lock:
            if self.flavour == "tasmota":
                return bool(await self._exchange(self._power_cmd, "", "power", lambda v: True,
                                                 f"POWER{self.cfg.power_index} query"))
            body = json.dumps({self._state_key: ""})
            return bool(await self._exchange(self._get_topic, body, "power", lambda v: True, "get state"))


def _power_word(text: str) -> bool | None:
    word = text.strip().lower()
    if word in ("on", "1", "true"):
        return True
    if word in ("off", "0", "false"):
        return False
    return None


def _json_object(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
