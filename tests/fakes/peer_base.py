"""What the fake relay peers share: the state history, the state file, running them.

A peer runs on an asyncio loop: the test's own (``async with peer``), a
background thread with its own loop (``with peer.in_thread()``, for sync code
or for a peer that must outlive one loop), or a standalone process (each peer
module's ``main()``; it prints ``READY <address>`` once it serves, appends every
state change to ``--state-file`` as a JSON line, and exits on SIGTERM/SIGINT).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["Peer", "StateChange", "read_state_file", "run_standalone"]


@dataclass(frozen=True)
class StateChange:
    """One change of one piece of device state.

    ``ts`` is ``time.time()``; ``mono`` is ``time.monotonic()``, which on Linux
    is CLOCK_MONOTONIC and so comparable between processes of one host (the
    latency benchmark compares it with the daemon's clock). ``channel`` names
    the state: miio ``"2.1"`` (siid.piid), Tasmota ``"POWER1"``, zigbee2mqtt
    ``"state"``. ``source`` says what changed it: ``init``, the command
    (``set_properties``, ``cmnd``, ``set``), or the device itself
    (``off-delay``, ``pulse``, ``on_time``, ``flip``, ``revert``).
    """

    ts: float
    mono: float
    channel: str
    value: Any
    source: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


def read_state_file(path: str | Path) -> list[StateChange]:
    """The history a standalone peer wrote (a missing file is an empty history)."""
    p = Path(path)
    if not p.exists():
        return []
    out = []
    for line in p.read_text(encoding="utf-8").splitlines():
        if line.strip():
            out.append(StateChange(**json.loads(line)))
    return out


class Peer:
    """Base: history, optional state file, and the three ways to run."""

    def __init__(self, *, state_file: str | Path | None = None) -> None:
        self.history: list[StateChange] = []
        self.state_file = Path(state_file) if state_file else None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------ history
    def record(self, channel: str, value: Any, source: str) -> None:
        change = StateChange(time.time(), time.monotonic(), channel, value, source)
        self.history.append(change)
        if self.state_file is not None:
            with self.state_file.open("a", encoding="utf-8") as fh:
                fh.write(change.to_json() + "\n")

    def changes(self, channel: str, value: Any = None) -> list[StateChange]:
        """The history of one channel (optionally only the changes to ``value``)."""
        return [c for c in self.history if c.channel == channel and (value is None or c.value == value)]

    # ------------------------------------------------------------ running
    @property
    def address(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    async def start(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    async def stop(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    async def __aenter__(self) -> Any:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @contextlib.contextmanager
    def in_thread(self, timeout: float = 10.0) -> Iterator[Any]:
        """Serve from a background thread with its own loop for the duration of the block."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._thread_loop = loop
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # reported to the caller
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.stop())
                loop.close()

        self._thread = threading.Thread(target=run, name=f"peer-{type(self).__name__}", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError("peer did not start")
        if failure:
            raise failure[0]
        try:
            yield self
        finally:
            assert self._thread_loop is not None
            self._thread_loop.call_soon_threadsafe(self._thread_loop.stop)
            self._thread.join(timeout)
            self._thread = None

    def call_in_peer_loop(self, fn: Any, *args: Any) -> None:
        """Run ``fn(*args)`` on the loop that serves this peer (for threads other than that one)."""
        if self._thread_loop is not None and threading.current_thread() is not self._thread:
            self._thread_loop.call_soon_threadsafe(fn, *args)
        else:
            fn(*args)


def run_standalone(peer: Peer, toggles: dict[int, str] | None = None) -> None:
    """Serve until SIGTERM/SIGINT; print ``READY <peer.address>``; signals in ``toggles`` flip a knob."""

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        for signum, attr in (toggles or {}).items():

            def flip(attr: str = attr) -> None:
                setattr(peer, attr, not getattr(peer, attr))
                print(f"{attr}={getattr(peer, attr)}", file=sys.stderr, flush=True)

            loop.add_signal_handler(signum, flip)
        async with peer:
            print(f"READY {peer.address}", flush=True)
            await stop.wait()

    asyncio.run(serve())
