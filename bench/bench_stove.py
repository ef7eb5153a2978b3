"""Stove guard figures: cut latency, timer accuracy, idle RSS. Prints; asserts nothing.

Everything is real except the relay: a Mosquitto broker on loopback, the
daemon as a subprocess, and the miio relay peer from tests/fakes speaking the
real miio UDP protocol. Latency is "MQTT command published → relay energised
at the peer" (both clocks are CLOCK_MONOTONIC of one host). The baseline,
measured in the same run, is a bare python-miio ``set_property_by`` to the
same peer plus one broker round trip (publish → own subscription).

    .venv/bin/python bench/bench_stove.py [--cuts 200]
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "daemon"), str(ROOT)]

import paho.mqtt.client as paho  # noqa: E402
from daemon_proc import DaemonProc  # noqa: E402
from fakes.miio_peer import DEFAULT_TOKEN, MiioPeer  # noqa: E402
from services import run_mosquitto  # noqa: E402

CONFIG = """
[mqtt]
host = "{host}"
port = {port}
base_topic = "bench"

[[stove.burners]]
name = "left"
driver = "miio"
host = "{peer}"
siid = 2
piid = 1
pulse_s = {pulse}
timeout_s = 1.0

[[stove.burners]]
name = "right"
driver = "miio"
host = "{peer}"
siid = 3
piid = 1
pulse_s = {pulse}
timeout_s = 1.0
"""


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))]


def summary(name: str, ms: list[float]) -> str:
    return (f"{name:42} n={len(ms):4d}  p50 {statistics.median(ms):7.2f} ms  p95 {pct(ms, 95):7.2f} ms  "
            f"p99 {pct(ms, 99):7.2f} ms  max {max(ms):7.2f} ms")


class Mqtt:
    def __init__(self, host: str, port: int) -> None:
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2)
        self.got = threading.Event()
        self.status: bytes = b""
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        import socket

        sock = self.client.socket()
        assert sock is not None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as the broker does: no Nagle delay
        self.client.subscribe("bench-rtt", qos=1)
        self.client.subscribe("bench/status", qos=1)
        self.client.loop_start()
        time.sleep(0.3)

    def _on_message(self, client: object, userdata: object, m: paho.MQTTMessage) -> None:
        if m.topic == "bench/status":
            self.status = m.payload
        else:
            self.got.set()

    def rtt(self) -> float:
        self.got.clear()
        t0 = time.monotonic()
        self.client.publish("bench-rtt", b"x", qos=1)
        self.got.wait(5)
        return time.monotonic() - t0

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1)


def wait(cond, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.0005)
    raise TimeoutError("condition not met")


def energised_after(peer: MiioPeer, channel: str, t0: float) -> float | None:
    for c in reversed(peer.history):
        if c.channel == channel and c.value is True and c.mono >= t0:
            return c.mono
    return None


def rss_kib(pid: int) -> tuple[int, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        fields[k] = v.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cuts", type=int, default=200)
    ap.add_argument("--timers", type=int, default=10)
    args = ap.parse_args()
    import warnings

    warnings.simplefilter("ignore")
    from miio import MiotDevice

    with run_mosquitto() as broker, MiioPeer().in_thread() as peer, tempfile.TemporaryDirectory() as tmp:
        cfg = CONFIG.format(host=broker.host, port=broker.port, peer=peer.address, pulse=0.2)
        mq = Mqtt(broker.host, broker.port)

        # ---- baseline: bare python-miio + one broker round trip
        dev = MiotDevice(peer.address, DEFAULT_TOKEN, model="coolstove.relay", timeout=1)
        dev.set_property_by(2, 1, False)
        base: list[float] = []
        for _ in range(args.cuts):
            t0 = time.monotonic()
            dev.set_property_by(2, 1, True)
            t_set = energised_after(peer, "2.1", t0)
            assert t_set is not None
            miio_s = t_set - t0
            dev.set_property_by(2, 1, False)
            base.append((miio_s + mq.rtt()) * 1000)

        # ---- the daemon, idle RSS with papers off and on
        for papers in ("false", "true"):
            (Path(tmp) / f"rss-{papers}").mkdir()
            d = DaemonProc(Path(tmp) / f"rss-{papers}", cfg, {})
            d.env.update({"COOLSTOVE_BURNER_LEFT_TOKEN": DEFAULT_TOKEN, "COOLSTOVE_BURNER_RIGHT_TOKEN": DEFAULT_TOKEN,
                          "COOLSTOVE_PAPERS__ENABLED": papers, "COOLSTOVE_PAPERS__POLL_INTERVAL_S": "100000"})
            if papers == "true":
                d.env["COOLSTOVE_PAPERS__CATEGORIES"] = ""
            d.start()
            time.sleep(5)
            rss, hwm = rss_kib(d.proc.pid)  # type: ignore[union-attr]
            print(f"daemon idle, two burners, papers {'on ' if papers == 'true' else 'off'}: "
                  f"RSS {rss / 1024:6.1f} MiB, peak RSS (VmHWM) {hwm / 1024:6.1f} MiB   (target <= 80 MiB)")
            d.stop()

        (Path(tmp) / "run").mkdir()
        d = DaemonProc(Path(tmp) / "run", cfg, {})
        d.env.update({"COOLSTOVE_BURNER_LEFT_TOKEN": DEFAULT_TOKEN, "COOLSTOVE_BURNER_RIGHT_TOKEN": DEFAULT_TOKEN})
        d.start()
        try:
            wait(lambda: mq.status == b"online", 30)
            time.sleep(0.5)
            # ---- cut latency through the daemon
            lat: list[float] = []
            for _ in range(args.cuts):
                wait(lambda: not peer.props[(2, 1)])
                time.sleep(0.15)  # let the previous cut finish its read-back, state publish and audit write
                t0 = time.monotonic()
                mq.publish("bench/left/command", b'{"action":"cut"}')
                wait(lambda t0=t0: energised_after(peer, "2.1", t0) is not None)
                lat.append((energised_after(peer, "2.1", t0) - t0) * 1000)  # type: ignore[operator]
            wait(lambda: not peer.props[(2, 1)])

            # ---- timer accuracy while running
            late: list[float] = []
            for _ in range(args.timers):
                r = d.api("POST", "/api/stove/cut", {"burner": "right", "delay_s": 1.5}).json()
                deadline = r["status"]["right"]["deadline"]
                from datetime import datetime

                dl = datetime.fromisoformat(deadline).timestamp()
                wait(lambda dl=dl: any(c.channel == "3.1" and c.value is True and c.ts >= dl - 1 for c in peer.history))
                fired = next(c.ts for c in peer.history if c.channel == "3.1" and c.value is True and c.ts >= dl - 1)
                late.append((fired - dl) * 1000)
                wait(lambda: not peer.props[(3, 1)])

            # ---- overdue deadline after a restart
            restart: list[tuple[float, float]] = []
            for _ in range(3):
                r = d.api("POST", "/api/stove/cut", {"burner": "right", "delay_s": 1.0}).json()
                from datetime import datetime

                dl = datetime.fromisoformat(r["status"]["right"]["deadline"]).timestamp()
                d.signal(signal.SIGTERM)
                d.wait_exit()
                time.sleep(2.0)
                t_start = time.time()
                d.start()
                wait(lambda t=t_start: any(c.channel == "3.1" and c.value is True and c.ts >= t for c in peer.history), 30)
                fired = next(c.ts for c in peer.history if c.channel == "3.1" and c.value is True and c.ts >= t_start)
                restart.append((fired - t_start, fired - dl))
                wait(lambda: not peer.props[(3, 1)])
        except Exception:
            print(d.log()[-3000:])
            raise
        finally:
            d.stop()

    print(summary("baseline: python-miio set + broker RTT", base))
    print(summary("cut latency: MQTT publish -> relay energised", lat))
    print(f"ratio p99 daemon/baseline: {pct(lat, 99) / pct(base, 99):.2f}x   (targets: p99 <= 50 ms, <= 2x baseline)")
    print(f"throughput: {len(lat)} cuts; daemon path p50 {statistics.median(lat):.2f} ms")
    print(summary("timer lateness while running (fired - deadline)", late))
    for i, (after_start, after_deadline) in enumerate(restart):
        print(f"overdue deadline after restart #{i + 1}: fired {after_start:5.2f} s after process start, "
              f"{after_deadline:5.2f} s after the deadline   (target <= 3 s after start)")
    print(json.dumps({"cut_p50_ms": statistics.median(lat), "cut_p99_ms": pct(lat, 99),
                      "baseline_p99_ms": pct(base, 99)}))


if __name__ == "__main__":
    main()
