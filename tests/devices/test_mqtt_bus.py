"""The daemon's one MQTT connection, seen on the wire: a TCP proxy in front of a real Mosquitto
counts connections and decodes what the clients send (MQTT fixed header, CONNECT protocol level)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiomqtt
import pytest
from fakes.tasmota_peer import TasmotaPeer
from services import Broker, free_port
from stove_rig import make_cfg
from test_mqtt_link import Watcher
from waiting import wait_for

from core.config import Config, MqttBurner, MqttConfig, SimulatedBurner
from core.sqlitedb import SqliteDatabase
from daemon.check import check_config
from devices.audit import AuditLog
from devices.mqtt_bus import MqttBus, daemon_bus
from devices.mqtt_link import MqttLink
from devices.mqtt_relay import MqttRelay
from devices.stove import Stove

pytestmark = pytest.mark.mosquitto

CONNECT, SUBSCRIBE = 1, 8


class Proxy:
    """TCP proxy to the broker; records each connection's client→broker packets as (type, body)."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.port = free_port()
        self.connections: list[list[tuple[int, bytes]]] = []
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self.drop_all()

    def drop_all(self) -> None:
        """Cut every proxied connection abruptly (as a crash or a network failure would)."""
        for w in self._writers:
            with contextlib.suppress(Exception):
                w.transport.abort()
        self._writers.clear()

    @contextlib.contextmanager
    def in_thread(self) -> Iterator[Proxy]:
        loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.start())
            started.set()
            loop.run_forever()

        t = threading.Thread(target=run, daemon=True)
        t.start()
        started.wait(5)
        try:
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(5)
            loop.call_soon_threadsafe(loop.stop)
            t.join(5)

    def protocol_levels(self) -> list[int]:
        """The CONNECT protocol level of each connection (4 = MQTT 3.1.1, 5 = MQTT 5)."""
        return [body[6] for packets in self.connections for kind, body in packets[:1] if kind == CONNECT]

    def kinds(self, index: int) -> list[int]:
        return [kind for kind, _ in self.connections[index]]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        packets: list[tuple[int, bytes]] = []
        self.connections.append(packets)
        up_reader, up_writer = await asyncio.open_connection(self.broker.host, self.broker.port)
        self._writers += [writer, up_writer]

        async def sniff() -> None:
            buf = b""
            while data := await reader.read(65536):
                up_writer.write(data)
                buf += data
                while True:  # split the stream into MQTT packets
                    length, mult, i = 0, 1, 1
                    while i < len(buf) and i <= 4:
                        length += (buf[i] & 0x7F) * mult
                        mult *= 128
                        i += 1
                        if not buf[i - 1] & 0x80:
                            break
                    else:
                        break
                    if len(buf) < i + length:
                        break
                    packets.append((buf[0] >> 4, buf[i : i + length]))
                    buf = buf[i + length :]
            up_writer.close()

        async def back() -> None:
            while data := await up_reader.read(65536):
                writer.write(data)
            writer.close()

        with contextlib.suppress(Exception):
            await asyncio.gather(sniff(), back())


def mqtt_cfg(host: str, port: int, base: str) -> MqttConfig:
    return MqttConfig(enabled=True, host=host, port=port, base_topic=base, discovery_prefix=f"{base}-ha")


def test_config_check_speaks_mqtt5_like_the_daemon(broker: Broker, unique_topic: str, tmp_path: Path) -> None:
    with Proxy(broker).in_thread() as proxy:
        cfg = Config(mqtt=mqtt_cfg("127.0.0.1", proxy.port, unique_topic),
                     burners=(SimulatedBurner(name="b"),), storage=make_cfg(tmp_path).storage)
        lines: list[str] = []
        assert check_config(cfg, offline=False, echo=lines.append) is True
        assert any(line.startswith("ok    MQTT broker") for line in lines), lines
        assert proxy.protocol_levels() == [5], "the check connects with MQTT 5, as the daemon's bus does"
        assert SUBSCRIBE in proxy.kinds(0), "and tries the link's command subscription"
        body = next(b for k, b in proxy.connections[0] if k == SUBSCRIBE)
        assert f"{unique_topic}/+/command".encode() in body
        assert body[-1] & 0x08, "with retain-as-published, which needs MQTT 5"


@pytest.fixture
async def proxy(broker: Broker) -> AsyncIterator[Proxy]:
    p = Proxy(broker)
    await p.start()
    yield p
    await p.stop()


def tasmota(name: str, topic: str) -> MqttBurner:
    return MqttBurner(name=name, flavour="tasmota", command_topic=topic, timeout_s=1.0,
                  retries=1, pulse_s=0.2)


