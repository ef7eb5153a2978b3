"""The daemon as a real process: a real miio relay peer, a real broker, real signals.

These are the safety claims: SIGTERM releases the relay before MQTT goes
away; SIGKILL mid-pulse is repaired at the next start; an overdue deadline
fires at start; a broker outage and an unreachable relay or a wrong token are
survived and reported, never crash the daemon.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from daemon_proc import DaemonProc, status
from fakes.miio_peer import DEFAULT_TOKEN, MiioPeer
from waiting import wait_for_sync

pytestmark = [pytest.mark.miio, pytest.mark.mosquitto, pytest.mark.slow]

WRONG_TOKEN = "ffeeddccbbaa99887766554433221100"


def config(peer_host: str, broker: Any, base: str, pulse_s: float = 1.0, extra: str = "") -> str:
    return f"""
[mqtt]
host = "{broker.host}"
port = {broker.port}
base_topic = "{base}"
discovery_prefix = "{base}-ha"
keepalive = 5

[[stove.burners]]
name = "left"
driver = "miio"
host = "{peer_host}"
siid = 2
piid = 1
pulse_s = {pulse_s}
timeout_s = 0.5
retries = 1
{extra}

[daemon]
shutdown_grace_s = 5
"""


@pytest.fixture
def peer() -> Iterator[MiioPeer]:
    with MiioPeer().in_thread() as p:
        yield p


@pytest.fixture
def daemon(tmp_path: Path, peer: MiioPeer, broker: Any, unique_topic: str) -> Iterator[Any]:
    """Makes daemons on the peer and broker; every one is stopped at the end of the test."""
    made: list[DaemonProc] = []

    def make(
        pulse_s: float = 1.0, extra: str = "", token: str = DEFAULT_TOKEN, on_broker: Any = None
    ) -> DaemonProc:
        d = DaemonProc(tmp_path, config(peer.address, on_broker or broker, unique_topic, pulse_s, extra),
                       {"COOLSTOVE_BURNER_LEFT_TOKEN": token})
        made.append(d)
        return d

    yield make
    for d in made:
        d.stop()


def relay_on(peer: MiioPeer) -> bool:
    return bool(peer.props[(2, 1)])


def energised_at(peer: MiioPeer) -> list[float]:
    return [c.ts for c in peer.changes("2.1", True) if c.source != "init"]


class Retained:
    """Reads retained messages with plain paho (a different client than the daemon's)."""

    def __init__(self, broker: Any, topic: str) -> None:
        self.messages: dict[str, bytes] = {}
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2)
        self.client.on_message = lambda c, u, m: self.messages.__setitem__(m.topic, m.payload)
        self.client.connect(broker.host, broker.port)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)


def test_ready_sigterm_releases_before_offline(
    tmp_path: Path, peer: MiioPeer, broker: Any, unique_topic: str, daemon: Any
) -> None:
    d = daemon(pulse_s=30)
    watch = Retained(broker, f"{unique_topic}/#")
    try:
        d.start()
        assert "WATCHDOG=1" in d.notifications or (d.wait_notify("WATCHDOG=1", 3) is None)
        wait_for_sync(lambda: watch.messages.get(f"{unique_topic}/status") == b"online", 10)
        r = d.api("POST", "/api/stove/cut", {"burner": "left"})
        assert r.status_code == 200, r.text
        assert r.json()["ok"], r.text
        assert relay_on(peer), "the relay must be energised during the 30 s pulse"
        d.signal(signal.SIGTERM)
        assert d.wait_exit() == 0
        assert "STOPPING=1" in d.notifications
        assert not relay_on(peer), "SIGTERM mid-pulse must release the relay"
        released = peer.changes("2.1", False)[-1].ts
        wait_for_sync(lambda: watch.messages.get(f"{unique_topic}/status") == b"offline", 5)
        state = json.loads(watch.messages[f"{unique_topic}/left/state"])
        assert state["relay"] == "released", "the released state is published before MQTT disconnects"
        assert released < time.time()
        log = d.log()
        assert DEFAULT_TOKEN not in log, "the device token must never be logged"
    finally:
        watch.close()


