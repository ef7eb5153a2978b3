"""What the stove guard needs from a relay channel, and the simulated one.

A driver only knows the coil: ``set(True)`` energises it, ``set(False)``
releases it, ``read()`` says which it is. What that means for the gas (NC or
NO wiring) is the stove's business (``devices/stove.py``), so no driver and no
user ever deals with the inverted switch.

``auto_off_s`` asks the device to release the coil by itself after that many
seconds (Tasmota ``PulseTime``, zigbee2mqtt ``on_time``, a MIoT off-delay
property). Drivers whose device has no such feature ignore it; the daemon's
own release timer still runs, so it is a second line of defence, not the only
one.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import time

from core.errors import DeviceUnavailable

__all__ = ["Relay", "SimulatedRelay"]

_LOGGER = logging.getLogger(__name__)


class Relay(abc.ABC):
    """One relay channel. Methods raise ``DeviceError`` subclasses, nothing else."""

    name: str
    #: True when the device itself releases the coil after ``auto_off_s``.
    has_device_pulse: bool = False

    async def start(self) -> None:  # noqa: B027 - optional hook, no-op by default
        """Connect; must not fail when the device is offline (reads will say so)."""

    async def stop(self) -> None:  # noqa: B027 - optional hook, no-op by default
        """Disconnect and free resources. Never energises anything."""

    @abc.abstractmethod
    async def set(self, on: bool, *, auto_off_s: float | None = None) -> None:
        """Energise (``on``) or release the coil and confirm the device took it."""

    @abc.abstractmethod
    async def read(self) -> bool:
        """The coil's state as the device reports it (True = energised)."""

    async def read_voice(self) -> bool | None:
        """State of the Mi Home / XiaoAI virtual switch, or None if not configured."""
        return None

    async def set_voice(self, on: bool) -> None:  # noqa: B027 - optional hook, no-op by default
        """Put the virtual switch back to its resting state (on) after a voice cut."""


class SimulatedRelay(Relay):
    """A relay that lives in memory: the embedded default until a real one is configured.

    It honours ``auto_off_s`` like a Tasmota ``PulseTime`` would, so the
    daemon's behaviour is the same as with a real device.
    """

    has_device_pulse = True

    def __init__(self, name: str) -> None:
        self.name = name
        self.energised = False
        self.history: list[tuple[float, bool]] = []
        self._auto_off: asyncio.TimerHandle | None = None
        self.offline = False

    async def set(self, on: bool, *, auto_off_s: float | None = None) -> None:
        if self.offline:
            raise DeviceUnavailable(f"simulated relay {self.name} is offline")
        if self._auto_off is not None:
            self._auto_off.cancel()
            self._auto_off = None
        self.energised = on
        self.history.append((time.time(), on))
        if on and auto_off_s:
            loop = asyncio.get_running_loop()
            self._auto_off = loop.call_later(auto_off_s, self._device_release)

    def _device_release(self) -> None:
        self._auto_off = None
        self.energised = False
        self.history.append((time.time(), False))
        _LOGGER.debug("simulated relay %s released itself (device pulse)", self.name)

    async def read(self) -> bool:
        if self.offline:
            raise DeviceUnavailable(f"simulated relay {self.name} is offline")
        return self.energised

    async def stop(self) -> None:
        if self._auto_off is not None:
            self._auto_off.cancel()
        self.energised = False