async def test_relays_and_link_share_one_connection(proxy: Proxy, broker: Broker, unique_topic: str,
                                                    tmp_path: Path) -> None:
    base = unique_topic
    cfg = make_cfg(tmp_path).model_copy(update=dict(
        mqtt=mqtt_cfg("127.0.0.1", proxy.port, base),
        burners=(tasmota("front", f"{base}-front"), tasmota("back", f"{base}-back"))))
    db = SqliteDatabase(cfg.storage.stove_db)
    db.start()
    async with TasmotaPeer(broker.host, broker.port, f"{base}-front") as front, \
            TasmotaPeer(broker.host, broker.port, f"{base}-back") as back, \
            Watcher(broker.host, broker.port) as w:
        await w.client.subscribe(f"{base}/#")
        bus = daemon_bus(cfg.mqtt)
        bus.start()
        stove = Stove(cfg, AuditLog(db), mqtt_bus=bus)
        assert all(isinstance(g.relay, MqttRelay) and g.relay.bus is bus for g in stove.burners.values())
        await stove.start()  # reads both relays: they work before the link exists or publishes anything
        assert front.commands
        assert back.commands
        assert not w.on(f"{base}/status"), "nothing published yet: the relays did not wait for the link"
        link = MqttLink(cfg, stove, bus=bus)
        task = asyncio.create_task(link.run())
        try:
            await asyncio.wait_for(link.ready.wait(), 10)
            await w.client.publish(f"{base}/back/command", json.dumps({"action": "cut", "id": "x"}), qos=1)
            await wait_for(lambda: back.power[1] is True or any(c.value for c in back.changes("POWER1")), 10)
            await wait_for(lambda: w.on(f"{base}/back/result"), 10)
            assert w.json_on(f"{base}/back/result")[0]["ok"] is True
            await stove.wait_idle()
            assert back.power[1] is False
            assert front.power[1] is False
            assert len(proxy.connections) == 1, "one MQTT connection for the relays and the link"
            assert proxy.protocol_levels() == [5]
            # the will is that one client's: a crash says offline
            assert w.on(f"{base}/status")[-1].payload == b"online"
            proxy.drop_all()
            await wait_for(lambda: w.on(f"{base}/status")[-1].payload == b"offline", 10)
            # ... and the bus reconnects with its subscriptions: commands and relays work again
            await wait_for(lambda: len(proxy.connections) == 2 and link.ready.is_set(), 15)
            await w.client.publish(f"{base}/front/command", b'{"action":"cut"}', qos=1)
            await wait_for(lambda: any(c.value for c in front.changes("POWER1")), 10)
            await stove.wait_idle()
            assert front.power[1] is False
        finally:
            await stove.shutdown()
            await link.close()
            await bus.close()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            db.close()


async def test_relay_start_does_not_fail_with_the_broker_down(
    fresh_broker: Broker, unique_topic: str
) -> None:
    fresh_broker.stop()
    bus = MqttBus(mqtt_cfg(fresh_broker.host, fresh_broker.port, unique_topic))
    bus.start()
    relay = MqttRelay(tasmota("front", unique_topic), bus)
    try:
        await relay.start()  # must not raise
        assert not relay.connected
        with pytest.raises(Exception, match="not connected"):
            await relay.read()
        fresh_broker.start()
        async with TasmotaPeer(fresh_broker.host, fresh_broker.port, unique_topic) as peer:
            await wait_for(lambda: relay.connected, timeout=15)
            await relay.set(True)
            assert peer.power[1] is True
    finally:
        await relay.stop()
        await bus.close()


async def test_handlers_get_matching_messages_only_and_a_bad_handler_is_contained(
        broker: Broker, unique_topic: str) -> None:
    bus = MqttBus(mqtt_cfg(broker.host, broker.port, unique_topic))
    got: list[str] = []

    def bad(message: aiomqtt.Message) -> None:
        raise RuntimeError("handler bug")

    await bus.subscribe(f"{unique_topic}/a/+", lambda m: got.append(m.topic.value))
    await bus.subscribe(f"{unique_topic}/a/+", bad)
    bus.start()
    try:
        assert await bus.wait_connected(10)
        await bus.publish(f"{unique_topic}/b/x", b"1")
        await bus.publish(f"{unique_topic}/a/x", b"1")
        await bus.publish(f"{unique_topic}/a/y", b"2")
        await wait_for(lambda: len(got) == 2, 5)
        assert got == [f"{unique_topic}/a/x", f"{unique_topic}/a/y"]
        assert bus.connected.is_set()
        assert bus.connections == 1
    finally:
        await bus.close()
