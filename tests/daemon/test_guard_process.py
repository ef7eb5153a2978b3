"""The daemon as a process under misuse: a second copy, a relay that will not release at stop.

Real parts: the daemon subprocess with a notify socket, the miio peer, Mosquitto.
"""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from daemon_proc import DaemonProc
from fakes.miio_peer import DEFAULT_TOKEN, MiioPeer
from test_daemon_process import config
from waiting import wait_for_sync

pytestmark = [pytest.mark.miio, pytest.mark.mosquitto, pytest.mark.slow]


@pytest.fixture
def peer() -> Iterator[MiioPeer]:
    with MiioPeer().in_thread() as p:
        yield p


@pytest.fixture
def made() -> Iterator[list[DaemonProc]]:
    procs: list[DaemonProc] = []
    yield procs
    for d in procs:
        d.stop()


def _daemon(made: list[DaemonProc], workdir: Path, data: Path, peer: MiioPeer, broker: Any, topic: str,
            pulse_s: float) -> DaemonProc:
    workdir.mkdir(parents=True, exist_ok=True)
    d = DaemonProc(workdir, config(peer.address, broker, topic, pulse_s),
                   {"COOLSTOVE_BURNER_LEFT_TOKEN": DEFAULT_TOKEN, "COOLSTOVE_STORAGE__DATA_DIR": str(data)})
    made.append(d)
    return d


def _watch(broker: Any, topic: str, into: list[tuple[str, bytes]]) -> paho.Client:
    """A plain paho subscriber (not the daemon's client) recording (topic, payload) in order."""
    watch = paho.Client(paho.CallbackAPIVersion.VERSION2)
    watch.on_message = lambda c, u, m: into.append((m.topic, m.payload))
    watch.connect(broker.host, broker.port)
    watch.subscribe(topic, qos=1)
    watch.loop_start()
    return watch


def test_a_second_daemon_on_the_same_data_folder_is_refused_before_touching_a_relay(
    tmp_path: Path, peer: MiioPeer, broker: Any, unique_topic: str, made: list[DaemonProc]
) -> None:
    data = tmp_path / "data"
    first = _daemon(made, tmp_path / "one", data, peer, broker, unique_topic, pulse_s=8)
    first.start()
    assert first.api("POST", "/api/stove/cut", {"burner": "left"}).json()["ok"]
    assert peer.props[(2, 1)] is True
    requests_before = len(peer.requests)

    second = _daemon(made, tmp_path / "two", data, peer, broker, unique_topic, pulse_s=8)
    second.start(wait_ready=False)
    assert second.proc is not None
    rc = second.proc.wait(15)
    assert rc != 0, "a second guard of the same folder must fail"
    second._drain()
    assert "READY=1" not in second.notifications
    assert first.proc is not None, second.log()
    assert f"pid {first.proc.pid}" in second.log(), second.log()
    assert peer.props[(2, 1)] is True, "the running cut was not released by the second daemon"
    assert len(peer.requests) == requests_before, "the second daemon never spoke to the relay"
    wait_for_sync(lambda: peer.props[(2, 1)] is False, 15)  # the first daemon's own release
    assert first.proc.poll() is None


def test_a_relay_that_cannot_be_released_at_stop_is_said_audited_and_published(
    tmp_path: Path, peer: MiioPeer, broker: Any, unique_topic: str, made: list[DaemonProc]
) -> None:
    d = _daemon(made, tmp_path / "one", tmp_path / "data", peer, broker, unique_topic, pulse_s=30)
    states: list[tuple[str, bytes]] = []
    watch = _watch(broker, f"{unique_topic}/#", states)
    try:
        d.start()
        assert d.api("POST", "/api/stove/cut", {"burner": "left"}).json()["ok"]
        peer.unreachable = True  # the relay drops off the network mid-pulse
        d.signal(signal.SIGTERM)
        assert d.wait_exit(30) == 0
        assert "release at shutdown failed" in d.log()
        wait_for_sync(lambda: (f"{unique_topic}/status", b"offline") in states, 10)
        offline_at = states.index((f"{unique_topic}/status", b"offline"))
        before = [json.loads(p) for t, p in states[:offline_at] if t == f"{unique_topic}/left/state"]
        assert "release at shutdown failed" in (before[-1]["last_error"] or ""), before[-1]
        with sqlite3.connect(tmp_path / "data" / "stove.db") as con:
            rows = con.execute(
                "SELECT source, action, result FROM audit WHERE action = 'release' AND result = 'failed'"
            ).fetchall()
        assert rows == [("shutdown", "release", "failed")]
    finally:
        watch.loop_stop()
        watch.disconnect()
        peer.unreachable = False


