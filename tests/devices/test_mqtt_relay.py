"""MqttRelay against Tasmota-like and zigbee2mqtt-like peers over a real Mosquitto."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import AsyncIterator

import aiomqtt
import pytest
from fakes.tasmota_peer import TasmotaPeer, Zigbee2MqttPeer, decode_pulse_time
from services import Broker
from waiting import wait_for

from core.config import MqttBurner, MqttConfig
from core.errors import ConfigError, DeviceRejected, DeviceUnavailable
from devices.drivers import make_relay
from devices.mqtt_relay import MqttRelay, tasmota_pulse_time, zigbee_on_time
from devices.relay import Relay

pytestmark = pytest.mark.mosquitto

TIMEOUT_S = 0.3
FAST_RECONNECT = {"reconnect_min_s": 0.1, "reconnect_max_s": 0.3}


def mqtt_cfg(broker: Broker, **kw: object) -> MqttConfig:
    return MqttConfig(**{"enabled": True, "host": broker.host, "port": broker.port, **kw})  # type: ignore[arg-type]


def tasmota_burner(topic: str, **kw: object) -> MqttBurner:
    base = dict(name="front", flavour="tasmota", command_topic=topic,
                  timeout_s=TIMEOUT_S, retries=1)
    return MqttBurner(**{**base, **kw})  # type: ignore[arg-type]


def z2m_burner(topic: str, **kw: object) -> MqttBurner:
    return tasmota_burner(topic, flavour="zigbee2mqtt", **kw)



@pytest.fixture
async def tasmota(broker: Broker, unique_topic: str) -> AsyncIterator[TasmotaPeer]:
    async with TasmotaPeer(broker.host, broker.port, unique_topic) as peer:
        yield peer


@pytest.fixture
async def relay(broker: Broker, tasmota: TasmotaPeer) -> AsyncIterator[MqttRelay]:
    r = MqttRelay(tasmota_burner(tasmota.topic), mqtt_cfg(broker), reconnect_min_s=0.1, reconnect_max_s=0.5)
    await r.start()
    yield r
    await r.stop()


# ---------------------------------------------------------------- encodings (pure)


@pytest.mark.parametrize(
    ("seconds", "value"),
    [(0.1, 1), (0.04, 1), (0.5, 5), (11.1, 111), (11.15, 112), (11.2, 112), (12, 112), (13, 113),
     (12.2, 113), (360, 460), (3600, 3700), (64800, 64900)],
)
def test_tasmota_pulse_time_encoding(seconds: float, value: int) -> None:
    assert tasmota_pulse_time(seconds) == value
    assert decode_pulse_time(value) >= min(seconds, 0.1) - 0.05


@pytest.mark.parametrize("seconds", [0, -1, math.nan, math.inf, 64801])
def test_tasmota_pulse_time_rejects(seconds: float) -> None:
    with pytest.raises(ValueError, match="pulse"):
        tasmota_pulse_time(seconds)


@pytest.mark.parametrize(
    ("seconds", "value"), [(3, 3), (0.5, 0.5), (0.04, 0.1), (2.25, 2.3), (6553.5, 6553.5)]
)
def test_zigbee_on_time(seconds: float, value: float) -> None:
    assert zigbee_on_time(seconds) == value
    assert type(zigbee_on_time(3)) is int


@pytest.mark.parametrize("seconds", [0, -2, math.nan, 6554])
def test_zigbee_on_time_rejects(seconds: float) -> None:
    with pytest.raises(ValueError, match="on_time"):
        zigbee_on_time(seconds)


def test_config_errors(broker: Broker) -> None:
    with pytest.raises(ConfigError, match=r"\[mqtt\]"):
        MqttRelay(tasmota_burner("x"), None)
    with pytest.raises(ConfigError, match="flavour"):
        # the schema refuses it; model_copy skips validation to reach the driver's own check
        MqttRelay(tasmota_burner("x").model_copy(update={"flavour": "shelly"}), mqtt_cfg(broker))


# ---------------------------------------------------------------- Tasmota


async def test_tasmota_cut_release_and_read_back(tasmota: TasmotaPeer, relay: MqttRelay) -> None:
    assert isinstance(relay, Relay)
    assert relay.has_device_pulse
    assert await relay.read() is False
    await relay.set(True, auto_off_s=30)
    assert tasmota.power[1] is True
    assert tasmota.pulse_time[1] == 130
    assert await relay.read() is True
    await relay.set(False)
    assert tasmota.power[1] is False
    assert await relay.read() is False
    assert [(c.value, c.source) for c in tasmota.changes("POWER1")] == [
        (False, "init"), (True, "cmnd"), (False, "cmnd")]
    cmnds = [(topic.rsplit("/", 1)[-1], payload) for _, topic, payload, _ in tasmota.commands]
    assert cmnds == [("POWER1", ""), ("PulseTime1", "130"), ("POWER1", "ON"), ("POWER1", ""),
                     ("POWER1", "OFF"), ("POWER1", "")]


async def test_make_relay_builds_the_mqtt_driver(broker: Broker, tasmota: TasmotaPeer) -> None:
    r = make_relay(tasmota_burner(tasmota.topic), mqtt_cfg(broker))
    assert isinstance(r, MqttRelay)
    await r.start()
    try:
        await r.set(True)
        assert tasmota.power[1] is True
    finally:
        await r.stop()


@pytest.mark.parametrize(("seconds", "value"), [(0.1, 1), (11.1, 111), (12, 112), (3600, 3700)])
async def test_pulse_time_reaches_the_device(tasmota: TasmotaPeer, relay: MqttRelay,
                                             seconds: float, value: int) -> None:
    await relay.set(True, auto_off_s=seconds)
    assert tasmota.pulse_time[1] == value
    assert decode_pulse_time(tasmota.pulse_time[1]) == pytest.approx(seconds)
    topics = [topic.rsplit("/", 1)[-1] for _, topic, _, _ in tasmota.commands]
    assert topics.index("PulseTime1") < topics.index("POWER1"), "PulseTime goes first"


async def test_too_long_a_pulse_is_clamped_not_refused(tasmota: TasmotaPeer, relay: MqttRelay) -> None:
    await relay.set(True, auto_off_s=100_000)  # the cut happens; the device pulse is its longest
    assert tasmota.power[1] is True
    assert tasmota.pulse_time[1] == 64900


async def test_stop_fails_a_pending_operation_cleanly(tasmota: TasmotaPeer, relay: MqttRelay) -> None:
    tasmota.silent = True
    pending = asyncio.create_task(relay.read())
    await asyncio.sleep(0.1)
    await relay.stop()
    with pytest.raises(DeviceUnavailable, match="stopped"):
        await pending


async def test_tasmota_releases_by_itself(tasmota: TasmotaPeer, relay: MqttRelay) -> None:
    t0 = time.monotonic()
    await relay.set(True, auto_off_s=0.3)
    await wait_for(lambda: tasmota.power[1] is False, timeout=2)
    released = tasmota.changes("POWER1", False)[-1]
    assert released.source == "pulse"
    assert 0.25 <= released.mono - t0 <= 2.0
    await wait_for(lambda: relay.last_reported is False, timeout=1)  # the unsolicited report
    assert await relay.read() is False


async def test_no_auto_off_leaves_pulse_time_alone(tasmota: TasmotaPeer, relay: MqttRelay) -> None:
    tasmota.pulse_time[1] = 150
    await relay.set(True)
    assert not [t for _, t, _, _ in tasmota.commands if t.endswith("PulseTime1")]
    assert tasmota.pulse_time[1] == 150


async def test_commands_are_never_retained(broker: Broker, tasmota: TasmotaPeer, relay: MqttRelay) -> None:
    await relay.set(True, auto_off_s=5)
    await relay.read()
    await relay.set(False)
    assert len(tasmota.commands) == 4
    assert not any(retain for *_, retain in tasmota.commands)
    async with aiomqtt.Client(broker.host, broker.port) as late:  # a device reconnecting later
        await late.subscribe(f"cmnd/{tasmota.topic}/#")
        await asyncio.sleep(0.3)
        assert len(late.messages) == 0, "a retained command would fire again"


async def test_one_relay_device_reports_power_without_index(broker: Broker, unique_topic: str) -> None:
    async with TasmotaPeer(broker.host, broker.port, unique_topic, channels=1) as peer:
        r = MqttRelay(tasmota_burner(unique_topic), mqtt_cfg(broker))
        await r.start()
        try:
            await r.set(True)
            assert await r.read() is True
        finally:
            await r.stop()
    assert peer.power == {1: True}  # it answered as stat/<t>/POWER and {"POWER":"ON"}, which the driver took


async def test_second_relay_of_a_two_relay_device(broker: Broker, unique_topic: str) -> None:
    async with TasmotaPeer(broker.host, broker.port, unique_topic, channels=2) as peer:
        r = MqttRelay(tasmota_burner(unique_topic, power_index=2), mqtt_cfg(broker))
        await r.start()
        try:
            await r.set(True, auto_off_s=2)
            assert peer.power == {1: False, 2: True}
            assert peer.pulse_time == {1: 0, 2: 20}
            assert await r.read() is True
        finally:
            await r.stop()


async def test_json_only_device_setoption90(tasmota: TasmotaPeer, relay: MqttRelay) -> None:
    tasmota.plain_reports = False
    await relay.set(True)
    assert await relay.read() is True
    await relay.set(False)
    assert await relay.read() is False


async def test_state_topic_overrides_the_stat_prefix(broker: Broker, unique_topic: str) -> None:
    prefix = f"{unique_topic}/custom/stat"
    async with TasmotaPeer(broker.host, broker.port, unique_topic, stat_prefix=prefix):
        right = MqttRelay(tasmota_burner(unique_topic, state_topic=prefix), mqtt_cfg(broker))
        wrong = MqttRelay(tasmota_burner(unique_topic, retries=0), mqtt_cfg(broker))
        await right.start()
        await wrong.start()
        try:
            assert await right.read() is False
            with pytest.raises(DeviceUnavailable):
                await wrong.read()
        finally:
            await right.stop()
            await wrong.stop()


async def test_silent_device_is_unavailable(tasmota: TasmotaPeer, relay: MqttRelay) -> None:
    tasmota.twin_delay_s = 0.1  # each report comes twice, RESULT then POWER1: the late twin must not answer
    assert await relay.read() is False
    await relay.set(True)
    tasmota.silent = True
    for op in (relay.read, lambda: relay.set(False)):
        t0 = time.monotonic()
        with pytest.raises(DeviceUnavailable, match="no answer"):
            await op()
        assert time.monotonic() - t0 < 2 * TIMEOUT_S + 1.0  # two attempts
    assert tasmota.power[1] is True


async def test_refused_command_is_rejected(tasmota: TasmotaPeer, relay: MqttRelay) -> None:
    tasmota.refuse_on = True
    with pytest.raises(DeviceRejected, match="reported False"):
        await relay.set(True)


async def test_device_gone_offline(broker: Broker, unique_topic: str) -> None:
    peer = TasmotaPeer(broker.host, broker.port, unique_topic)
    await peer.start()
    r = MqttRelay(tasmota_burner(unique_topic), mqtt_cfg(broker))
    await r.start()
    try:
        await wait_for(lambda: r.device_online is True)
        await peer.stop()
        await wait_for(lambda: r.device_online is False)
        with pytest.raises(DeviceUnavailable, match="offline"):
            await r.read()
    finally:
        await r.stop()


async def test_concurrent_operations_do_not_mix_up_answers(tasmota: TasmotaPeer, relay: MqttRelay) -> None:
    tasmota.latency_s = 0.02
    ops = (relay.read(), relay.set(True), relay.read(), relay.set(False), relay.read())
    results = await asyncio.gather(*ops)
    assert results == [False, None, True, None, False]


# ---------------------------------------------------------------- broker outages


async def test_broker_down_at_start_and_coming_back(fresh_broker: Broker, unique_topic: str) -> None:
    fresh_broker.stop()
    r = MqttRelay(tasmota_burner(unique_topic), mqtt_cfg(fresh_broker), **FAST_RECONNECT)
    t0 = time.monotonic()
    await r.start()  # must not fail
    assert time.monotonic() - t0 < TIMEOUT_S + 1.5
    assert not r.connected
    try:
        with pytest.raises(DeviceUnavailable, match="not connected"):
            await r.read()
        with pytest.raises(DeviceUnavailable, match="not connected"):
            await r.set(True)
        fresh_broker.start()
        async with TasmotaPeer(fresh_broker.host, fresh_broker.port, unique_topic) as peer:
            await wait_for(lambda: r.connected, timeout=5)
            await r.set(True)
            assert peer.power[1] is True
            assert await r.read() is True
    finally:
        await r.stop()


async def test_broker_outage_while_connected(fresh_broker: Broker, unique_topic: str) -> None:
    async with TasmotaPeer(fresh_broker.host, fresh_broker.port, unique_topic) as peer:
        r = MqttRelay(tasmota_burner(unique_topic), mqtt_cfg(fresh_broker), **FAST_RECONNECT)
        await r.start()
        try:
            assert await r.read() is False
            fresh_broker.stop()
            await wait_for(lambda: not r.connected, timeout=3)
            t0 = time.monotonic()
            with pytest.raises(DeviceUnavailable, match="not connected"):
                await r.set(True)
            assert time.monotonic() - t0 < TIMEOUT_S + 1.0
            fresh_broker.start()
            await wait_for(lambda: r.connected, timeout=5)
            await peer.wait_connected(5)
            await r.set(True)
            assert peer.power[1] is True
        finally:
            await r.stop()


async def test_credentials_are_not_logged(broker: Broker, tasmota: TasmotaPeer,
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("mqtt").setLevel(logging.DEBUG)
    try:
        cfg = mqtt_cfg(broker, username="stove", password="pa55-w0rd-secret")
        r = MqttRelay(tasmota_burner(tasmota.topic), cfg)
        await r.start()
        try:
            await r.set(True, auto_off_s=1)
            assert await r.read() is True
        finally:
            await r.stop()
    finally:
        logging.getLogger("mqtt").setLevel(logging.WARNING)
    assert caplog.records, "paho's debug log was captured"
    assert not [rec for rec in caplog.records if "pa55-w0rd-secret" in rec.getMessage()]


# ---------------------------------------------------------------- zigbee2mqtt


@pytest.fixture
async def z2m(broker: Broker, unique_topic: str) -> AsyncIterator[Zigbee2MqttPeer]:
    async with Zigbee2MqttPeer(broker.host, broker.port, f"zigbee2mqtt/{unique_topic}") as peer:
        yield peer


async def test_z2m_on_time_and_release_by_itself(broker: Broker, z2m: Zigbee2MqttPeer) -> None:
    r = MqttRelay(z2m_burner(z2m.topic), mqtt_cfg(broker))
    await r.start()
    try:
        assert r.has_device_pulse is False  # on_time support depends on the firmware
        assert await r.read() is False
        t0 = time.monotonic()
        await r.set(True, auto_off_s=0.5)
        assert z2m.power[1] is True
        await wait_for(lambda: z2m.power[1] is False, timeout=2)
        released = z2m.changes("state", False)[-1]
        assert released.source == "on_time"
        assert 0.45 <= released.mono - t0 <= 2.5
        assert await r.read() is False
        await r.set(True)
        await r.set(False)
    finally:
        await r.stop()
    sent = [(t.rsplit("/", 1)[-1], json.loads(p)) for _, t, p, _ in z2m.commands]
    assert sent == [
        ("get", {"state": ""}),
        ("set", {"state": "ON", "on_time": 0.5}),
        ("get", {"state": ""}),
        ("set", {"state": "ON"}),
        ("set", {"state": "OFF"}),
    ]
    assert not any(retain for *_, retain in z2m.commands)


async def test_z2m_without_on_time_support_stays_on(broker: Broker, z2m: Zigbee2MqttPeer) -> None:
    z2m.supports_on_time = False
    r = MqttRelay(z2m_burner(z2m.topic), mqtt_cfg(broker))
    await r.start()
    try:
        await r.set(True, auto_off_s=0.2)
        await asyncio.sleep(0.4)
        assert await r.read() is True, "only the daemon's own timer releases it then"
    finally:
        await r.stop()


async def test_z2m_second_gang_and_silence(broker: Broker, unique_topic: str) -> None:
    async with Zigbee2MqttPeer(broker.host, broker.port, f"zigbee2mqtt/{unique_topic}", channels=2) as peer:
        r = MqttRelay(z2m_burner(peer.topic, power_index=2), mqtt_cfg(broker))
        await r.start()
        try:
            await r.set(True, auto_off_s=3)
            assert peer.power == {1: False, 2: True}
            assert json.loads(peer.commands[-1][2]) == {"state_l2": "ON", "on_time": 3}
            peer.silent = True
            with pytest.raises(DeviceUnavailable):
                await r.read()
        finally:
            await r.stop()


# ---------------------------------------------------------------- firmware variants (issue 12)


@contextlib.asynccontextmanager
async def _watch(broker: Broker, pattern: str) -> AsyncIterator[list[str]]:
    """A bystander that records the topics published under ``pattern``."""
    seen: list[str] = []
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(pattern)

        async def collect() -> None:
            async for message in client.messages:
                seen.append(message.topic.value)

        task = asyncio.get_running_loop().create_task(collect())
        try:
            yield seen
        finally:
            task.cancel()


async def test_setoption4_pulse_time_is_confirmed_at_once(
    broker: Broker, tasmota: TasmotaPeer, relay: MqttRelay, caplog: pytest.LogCaptureFixture
) -> None:
    """SetOption4 1: answers on stat/<t>/PULSETIME and stat/<t>/POWER, never RESULT."""
    tasmota.setoption4 = True
    async with _watch(broker, f"stat/{tasmota.topic}/#") as seen:
        caplog.set_level(logging.WARNING, logger="devices.mqtt_relay")
        await relay.set(True, auto_off_s=30)
        assert tasmota.power[1] is True
        assert tasmota.pulse_time[1] == 130
        assert not [r for r in caplog.records if "PulseTime" in r.getMessage()], "the answer was missed"
        assert await relay.read() is True
        await relay.set(False)  # the cut's release, read back
        assert await relay.read() is False
        await asyncio.sleep(0.1)
    stat = f"stat/{tasmota.topic}"
    assert f"{stat}/PULSETIME" in seen
    assert f"{stat}/POWER" in seen  # one-relay device: the JSON, then the word, both here
    assert f"{stat}/RESULT" not in seen, "the peer models SetOption4 1"


async def test_setoption4_second_relay(broker: Broker, unique_topic: str,
                                       caplog: pytest.LogCaptureFixture) -> None:
    async with TasmotaPeer(broker.host, broker.port, unique_topic, channels=2) as peer:
        peer.setoption4 = True
        r = MqttRelay(tasmota_burner(unique_topic, power_index=2), mqtt_cfg(broker))
        await r.start()
        try:
            caplog.set_level(logging.WARNING, logger="devices.mqtt_relay")
            await r.set(True, auto_off_s=2)
            assert peer.power == {1: False, 2: True}
            assert peer.pulse_time == {1: 0, 2: 20}
            assert not caplog.records
            await r.set(False)
            assert await r.read() is False
        finally:
            await r.stop()


async def test_custom_full_topic_commands_reports_and_last_will(broker: Broker, unique_topic: str) -> None:
    full = "home/%topic%/%prefix%/"
    peer = TasmotaPeer(broker.host, broker.port, unique_topic, full_topic=full)
    await peer.start()
    right = MqttRelay(tasmota_burner(unique_topic, full_topic=full), mqtt_cfg(broker))
    wrong = MqttRelay(tasmota_burner(unique_topic, retries=0), mqtt_cfg(broker))  # the default layout
    await right.start()
    await wrong.start()
    try:
        await wait_for(lambda: right.device_online is True)  # home/<t>/tele/LWT, retained
        assert peer.online == (f"home/{unique_topic}/tele/LWT", "Online")
        await right.set(True, auto_off_s=5)
        assert peer.power[1] is True
        assert peer.pulse_time[1] == 50
        assert await right.read() is True
        await right.set(False)
        assert await right.read() is False
        assert {t for _, t, _, _ in peer.commands} == {
            f"home/{unique_topic}/cmnd/POWER1", f"home/{unique_topic}/cmnd/PulseTime1"}
        assert wrong.device_online is None, "nothing on tele/<t>/LWT"
        with pytest.raises(DeviceUnavailable):
            await wrong.read()
        await peer.stop()  # the Last Will (the peer publishes it on a clean stop)
        await wait_for(lambda: right.device_online is False)
        with pytest.raises(DeviceUnavailable, match="offline"):
            await right.read()
    finally:
        await right.stop()
        await wrong.stop()
        await peer.stop()


async def test_custom_full_topic_with_setoption4(broker: Broker, unique_topic: str,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    full = "%topic%/%prefix%"  # no trailing slash: Tasmota adds one
    async with TasmotaPeer(broker.host, broker.port, unique_topic, full_topic=full) as peer:
        peer.setoption4 = True
        r = MqttRelay(tasmota_burner(unique_topic, full_topic=full), mqtt_cfg(broker))
        await r.start()
        try:
            caplog.set_level(logging.WARNING, logger="devices.mqtt_relay")
            await r.set(True, auto_off_s=0.3)  # a real cut: bounded by the device pulse too
            assert not caplog.records
            await wait_for(lambda: peer.power[1] is False, timeout=2)
            assert peer.changes("POWER1", False)[-1].source == "pulse"
            assert await r.read() is False
        finally:
            await r.stop()


async def test_z2m_two_gang_endpoint_l1(broker: Broker, unique_topic: str) -> None:
    """A two-gang device reports state_l1/state_l2 only: endpoint = "l1" is its first gang."""
    async with Zigbee2MqttPeer(broker.host, broker.port, f"zigbee2mqtt/{unique_topic}", channels=2) as peer:
        r = MqttRelay(z2m_burner(peer.topic, endpoint="l1"), mqtt_cfg(broker))
        plain = MqttRelay(z2m_burner(peer.topic, retries=0), mqtt_cfg(broker))  # power_index 1 = "state"
        await r.start()
        await plain.start()
        try:
            assert await r.read() is False
            await r.set(True, auto_off_s=3)
            assert peer.power == {1: True, 2: False}
            assert await r.read() is True
            await r.set(False)
            assert peer.power == {1: False, 2: False}
            assert await r.read() is False
            with pytest.raises(DeviceUnavailable, match="no answer"):
                await plain.read()  # the key "state" never comes from a multi-gang device
        finally:
            await r.stop()
            await plain.stop()
    sent = [json.loads(p) for _, t, p, _ in peer.commands if not json.loads(p).get("state") == ""]
    assert {"state_l1": "ON", "on_time": 3} in sent
    assert {"state_l1": "OFF"} in sent
    assert all("state_l2" not in body for body in sent)


async def test_z2m_endpoint_l2_is_power_index_2(broker: Broker, unique_topic: str) -> None:
    async with Zigbee2MqttPeer(broker.host, broker.port, f"zigbee2mqtt/{unique_topic}", channels=2) as peer:
        l2 = z2m_burner(peer.topic, endpoint="l2")
        for burner in (l2, z2m_burner(peer.topic, endpoint="l2", power_index=2)):
            r = MqttRelay(burner, mqtt_cfg(broker))
            await r.start()
            try:
                await r.set(True)
                assert peer.power == {1: False, 2: True}
                await r.set(False)
                assert await r.read() is False
            finally:
                await r.stop()