def test_sigkill_mid_pulse_then_restart_releases(
    tmp_path: Path, peer: MiioPeer, broker: Any, unique_topic: str, daemon: Any
) -> None:
    d = daemon(pulse_s=60)
    watch = Retained(broker, f"{unique_topic}/status")
    try:
        d.start()
        assert d.api("POST", "/api/stove/cut", {"burner": "left"}).json()["ok"]
        assert relay_on(peer)
        d.signal(signal.SIGKILL)
        d.wait_exit()
        wait_for_sync(lambda: watch.messages.get(f"{unique_topic}/status") == b"offline", 10)  # last will
        assert relay_on(peer), "nothing released it yet (this relay has no device-side off-delay)"
        d.start()
        wait_for_sync(lambda: not relay_on(peer), 30)  # reconciliation at start (timed in bench/)
        entries = d.api("GET", "/api/stove/log").json()
        assert any(e["source"] == "startup" and e["action"] == "release" for e in entries)
    finally:
        watch.close()


def test_device_side_off_delay_releases_even_if_the_daemon_dies(
    tmp_path: Path, peer: MiioPeer, broker: Any, unique_topic: str, daemon: Any
) -> None:
    d = daemon(pulse_s=1, extra="off_delay_piid = 3")
    d.start()
    assert d.api("POST", "/api/stove/cut", {"burner": "left"}).json()["ok"]
    assert relay_on(peer)
    d.signal(signal.SIGKILL)
    d.wait_exit()
    wait_for_sync(lambda: not relay_on(peer), 30)  # pulse 1 s + margin 2 s, by the device alone
    assert peer.changes("2.1", False)[-1].source == "off-delay"


def test_overdue_deadline_fires_at_start(
    tmp_path: Path, peer: MiioPeer, broker: Any, unique_topic: str, daemon: Any
) -> None:
    d = daemon(pulse_s=0.5)
    d.start()
    r = d.api("POST", "/api/stove/cut", {"burner": "left", "delay_s": 2})
    deadline = r.json()["status"]["left"]["deadline"]
    assert deadline
    d.signal(signal.SIGTERM)
    assert d.wait_exit() == 0
    time.sleep(2.5)  # the deadline passes while the daemon is down
    assert energised_at(peer) == []
    t0 = time.time()
    d.start()
    wait_for_sync(lambda: energised_at(peer), 30)
    assert energised_at(peer)[0] >= t0, "the overdue cut fired at start (its lateness is timed in bench/)"
    wait_for_sync(lambda: not relay_on(peer), 30)
    entries = d.api("GET", "/api/stove/log").json()
    assert any(e["source"] == "timer" and e["action"] == "cut" for e in entries)


def test_broker_outage_is_survived(
    tmp_path: Path, peer: MiioPeer, fresh_broker: Any, unique_topic: str, daemon: Any
) -> None:
    d = daemon(pulse_s=0.5, on_broker=fresh_broker)
    d.start()
    fresh_broker.stop()
    time.sleep(1.0)
    assert d.proc is not None
    assert d.proc.poll() is None
    # the stove still works without the broker
    assert d.api("POST", "/api/stove/cut", {"burner": "left"}).json()["ok"]
    wait_for_sync(lambda: not relay_on(peer), 5)
    fresh_broker.start()
    watch = Retained(fresh_broker, f"{unique_topic}/#")
    try:
        wait_for_sync(lambda: watch.messages.get(f"{unique_topic}/status") == b"online", 40)
        before = len(energised_at(peer))
        watch.publish(f"{unique_topic}/left/command", b'{"action":"cut"}')
        wait_for_sync(lambda: len(energised_at(peer)) > before, 10)
    finally:
        watch.close()


