"""sd_notify without a dependency: READY, STOPPING, STATUS and the watchdog.

A no-op when ``$NOTIFY_SOCKET`` is unset, so the daemon runs the same outside systemd.
"""

from __future__ import annotations

import os
import socket

__all__ = ["notify", "watchdog_interval"]


def notify(message: str) -> bool:
    """Send one notification (``"READY=1"``); True if a socket was there to take it."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return False
    if path.startswith("@"):
        path = "\0" + path[1:]  # abstract namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.setblocking(False)  # a reader that stopped reading must never stall the event loop
            sock.sendto(message.encode(), path)
    except OSError:  # includes BlockingIOError: a full queue drops this one ping
        return False
    return True


def watchdog_interval() -> float | None:
    """Half of ``WatchdogSec`` in seconds, or None when systemd set no watchdog for us."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return max(int(usec) / 2_000_000, 0.5)
    except ValueError:
        return None