def test_a_listener_that_cannot_bind_means_no_ready_and_no_relay_left_cutting(
    tmp_path: Path, peer: MiioPeer, broker: Any, unique_topic: str, made: list[DaemonProc]
) -> None:
    """A start that fails half-way leaves no relay cutting: the overdue cut fired at start (a 30 s
    pulse) is released when the HTTP port turns out to be taken. (Two things release it: the stop
    sequence, and the pulse's own ``finally`` when the loop cancels it; this checks the outcome.)"""
    d = _daemon(made, tmp_path / "one", tmp_path / "data", peer, broker, unique_topic, pulse_s=30)
    d.start()
    assert d.api("POST", "/api/stove/cut", {"burner": "left", "delay_s": 1}).json()["ok"]
    d.signal(signal.SIGTERM)
    assert d.wait_exit() == 0
    time.sleep(1.5)  # the deadline passes while the daemon is down: it fires at the next start
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", d.port))
        taken.listen()
        d.start(wait_ready=False)
        assert d.proc is not None
        rc = d.proc.wait(30)
        d._drain()
    assert rc != 0
    assert "READY=1" not in d.notifications
    assert "cannot listen" in d.log()
    assert peer.props[(2, 1)] is False, "a 30 s pulse started at start was released when the start failed"
    cut = [c for c in peer.changes("2.1", True) if c.source != "init"]
    assert cut, "the overdue cut fires at start, before the HTTP listener is tried"


def test_an_owed_cut_is_reported_on_mqtt_and_paid_when_the_relay_returns(
    tmp_path: Path, peer: MiioPeer, broker: Any, unique_topic: str, made: list[DaemonProc]
) -> None:
    d = _daemon(made, tmp_path / "one", tmp_path / "data", peer, broker, unique_topic, pulse_s=0.5)
    seen: list[tuple[str, bytes]] = []
    watch = _watch(broker, f"{unique_topic}/left/#", seen)
    try:
        d.start()
        assert d.api("POST", "/api/stove/cut", {"burner": "left", "delay_s": 2}).json()["ok"]
        peer.unreachable = True  # a Wi-Fi blip across the deadline
        wait_for_sync(lambda: any(t.endswith("/event") for t, _ in seen), 30)
        event = json.loads(next(p for t, p in seen if t.endswith("/event")))
        assert event["event_type"] == "cut_failed"
        assert event["source"] == "timer"
        state = json.loads(d.api("GET", "/api/stove").text)["burners"]["left"]
        assert state["owed"]["source"] == "timer"
        assert state["deadline"] is None
        assert not peer.changes("2.1", True)[1:], "nothing was cut while the relay was away"
        shown = d.cli("stove", "status")
        assert shown.returncode == 0, shown.stdout + shown.stderr
        assert "CUT OWED" in shown.stdout, shown.stdout + shown.stderr
        time.sleep(12)  # several failed attempts: the old code gave up after four
        peer.unreachable = False
        wait_for_sync(lambda: [c for c in peer.changes("2.1", True) if c.source != "init"], 40)
        wait_for_sync(
            lambda: json.loads(d.api("GET", "/api/stove").text)["burners"]["left"]["owed"] is None, 10
        )
        wait_for_sync(lambda: any(e["source"] == "timer" and e["action"] == "cut" and e["result"] == "ok"
                                  for e in d.api("GET", "/api/stove/log").json()), 10)  # after the pulse
        failed = [e for e in d.api("GET", "/api/stove/log?limit=200").json() if e["result"] == "failed"]
        assert len(failed) >= 3, "each failed attempt is audited"
    finally:
        watch.loop_stop()
        watch.disconnect()
        peer.unreachable = False
