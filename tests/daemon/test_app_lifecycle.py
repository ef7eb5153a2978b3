"""The daemon's start and stop in-process: a start that fails half-way undoes exactly what it started,
in order, and still tells systemd it is stopping (a real notify socket, the real simulated relay)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import daemon.http
from core.config import Config, load_config
from daemon.app import main
from devices.relay import SimulatedRelay
from devices.stove import Stove
from devices.timers import Timers


@pytest.fixture
def notify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


def messages(sock: socket.socket) -> list[str]:
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except BlockingIOError:
            return out


def config(tmp_path: Path, **env: str) -> Config:
    return load_config(env={
        "COOLSTOVE_STORAGE__DATA_DIR": str(tmp_path / "data"),
        "COOLSTOVE_HTTP__LISTEN": "127.0.0.1:0",
        "COOLSTOVE_HTTP__PAGES_LISTEN": "off",
        "COOLSTOVE_MQTT__ENABLED": "false",
        "COOLSTOVE_PAPERS__ENABLED": "false",
        **env,
    })


@pytest.fixture
def stopped(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The stop steps the daemon takes, in order (spying on the real methods)."""
    calls: list[str] = []
    for cls, name in ((Stove, "shutdown"), (Timers, "shutdown"), (SimulatedRelay, "stop")):
        real, label = getattr(cls, name), f"{cls.__name__}.{name}"

        async def spy(self: object, *a: object, _real: Any = real, _label: str = label) -> None:
            calls.append(_label)
            await _real(self, *a)

        monkeypatch.setattr(cls, name, spy)
    return calls


async def test_a_start_that_fails_building_the_web_app_stops_what_it_started(
    tmp_path: Path, notify: socket.socket, stopped: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_a: object, **_k: object) -> None:
        raise RuntimeError("template folder missing")

    monkeypatch.setattr(daemon.http, "make_app", broken)
    with pytest.raises(RuntimeError, match="template folder missing"):
        await asyncio.wait_for(main(config(tmp_path)), 30)
    said = messages(notify)
    assert "STOPPING=1" in said
    assert "READY=1" not in said
    assert stopped == ["Timers.shutdown", "Stove.shutdown", "SimulatedRelay.stop"]


async def test_a_clean_stop_runs_the_same_sequence_after_ready(
    tmp_path: Path, notify: socket.socket, stopped: list[str]
) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(main(config(tmp_path), stop=stop))
    for _ in range(300):
        if "READY=1" in (said := messages(notify)):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("never READY")
    assert stopped == []
    stop.set()
    assert await asyncio.wait_for(task, 30) == 0
    assert "STOPPING=1" in said + messages(notify)
    assert stopped == ["Timers.shutdown", "Stove.shutdown", "SimulatedRelay.stop"]
