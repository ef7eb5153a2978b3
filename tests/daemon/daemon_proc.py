"""Run the real daemon as a subprocess, with a systemd-style notify socket the test reads."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from services import free_port

ROOT = Path(__file__).resolve().parents[2]


class DaemonProc:
    def __init__(self, workdir: Path, config: str, env: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.config_path = workdir / "config.toml"
        self.config_path.write_text(config)
        self.port = free_port()  # the stove's control surface and API
        self.pages_port = free_port()  # the paper pages: their own origin
        while self.pages_port == self.port:
            self.pages_port = free_port()
        self.token = "daemon-test-token"
        self.env = {
            **os.environ,
            "COOLSTOVE_HTTP__LISTEN": f"127.0.0.1:{self.port}",
            "COOLSTOVE_HTTP__PAGES_LISTEN": f"127.0.0.1:{self.pages_port}",
            "COOLSTOVE_HTTP_TOKEN": self.token,
            "COOLSTOVE_PAPERS__ENABLED": "false",
            "COOLSTOVE_STORAGE__DATA_DIR": str(workdir / "data"),
            "XDG_RUNTIME_DIR": str(workdir / "run"),  # its daemon.json here, never in the user's own
            **(env or {}),
        }
        self.env.pop("COOLSTOVE_CONFIG", None)
        self.proc: subprocess.Popen[bytes] | None = None
        self.notify_path = workdir / "notify.sock"
        self.notifications: list[str] = []
        self._sock: socket.socket | None = None
        self.log_path = workdir / "daemon.log"

    def start(self, wait_ready: bool = True, timeout: float = 20.0, umask: int = -1) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.notify_path.unlink()
        self.notifications = []
        if self._sock is not None:
            self._sock.close()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(self.notify_path))
        self._sock.setblocking(False)
        env = {**self.env, "NOTIFY_SOCKET": str(self.notify_path), "WATCHDOG_USEC": "2000000",
               "WATCHDOG_PID": ""}
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "daemon.cli", "--config", str(self.config_path), "run"],
            cwd=self.workdir, env=env, stdout=log, stderr=log, umask=umask,
        )
        if wait_ready:
            self.wait_notify("READY=1", timeout)

    def _drain(self) -> None:
        assert self._sock is not None
        while True:
            try:
                data = self._sock.recv(4096)
            except BlockingIOError:
                return
            self.notifications.extend(data.decode().split("\n"))

    def wait_notify(self, message: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._drain()
            if message in self.notifications:
                return
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.02)
        raise AssertionError(f"no {message} from the daemon within {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        rc = self.proc.wait(timeout)
        self._drain()
        return rc

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pages_base(self) -> str:
        return f"http://127.0.0.1:{self.pages_port}"

    def api(self, method: str, path: str, body: dict[str, Any] | None = None,
            headers: dict[str, str] | None = None) -> httpx.Response:
        return httpx.request(method, f"http://127.0.0.1:{self.port}{path}", json=body,
                             headers={"Authorization": f"Bearer {self.token}", **(headers or {})}, timeout=20)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "daemon.cli", "--config", str(self.config_path), *args],
            cwd=self.workdir, env=self.env, capture_output=True, text=True, timeout=60,
        )


def status(d: DaemonProc, burner: str) -> dict[str, Any]:
    return json.loads(d.api("GET", "/api/stove").text)["burners"][burner]
