"""Where the daemon runs: one daemon per data folder, and the record that tells the CLI about it.

:class:`DataLock` is an exclusive ``flock`` taken before any relay is touched.
A second ``coolstove run`` on the same folder used to log ``ready`` and then
execute every command and timer a second time; its start-up reconciliation
even released a running cut. The lock file holds the owner's pid so the
refusal can name it. ``flock`` locks die with their process (``kill -9``
included), so a crash never leaves a stale lock behind.

:class:`RuntimeRecord` is ``daemon.json`` in the runtime folder (``$RUNTIME_DIRECTORY``
under systemd, else ``$XDG_RUNTIME_DIR/coolstove``): the daemon's pid, data folder,
listeners and where its HTTP token comes from (never the token), written at READY
and removed at stop. The CLI reads it with :func:`core.config.find_daemon`; one left
behind by ``kill -9`` names a dead pid, which the CLI ignores.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from core.config import RUNTIME_FILE, DaemonRecord, read_daemon_record
from core.errors import ConfigError

__all__ = ["DataLock", "RuntimeRecord"]

LOCK_NAME = "coolstove.lock"


class DataLock:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise ConfigError naming the daemon that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise ConfigError(
                f"another coolstove daemon (pid {holder}) already guards the data folder "
                f"{self.path.parent.resolve()}; stop it first, or give this one its own [storage] data_dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> DataLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class RuntimeRecord:
    """``daemon.json`` in ``runtime_dir`` (None: nowhere to write it, so nothing is written)."""

    def __init__(self, runtime_dir: Path | None) -> None:
        self.path = runtime_dir / RUNTIME_FILE if runtime_dir is not None else None
        self._written = False

    def write(self, record: DaemonRecord) -> None:
        """Replace the record atomically; readable by everyone (it holds no secret), whatever the umask.

        Raises OSError when the runtime folder cannot be written.
        """
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{RUNTIME_FILE}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.fchmod(fd, 0o644)
            os.write(fd, record.model_dump_json(indent=2).encode() + b"\n")
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        self._written = True

    def remove(self) -> None:
        """Remove the record if it is still this daemon's (another daemon may have replaced it since)."""
        if self.path is None or not self._written:
            return
        self._written = False
        current = read_daemon_record(self.path)
        if current is not None and current.pid == os.getpid():
            with contextlib.suppress(OSError):  # never in the way of the stop sequence
                self.path.unlink()