def test_unreachable_relay_and_bad_input_never_crash(
    tmp_path: Path, peer: MiioPeer, broker: Any, unique_topic: str, daemon: Any
) -> None:
    d = daemon(pulse_s=0.5)
    watch = Retained(broker, f"{unique_topic}/#")
    try:
        d.start()
        peer.unreachable = True
        r = d.api("POST", "/api/stove/cut", {"burner": "left"})
        assert r.status_code == 200
        assert r.json()["ok"] is False
        assert "left" in r.json()["burners"]
        assert r.json()["burners"]["left"]["error"]
        wait_for_sync(lambda: status(d, "left")["reachable"] is False, 10)
        bad = (b"{", b"\xff" * 10, b'{"action":"on"}', b"x" * 70000, b'{"action":"cut","delay_s":-1}')
        for payload in bad:
            watch.publish(f"{unique_topic}/left/command", payload)
        watch.publish(f"{unique_topic}/left/command", b'{"action":"cut"}')
        time.sleep(1.0)
        assert d.proc is not None, "bad input and a dead relay must not crash it"
        assert d.proc.poll() is None, "bad input and a dead relay must not crash it"
        peer.unreachable = False
        cut_ok = lambda: d.api("POST", "/api/stove/cut", {"burner": "left"}).json()["ok"]  # noqa: E731
        wait_for_sync(cut_ok, 15, interval=1)
        wait_for_sync(lambda: not relay_on(peer), 5)
        entries = d.api("GET", "/api/stove/log?limit=50").json()
        assert sum(e["result"] == "rejected" for e in entries) >= 4
        assert any(e["result"] == "failed" for e in entries)
    finally:
        watch.close()


def test_wrong_token_is_reported_not_fatal(
    tmp_path: Path, peer: MiioPeer, broker: Any, unique_topic: str, daemon: Any
) -> None:
    d = daemon(token=WRONG_TOKEN)
    check = d.cli("config", "check")
    assert check.returncode == 1
    assert "FAIL  burner left" in check.stdout
    assert WRONG_TOKEN not in check.stdout + check.stderr
    d.start()
    assert status(d, "left")["reachable"] is False
    r = d.api("POST", "/api/stove/cut", {"burner": "left"})
    assert r.json()["ok"] is False
    assert peer.wrong_token_packets > 0
    assert not relay_on(peer)
    assert WRONG_TOKEN not in d.log()


def test_cli_talks_to_the_daemon_and_says_when_it_is_not_running(
    tmp_path: Path, peer: MiioPeer, broker: Any, unique_topic: str, daemon: Any
) -> None:
    d = daemon(pulse_s=0.5)
    r = d.cli("stove", "status")
    assert r.returncode == 1
    assert "not running" in r.stderr
    d.start()
    r = d.cli("stove", "off", "--burner", "left", "--in", "10m")
    assert r.returncode == 0, r.stderr
    assert "left: cut at" in r.stdout, r.stderr
    r = d.cli("stove", "status", "--json")
    assert json.loads(r.stdout)["burners"]["left"]["deadline"]
    r = d.cli("stove", "extend", "--by", "5m", "--burner", "left")
    assert r.returncode == 0, r.stderr
    r = d.cli("stove", "cancel")
    assert r.returncode == 0
    assert "left" in r.stdout
    r = d.cli("stove", "off", "--burner", "left")
    assert r.returncode == 0
    assert "gas cut" in r.stdout
    r = d.cli("stove", "schedule", "add", "23:00")
    assert r.returncode == 0
    assert "0 23 * * *" in r.stdout
    sid = r.stdout.split()[1].rstrip(":")
    assert sid in d.cli("stove", "schedule", "list").stdout
    assert d.cli("stove", "schedule", "remove", sid).returncode == 0
    for bad in (["stove", "off", "--in", "-5m"], ["stove", "off", "--burner", "oven"],
                ["stove", "off", "--in", "10m", "--at", "23:00"], ["stove", "schedule", "add", "99:99"],
                ["stove", "log", "--limit", "0"]):
        r = d.cli(*bad)
        assert r.returncode != 0, bad
        assert "error" in r.stderr.lower() or "usage" in r.stderr.lower(), bad
        assert "Traceback" not in r.stderr
    log = d.cli("stove", "log", "-n", "50").stdout
    assert "cut_later" in log, "the CLI's commands are audited as source cli"
    assert " cli " in log, "the CLI's commands are audited as source cli"
    refused = [e for e in d.api("GET", "/api/stove/log?limit=50").json() if e["result"] == "rejected"]
    assert len(refused) == 3, "the daemon judged (and audited) the three bad values the CLI passed on"
    assert {e["source"] for e in refused} == {"cli"}
    assert any("duration" in e["detail"] for e in refused)
    assert any("oven" in e["detail"] for e in refused)
