"""Real services for the tests: a Mosquitto broker and a PostgreSQL server on loopback.

Each is started on a free port in a temporary folder and stopped at the end;
``deploy/install-test-deps.sh`` (run by ``make test``) installs the packages.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None
    )


@dataclass
class Broker:
    """A running Mosquitto; ``stop()``/``start()`` simulate a broker outage."""

    host: str
    port: int
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = mosquitto_binary()
        assert binary, "mosquitto is not installed (make test installs it)"
        conf = self.workdir / "mosquitto.conf"
        lines = [
            f"listener {self.port} {self.host}",
            "allow_anonymous true",
            "persistence false",
            "set_tcp_nodelay true",  # without it Nagle adds ~40 ms to every small publish
            "log_dest stderr",
            "log_type error",
            "log_type warning",
        ]
        if os.geteuid() == 0:
            lines.append("user root")
        conf.write_text("\n".join(lines) + "\n")
        with (self.workdir / "mosquitto.log").open("ab") as log:
            self.proc = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=log)
        wait_port(self.host, self.port)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


@contextlib.contextmanager
def run_mosquitto() -> Iterator[Broker]:
    with tempfile.TemporaryDirectory(prefix="coolstove-mqtt-") as d:
        os.chmod(d, 0o755)  # noqa: S103 - mosquitto may run as another user
        broker = Broker("127.0.0.1", free_port(), Path(d))
        broker.start()
        try:
            yield broker
        finally:
            broker.stop()


def postgres_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@contextlib.contextmanager
def run_postgres() -> Iterator[str]:
    """A throwaway PostgreSQL cluster; yields a SQLAlchemy URL (psycopg 3)."""
    bindir = postgres_bindir()
    assert bindir, "PostgreSQL is not installed (make test installs it)"
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="coolstove-pg-") as d:
        os.chmod(d, 0o777)  # noqa: S103 - postgres runs as another user under root
        data = Path(d) / "data"
        sock = Path(d)
        run_as: list[str] = []
        if os.geteuid() == 0:
            run_as = ["runuser", "-u", "postgres", "--"]
            data.mkdir()
            shutil.chown(data, "postgres", "postgres")
        subprocess.run(
            [
                *run_as,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "coolstove",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
        )
        proc = subprocess.Popen(
            [
                *run_as,
                str(bindir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(port),
                "-k",
                str(sock),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_port("127.0.0.1", port, 30)
            for _ in range(100):
                r = subprocess.run(
                    [str(bindir / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "coolstove",
                     "-d", "postgres", "-c", "CREATE DATABASE coolstove"],
                    capture_output=True,
                )
                if r.returncode == 0:
                    break
                time.sleep(0.1)
            yield f"postgresql+psycopg://coolstove@127.0.0.1:{port}/coolstove"
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
