"""Relays behind a real MQTT broker: a Tasmota-like one and a zigbee2mqtt-like one.

:class:`TasmotaPeer` behaves like Tasmota's relay firmware (tasmota/docs
Commands.md, MQTT.md): it subscribes ``cmnd/<t>/#``; ``POWER<i>`` takes
``ON|OFF|TOGGLE|1|0|2`` or an empty payload (query); ``PulseTime<i>`` takes
0 (off), 1..111 (tenths of a second) or 112..64900 (seconds + 100) and really
switches the relay off that long after each ON. Every power report goes to
``stat/<t>/RESULT`` (``{"POWER1":"ON"}``) and then ``stat/<t>/POWER1``;
a one-relay device says ``POWER`` instead of ``POWER1``, as Tasmota does.
``tele/<t>/LWT`` is ``Online``, retained, with the Last Will ``Offline``.
``setoption4 = True`` (``SetOption4 1``) sends each answer to ``stat/<t>/<COMMAND>``
instead of RESULT, as the firmware's ``CommandHandler`` does: the command upper-cased
with its index stripped (``stat/<t>/PULSETIME``), and power reports to
``stat/<t>/POWER1`` (the JSON, then the plain word). ``full_topic`` is Tasmota's
``FullTopic`` (default ``%prefix%/%topic%/``): every topic, the Last Will included,
follows it (``home/%topic%/%prefix%/`` gives ``home/<t>/tele/LWT``).

:class:`Zigbee2MqttPeer` is a zigbee2mqtt relay at ``zigbee2mqtt/<name>``
(``channels = 2``: a two-gang device, keys ``state_l1``/``state_l2``):
``<base>/set`` ``{"state":"ON","on_time":N}`` (the timed off honoured unless
``supports_on_time`` is False), ``<base>/get`` ``{"state":""}``, state JSON on
``<base>``, ``<base>/availability`` ``{"state":"online"}``.

Knobs: ``silent`` (connected, takes no command and answers nothing),
``refuse_on`` (an ON leaves the relay off and reports OFF), ``latency_s``;
Tasmota only: ``plain_reports = False`` (``SetOption90 1``: RESULT JSON only),
``twin_delay_s`` (time between a RESULT report and its plain twin);
zigbee2mqtt only: ``supports_on_time = False`` (firmware without timed off).
Observations: ``history`` (``peer_base.StateChange``), ``commands`` (every
message received: time, topic, payload, retain flag).

Standalone::

    python tests/fakes/tasmota_peer.py --broker 127.0.0.1:1883 --topic stove --state-file /tmp/t.jsonl
    python tests/fakes/tasmota_peer.py --broker 127.0.0.1:1883 --flavour zigbee2mqtt \\
        --topic zigbee2mqtt/stove --state-file /tmp/z.jsonl

The first stdout line is ``READY <topic>`` once subscribed; SIGUSR1 toggles
``silent``, SIGUSR2 toggles ``refuse_on``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import secrets
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

import aiomqtt

if __package__ in (None, ""):  # run as a script: make the `fakes` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fakes.peer_base import Peer, run_standalone

__all__ = ["MqttPeer", "TasmotaPeer", "Zigbee2MqttPeer", "decode_pulse_time"]


def decode_pulse_time(value: int) -> float:
    """Seconds of a Tasmota ``PulseTime`` value (0 = no pulse)."""
    if value <= 0:
        return 0.0
    return value / 10 if value <= 111 else float(value - 100)


class MqttPeer(Peer):
    """Connection handling shared by the MQTT peers: reconnects, Last Will, command queue."""

    def __init__(
        self, host: str, port: int, topic: str, *, channels: int = 1,
        state_file: str | Path | None = None, reconnect_s: float = 0.2,
    ) -> None:
        super().__init__(state_file=state_file)
        self.broker = (host, port)
        self.topic = topic
        self.channels = channels
        self.reconnect_s = reconnect_s
        self.power = {i: False for i in range(1, channels + 1)}
        self.silent = False
        self.refuse_on = False
        self.latency_s = 0.0
        self.commands: list[tuple[float, str, str, bool]] = []
        self.connections = 0
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._timers: dict[int, asyncio.TimerHandle] = {}

    @property
    def address(self) -> str:
        return self.topic

    # subclasses fill these in
    will: tuple[str, str] = ("", "")
    online: tuple[str, str] = ("", "")
    subscriptions: tuple[str, ...] = ()

    async def handle(self, topic: str, payload: str) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    async def report(self, channel: int) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # ------------------------------------------------------------ lifecycle
    async def start(self, *, wait: float = 10.0) -> None:
        for i, on in self.power.items():
            self.record(self.channel_name(i), on, "init")
        self._task = asyncio.create_task(self._run(), name=f"peer-{self.topic}")
        if wait:
            await self.wait_connected(wait)

    async def wait_connected(self, within: float = 10.0) -> None:
        async with asyncio.timeout(within):
            await self._connected.wait()

    async def stop(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        client = self._client
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await client.publish(self.will[0], self.will[1], qos=1, retain=True, timeout=2)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            client = aiomqtt.Client(
                *self.broker,
                identifier=f"peer-{secrets.token_hex(4)}",
                will=aiomqtt.Will(self.will[0], self.will[1], qos=1, retain=True),
                keepalive=10,
                timeout=5,
                socket_options=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),),
            )
            try:
                async with client:
                    await client.subscribe([(t, 1) for t in self.subscriptions])
                    await client.publish(self.online[0], self.online[1], qos=1, retain=True)
                    self._client = client
                    self.connections += 1
                    self._connected.set()
                    async for message in client.messages:
                        text = _text(message.payload)
                        self.commands.append((time.time(), message.topic.value, text, message.retain))
                        if self.silent:
                            continue
                        if self.latency_s:
                            await asyncio.sleep(self.latency_s)
                        await self.handle(message.topic.value, text)
            except aiomqtt.MqttError:
                pass
            finally:
                self._client = None
                self._connected.clear()
            await asyncio.sleep(self.reconnect_s)

    async def publish(self, topic: str, payload: str, *, retain: bool = False) -> None:
        client = self._client
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await client.publish(topic, payload, qos=1, retain=retain)

    # ------------------------------------------------------------ relay state
    def channel_name(self, channel: int) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def set_power(self, channel: int, on: bool, source: str, *, auto_off_s: float = 0.0) -> None:
        """Switch a channel; ``auto_off_s`` > 0 arms the device's own release (restarted on each ON)."""
        timer = self._timers.pop(channel, None)
        if timer is not None:
            timer.cancel()
        if on and self.refuse_on:
            return
        if self.power[channel] != on:
            self.power[channel] = on
            self.record(self.channel_name(channel), on, source)
        if on and auto_off_s > 0:
            loop = asyncio.get_running_loop()
            self._timers[channel] = loop.call_later(auto_off_s, self._release, channel)

    def _release(self, channel: int) -> None:
        self._timers.pop(channel, None)
        self.set_power(channel, False, self.release_source)
        asyncio.get_running_loop().create_task(self.report(channel))

    release_source = "pulse"


