"""A relay channel of a Wi-Fi Mi relay, over the local miio/MIoT protocol.

The channel is the MIoT property ``(siid, piid)`` (a bool: True = coil
energised); multi-channel Mi relays usually put channel *n* at siid *n+1*,
piid 1 — confirm the model's spec (see docs/relays.md). Every write is read
back: the device must report the state asked for, or the call raises
``DeviceRejected``.

With ``off_delay_piid`` configured, an energise with ``auto_off_s`` first
writes the device's own off-delay (whole seconds, at least 1) on
``(siid, off_delay_piid)``, so the relay releases itself even if this daemon
dies mid-pulse. Without ``auto_off_s`` the device's setting is left as it is.

All protocol work goes through :class:`devices.miio_link.MiioLink`; this
module never imports python-miio.
"""

from __future__ import annotations

import asyncio
import logging
import math

from core.config import MiioBurner
from core.errors import ConfigError, DeviceRejected
from devices.miio_link import MiioLink
from devices.relay import Relay

__all__ = ["MiioRelay"]

_LOGGER = logging.getLogger(__name__)


class MiioRelay(Relay):
    """``Relay`` on a MIoT property of a miio device (``driver = "miio"``)."""

    def __init__(self, burner: MiioBurner, *, link: MiioLink | None = None) -> None:
        if not burner.host or not burner.token:
            raise ConfigError(f"burner {burner.name!r}: driver miio needs host and token")
        self.name = burner.name
        self.cfg = burner
        self.has_device_pulse = burner.off_delay_piid is not None
        self._own_link = link is None
        self._link = link or self._shared_link()
        self._lock = asyncio.Lock()
        self._off_delay_warned = False
        self._stopped = False

    def __repr__(self) -> str:
        return f"<MiioRelay {self.name} {self.cfg.host} {self.cfg.siid}.{self.cfg.piid}>"

    @property
    def link(self) -> MiioLink:
        return self._link

    def _shared_link(self) -> MiioLink:
        b = self.cfg
        return MiioLink.shared(
            b.host or "", b.token or "", model=b.model, timeout_s=b.timeout_s, retries=b.retries
        )

    async def start(self) -> None:
        """Nothing to connect (miio is request/response over UDP; the first call does the handshake)."""
        if self._stopped and self._own_link:
            self._link, self._stopped = self._shared_link(), False

    async def stop(self) -> None:
        if self._own_link and not self._stopped:
            self._stopped = True
            await self._link.release()

    # ------------------------------------------------------------ the coil
    async def set(self, on: bool, *, auto_off_s: float | None = None) -> None:
        b = self.cfg
        async with self._lock:
            if on and auto_off_s is not None and b.off_delay_piid is not None:
                await self._write_off_delay(b.off_delay_piid, auto_off_s)
            await self._link.set_property(self.name, b.siid, b.piid, bool(on))
            actual = _as_bool(await self._link.get_property(self.name, b.siid, b.piid), self.name)
            if actual != bool(on):
                raise DeviceRejected(
                    f"{self.name}: relay reads back {_word(actual)} after being set {_word(on)}"
                )

    async def _write_off_delay(self, piid: int, auto_off_s: float) -> None:
        """Arm the device-side release; a refusal is logged, the cut goes on regardless.

        Cutting the gas is the point of the call; a missing off-delay only
        means the release depends on this daemon (and its restart
        reconciliation), as with a device that has no such feature.
        """
        if not math.isfinite(auto_off_s) or auto_off_s <= 0:
            raise ValueError(f"auto_off_s must be a positive number of seconds, got {auto_off_s!r}")
        seconds = max(1, math.ceil(auto_off_s))
        try:
            await self._link.set_property(self.name, self.cfg.siid, piid, seconds)
        except DeviceRejected as exc:
            level = logging.DEBUG if self._off_delay_warned else logging.ERROR
            _LOGGER.log(level, "%s: device-side off-delay not set, cutting without it: %s", self.name, exc)
            self._off_delay_warned = True

    async def read(self) -> bool:
        async with self._lock:
            return _as_bool(await self._link.get_property(self.name, self.cfg.siid, self.cfg.piid), self.name)

    # ------------------------------------------------------------ Mi Home / XiaoAI virtual switch
    async def read_voice(self) -> bool | None:
        b = self.cfg
        if b.voice_siid is None:
            return None
        async with self._lock:
            return _as_bool(await self._link.get_property(self.name, b.voice_siid, b.voice_piid), self.name)

    async def set_voice(self, on: bool) -> None:
        b = self.cfg
        if b.voice_siid is None:
            return
        async with self._lock:
            await self._link.set_property(self.name, b.voice_siid, b.voice_piid, bool(on))
            actual = _as_bool(await self._link.get_property(self.name, b.voice_siid, b.voice_piid), self.name)
            if actual != bool(on):
                raise DeviceRejected(
                    f"{self.name}: voice switch reads back {_word(actual)} after being set {_word(on)}"
                )


def _as_bool(value: object, name: str) -> bool:
    """A switch property: MIoT says bool; some firmwares answer 0/1."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise DeviceRejected(f"{name}: switch property has a non-boolean value {value!r}")


def _word(on: bool) -> str:
    return "energised" if on else "released"
