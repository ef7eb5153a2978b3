"""One burner's state as the stove guard keeps it, and what that state says about the gas.

What the state says about the gas (:func:`valve_reading`, shown by Home Assistant's valve):

- ``closed`` while the relay holds a cut, and after a confirmed cut until there
  is evidence of a relight. A cut drops the flame-failure valve, and only a
  hand on the knob opens it again. With a flame input covering the burner, the
  evidence is that input going from not burning to burning after the pulse
  ended; the valve then reads ``open``. Without a flame input there is no
  evidence: the valve reads ``closed`` for ``closed_for_s`` after the cut (the
  stove's ``VALVE_CLOSED_AFTER_CUT_S``), then ``None`` (unknown: someone may
  have relit it).
- ``open`` when no cut has been confirmed (none yet, or the last one failed):
  coolstove is not holding the gas off.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from core.config import Burner
from devices.audit import AuditEntry
from devices.relay import Relay

__all__ = ["BurnerGuard", "LastCut", "valve_reading"]

_PULSE_DETAIL = re.compile(r"pulse ([0-9.]+) s")


@dataclass
class LastCut:
    at: dt.datetime
    source: str
    result: str  # ok | failed
    detail: str | None = None
    ended: dt.datetime | None = None  # when the pulse released (None: failed before)

    @classmethod
    def from_audit(cls, entry: AuditEntry) -> LastCut:
        """The cut a pulse's audit row describes (the row is written when the pulse ended)."""
        pulse = _PULSE_DETAIL.match(entry.detail or "")
        if entry.result == "ok":
            started = entry.ts - dt.timedelta(seconds=float(pulse.group(1))) if pulse else entry.ts
            detail = "release pending" if "release retrying" in (entry.detail or "") else None
            return cls(started, entry.source, "ok", detail, ended=entry.ts)
        return cls(entry.ts, entry.source, "failed", entry.detail)

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "source": self.source,
            "result": self.result,
            "detail": self.detail,
        }


@dataclass
class BurnerGuard:
    """One burner: its relay, its lock, and what the world should know about it."""

    cfg: Burner
    relay: Relay
    cutting: bool = False
    energised: bool | None = None  # coil state as last read
    reachable: bool | None = None
    last_cut: LastCut | None = None
    last_error: str | None = None
    burning: bool | None = None  # what the flame input last said (None: no input, or not heard yet)
    burning_since: dt.datetime | None = None  # when the flame input last went from not burning to burning
    valve_timer: asyncio.TimerHandle | None = None  # re-publishes the valve when its closed window ends
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    release_task: asyncio.Task[None] | None = None
    confirmed: asyncio.Future[dict[str, Any]] | None = None  # the answer of the pulse in progress

    @property
    def name(self) -> str:
        return self.cfg.name

    @property
    def cut_level(self) -> bool:
        """The coil state that cuts the gas: energised on NC wiring, released on NO."""
        return self.cfg.wiring == "nc"

    @property
    def gas_cut(self) -> bool | None:
        if self.energised is None:
            return None
        return self.energised == self.cut_level


def valve_reading(g: BurnerGuard, has_flame_input: bool, now: dt.datetime, closed_for_s: float) -> str | None:
    """``open``, ``closed`` or None (unknown), as the module docstring says."""
    if g.cutting:
        return "closed"
    last = g.last_cut
    if last is None or last.result != "ok":
        return "open"
    ended = last.ended or last.at
    if has_flame_input:
        relit = g.burning is True and g.burning_since is not None and g.burning_since > ended
        return "open" if relit else "closed"
    return "closed" if (now - ended).total_seconds() < closed_for_s else None