class TasmotaPeer(MqttPeer):
    """A Tasmota relay with ``channels`` relays on device topic ``topic``."""

    def __init__(
        self, host: str, port: int, topic: str, *, stat_prefix: str | None = None,
        full_topic: str = "%prefix%/%topic%/", **kw: Any,
    ) -> None:
        super().__init__(host, port, topic, **kw)
        self.full_topic = full_topic
        self.stat = stat_prefix or self.topic_of("stat", "").rstrip("/")
        self.pulse_time = {i: 0 for i in self.power}
        #: False = Tasmota's ``SetOption90 1``: power reports only as RESULT JSON, no plain stat/<t>/POWER.
        self.plain_reports = True
        #: True = Tasmota's ``SetOption4 1``: a command's answer goes to ``stat/<t>/<COMMAND>`` (upper case,
        #: without the index: ``PULSETIME``), a power report to ``stat/<t>/POWER<i>``, instead of RESULT.
        self.setoption4 = False
        #: Seconds between the RESULT JSON and its plain twin (a slow network spreads them apart).
        self.twin_delay_s = 0.0
        self.will = (self.topic_of("tele", "LWT"), "Offline")
        self.online = (self.topic_of("tele", "LWT"), "Online")
        self.subscriptions = (self.topic_of("cmnd", "#"),)

    def topic_of(self, prefix: str, leaf: str) -> str:
        """Tasmota's GetTopic: FullTopic with %prefix% and %topic% filled in, then ``leaf``."""
        base = self.full_topic.replace("%prefix%", prefix).replace("%topic%", self.topic)
        topic = base.rstrip("/") + "/" + leaf
        while "//" in topic:
            topic = topic.replace("//", "/")
        return topic

    def _answer_topic(self, command: str) -> str:
        """Where a command's JSON answer goes: RESULT, or with SetOption4 the command (index stripped)."""
        return f"{self.stat}/{command.upper().rstrip('0123456789') if self.setoption4 else 'RESULT'}"

    def channel_name(self, channel: int) -> str:
        return f"POWER{channel}"

    def _key(self, channel: int) -> str:
        return "POWER" if self.channels == 1 else f"POWER{channel}"

    async def handle(self, topic: str, payload: str) -> None:
        command = topic.rsplit("/", 1)[-1]
        m = re.fullmatch(r"(?i)(power|pulsetime)(\d*)", command)
        if not m:
            await self.publish(self._answer_topic("Command"), json.dumps({"Command": "Unknown"}))
            return
        channel = int(m.group(2) or 1)
        if channel not in self.power:
            await self.publish(self._answer_topic("Command"), json.dumps({"Command": "Unknown"}))
            return
        word = payload.strip().upper()
        if m.group(1).lower() == "pulsetime":
            if word:
                try:
                    value = int(word)
                except ValueError:
                    value = 0 if word == "OFF" else -1
                if 0 <= value <= 64900:
                    self.pulse_time[channel] = value
                    self.record(f"PulseTime{channel}", value, "cmnd")
            remaining = 0
            timer = self._timers.get(channel)
            if timer is not None:
                remaining = max(0, round((timer.when() - asyncio.get_running_loop().time()) * 10))
            await self.publish(self._answer_topic(command), json.dumps(
                {f"PulseTime{channel}": {"Set": self.pulse_time[channel], "Remaining": remaining}}))
            return
        if word in ("ON", "1", "TRUE"):
            self.set_power(channel, True, "cmnd", auto_off_s=decode_pulse_time(self.pulse_time[channel]))
        elif word in ("OFF", "0", "FALSE"):
            self.set_power(channel, False, "cmnd")
        elif word in ("TOGGLE", "2"):
            on = not self.power[channel]
            pulse = decode_pulse_time(self.pulse_time[channel]) if on else 0
            self.set_power(channel, on, "cmnd", auto_off_s=pulse)
        elif word:
            await self.publish(self._answer_topic(command), json.dumps({"Command": "Error"}))
            return
        await self.report(channel)

    async def report(self, channel: int) -> None:
        word = "ON" if self.power[channel] else "OFF"
        # MqttPublishPowerState: the JSON goes to RESULT, or with SetOption4 to stat/<t>/POWER<i> itself
        json_topic = f"{self.stat}/{self._key(channel) if self.setoption4 else 'RESULT'}"
        await self.publish(json_topic, json.dumps({self._key(channel): word}))
        if self.plain_reports:
            if self.twin_delay_s:
                await asyncio.sleep(self.twin_delay_s)
            await self.publish(f"{self.stat}/{self._key(channel)}", word)


