"""The fake peers themselves: real-protocol fidelity, thread and standalone modes."""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.miio_peer import DEFAULT_TOKEN, MiioPeer
from fakes.peer_base import read_state_file
from fakes.tasmota_peer import TasmotaPeer
from miio import Device, MiotDevice
from miio.exceptions import DeviceException
from miio.miioprotocol import MiIOProtocol
from services import Broker

from core.config import MiioBurner, MqttBurner, MqttConfig
from core.errors import DeviceUnavailable
from devices.miio_relay import MiioRelay
from devices.mqtt_relay import MqttRelay

FAKES = Path(__file__).resolve().parent.parent / "fakes"


# ---------------------------------------------------------------- miio peer


@pytest.mark.miio
def test_stock_python_miio_client_talks_to_the_peer_in_a_thread() -> None:
    """python-miio's own classes, unmodified and synchronous, against the peer on its own loop."""
    with MiioPeer().in_thread() as peer:
        dev = MiotDevice(peer.host, DEFAULT_TOKEN, timeout=1)  # no model: python-miio asks miIO.info
        assert dev.model == "coolstove.relay.v4"
        assert dev.info().mac_address.startswith("02:00:")
        assert dev.set_property_by(2, 1, True)[0]["code"] == 0
        assert dev.get_property_by(2, 1)[0]["value"] is True
        assert dev.set_property_by(2, 3, 99999)[0]["code"] == -4005  # off-delay range of yeelink.switch.sw1
        assert dev.get_property_by(9, 1)[0]["code"] == -4003
        legacy = Device(peer.host, DEFAULT_TOKEN, timeout=1, model="chuangmi.plug.v3")
        assert legacy.send("get_prop", ["power"]) == ["on"]
        with pytest.raises(DeviceException):
            legacy.send("no_such_method", [])
        assert peer.switch() is True
    assert [c.source for c in peer.changes("2.1")] == ["init", "set_properties"]


@pytest.mark.miio
def test_stock_handshake_would_log_an_unprovisioned_token(caplog: pytest.LogCaptureFixture) -> None:
    """Why miio_link has its own handshake and holds the miio logger at INFO.

    Canary for test_no_log_record_contains_the_token: python-miio 0.5.12 logs
    the hello answer's checksum at DEBUG, and an unprovisioned device puts its
    token there.
    """
    token = "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e"
    miio_logger = logging.getLogger("miio")
    before = miio_logger.level
    miio_logger.setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    try:
        with MiioPeer(token=token).in_thread() as peer:
            peer.reveal_token = True
            MiIOProtocol(peer.host, token).send_handshake()
    finally:
        miio_logger.setLevel(before)
    assert any(token in r.getMessage() for r in caplog.records)


@pytest.mark.miio
async def test_peer_address_is_free_for_each_peer() -> None:
    async with MiioPeer() as a, MiioPeer() as b:
        assert a.host != b.host
        with pytest.raises(OSError, match="in use"):
            async with MiioPeer(a.host):
                pass


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    return tmp_path / "state.jsonl"


def spawn(*args: str) -> tuple[subprocess.Popen[str], str]:
    """Start a standalone peer; return it and the address from its READY line."""
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=FAKES.parent.parent)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("READY "):
        proc.kill()
        raise AssertionError(f"peer did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    return proc, line.split(" ", 1)[1].strip()


@pytest.fixture
def reaper() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait(5)


@pytest.mark.miio
async def test_standalone_miio_peer(state_file: Path, reaper: list[subprocess.Popen[str]]) -> None:
    token = "0123456789abcdef0123456789abcdef"
    proc, host = spawn(str(FAKES / "miio_peer.py"), "--host", "auto", "--token", token,
                       "--state-file", str(state_file))
    reaper.append(proc)
    relay = MiioRelay(MiioBurner(name="front", host=host, token=token,
                             off_delay_piid=3, timeout_s=0.3, retries=1))
    try:
        before = time.monotonic()
        await relay.set(True, auto_off_s=1)
        after = time.monotonic()
        assert await relay.read() is True
        energised = [c for c in read_state_file(state_file) if c.channel == "2.1" and c.value is True]
        assert len(energised) == 1
        assert before <= energised[0].mono <= after, "one clock across processes"
        await asyncio.sleep(1.3)
        assert await relay.read() is False
        assert read_state_file(state_file)[-1].source == "off-delay"
        proc.send_signal(signal.SIGUSR1)  # unreachable from now on
        await asyncio.sleep(0.2)
        with pytest.raises(DeviceUnavailable):
            await relay.read()
    finally:
        await relay.stop()
    proc.terminate()
    assert proc.wait(5) == 0


# ---------------------------------------------------------------- Tasmota / zigbee2mqtt peers


@pytest.mark.mosquitto
def test_tasmota_peer_in_a_thread(broker: Broker, unique_topic: str) -> None:
    async def drive() -> bool:
        relay = MqttRelay(MqttBurner(name="f", command_topic=unique_topic, timeout_s=1),
                          MqttConfig(enabled=True, host=broker.host, port=broker.port))
        await relay.start()
        try:
            await relay.set(True, auto_off_s=0.2)
            await asyncio.sleep(0.5)
            return await relay.read()
        finally:
            await relay.stop()

    with TasmotaPeer(broker.host, broker.port, unique_topic).in_thread() as peer:
        assert asyncio.run(drive()) is False
    assert [c.source for c in peer.changes("POWER1")] == ["init", "cmnd", "pulse"]


@pytest.mark.mosquitto
@pytest.mark.parametrize("flavour", ["tasmota", "zigbee2mqtt"])
async def test_standalone_mqtt_peer(broker: Broker, unique_topic: str, state_file: Path, flavour: str,
                                    reaper: list[subprocess.Popen[str]]) -> None:
    topic = unique_topic if flavour == "tasmota" else f"zigbee2mqtt/{unique_topic}"
    proc, address = spawn(str(FAKES / "tasmota_peer.py"), "--broker", f"{broker.host}:{broker.port}",
                          "--topic", topic, "--flavour", flavour, "--state-file", str(state_file))
    reaper.append(proc)
    assert address == topic
    relay = MqttRelay(MqttBurner(name="f", flavour=flavour, command_topic=topic,
                                 timeout_s=0.5, retries=0),
                      MqttConfig(enabled=True, host=broker.host, port=broker.port))
    await relay.start()
    try:
        await relay.set(True, auto_off_s=0.3)
        await asyncio.sleep(0.6)
        assert await relay.read() is False
        proc.send_signal(signal.SIGUSR1)  # silent from now on
        await asyncio.sleep(0.2)
        with pytest.raises(DeviceUnavailable):
            await relay.read()
    finally:
        await relay.stop()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(5) == 0
    changes = [(c.value, c.source) for c in read_state_file(state_file) if c.channel in ("POWER1", "state")]
    assert changes == [(False, "init"), (True, "cmnd" if flavour == "tasmota" else "set"),
                       (False, "pulse" if flavour == "tasmota" else "on_time")]