class Zigbee2MqttPeer(MqttPeer):
    """A zigbee2mqtt relay at ``topic`` (e.g. ``zigbee2mqtt/stove``)."""

    release_source = "on_time"

    def __init__(self, host: str, port: int, topic: str, **kw: Any) -> None:
        super().__init__(host, port, topic, **kw)
        self.supports_on_time = True
        self.will = (f"{topic}/availability", json.dumps({"state": "offline"}))
        self.online = (f"{topic}/availability", json.dumps({"state": "online"}))
        self.subscriptions = (f"{topic}/set", f"{topic}/get")

    def channel_name(self, channel: int) -> str:
        return "state" if self.channels == 1 else f"state_l{channel}"

    async def handle(self, topic: str, payload: str) -> None:
        try:
            body = json.loads(payload)
        except ValueError:
            return
        if not isinstance(body, dict):
            return
        if topic.endswith("/get"):
            await self.report(1)
            return
        for channel in self.power:
            key = self.channel_name(channel)
            if key not in body and channel == 1 and "state" in body:
                key = "state"  # a multi-gang device switches its first endpoint, but reports it as state_l1
            if key not in body:
                continue
            word = str(body[key]).upper()
            on_time = body.get("on_time") if self.supports_on_time else None
            if word == "TOGGLE":
                word = "OFF" if self.power[channel] else "ON"
            if word == "ON":
                self.set_power(channel, True, "set", auto_off_s=float(on_time or 0))
            elif word == "OFF":
                self.set_power(channel, False, "set")
            await self.report(channel)

    async def report(self, channel: int) -> None:
        state = {self.channel_name(i): "ON" if on else "OFF" for i, on in self.power.items()}
        await self.publish(self.topic, json.dumps({**state, "linkquality": 120}))


def _text(raw: Any) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes | bytearray) else str(raw or "")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="A fake Tasmota / zigbee2mqtt relay on an MQTT broker.")
    ap.add_argument("--broker", default="127.0.0.1:1883", help="HOST:PORT")
    ap.add_argument("--topic", required=True, help="Tasmota device topic, or zigbee2mqtt/<name>")
    ap.add_argument("--flavour", choices=("tasmota", "zigbee2mqtt"), default="tasmota")
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--stat-prefix", help="Tasmota: replaces stat/<topic>")
    ap.add_argument("--full-topic", default="%prefix%/%topic%/", help="Tasmota: its FullTopic")
    ap.add_argument("--setoption4", action="store_true", help="Tasmota: answers on stat/<t>/<COMMAND>")
    ap.add_argument("--state-file", help="append every state change here as a JSON line")
    ap.add_argument("--latency", type=float, default=0.0)
    args = ap.parse_args(argv)
    host, _, port = args.broker.rpartition(":")
    peer: MqttPeer
    if args.flavour == "tasmota":
        tasmota = TasmotaPeer(host, int(port), args.topic, channels=args.channels, full_topic=args.full_topic,
                              stat_prefix=args.stat_prefix, state_file=args.state_file)
        tasmota.setoption4 = args.setoption4
        peer = tasmota
    else:
        peer = Zigbee2MqttPeer(host, int(port), args.topic, channels=args.channels,
                               state_file=args.state_file)
    peer.latency_s = args.latency
    run_standalone(peer, {signal.SIGUSR1: "silent", signal.SIGUSR2: "refuse_on"})


if __name__ == "__main__":
    main()
