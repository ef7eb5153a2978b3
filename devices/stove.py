"""The stove guard's state machine: burners are *armed* (usable) or being *cut*.

A cut energises the relay (NC wiring breaks the flame-failure loop, exactly
like a flame-out), holds it for ``pulse_s``, releases it and reads it back.
Nothing here can turn gas on: releasing the relay only lets a person relight
the burner by hand. Wiring is translated here and nowhere else, so no one ever
sees the inverted switch.

Safety rules this module keeps:
- the pulse is bounded twice: by the daemon's own release (in ``finally``, so a
  cancelled or failed cut still releases) and, where the device has one, by the
  device's own off-delay, so a crash of the daemon cannot keep the gas cut;
- a release that fails is retried in the background until it succeeds;
- at start every relay is read and released unless a cut is in progress.

What the state says about the gas (``valve``) is read in :mod:`devices.burner`.
The last cut is restored from the audit log at start, so a restart forgets neither.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from core.backoff import Backoff
from core.config import Config
from core.errors import DeviceError, DeviceUnavailable, InputError
from devices.audit import AuditLog
from devices.burner import BurnerGuard, LastCut, valve_reading
from devices.commands import Command
from devices.drivers import make_relay
from devices.mqtt_bus import MqttBus
from devices.relay import Relay

__all__ = ["EventListener", "Listener", "Stove", "TimerBook"]


class TimerBook(Protocol):
    """What the stove and its users ask of its timers (``devices.timers.Timers``, attached at start).

    Countdowns and owed cuts for the stove itself, owed cuts for the voice and
    flame inputs, and the recurring schedules for the HTTP API.
    """

    def deadline(self, burner: str) -> dt.datetime | None: ...

    def owed(self, burner: str) -> dict[str, Any] | None: ...

    async def set_deadline(
        self, burner: str, when: dt.datetime, *, relative_s: float | None = None
    ) -> None: ...

    async def cancel(self, burner: str) -> list[str]: ...

    async def extend(self, burner: str, by_s: float) -> dt.datetime: ...

    async def owe_now(self, burners: list[str], source: str) -> None: ...

    def schedules(self) -> list[dict[str, Any]]: ...

    async def add_schedule(self, burner: str, cron: str) -> dict[str, Any]: ...

    async def remove_schedule(self, sid: str) -> bool: ...


_LOGGER = logging.getLogger(__name__)
RELEASE_RETRY_MAX_S = 30.0
DEVICE_PULSE_MARGIN_S = 2.0
#: Without a flame input, how long after a cut the valve reads ``closed`` before it reads unknown
#: (a candidate for a ``[stove] valve_closed_after_cut_min`` setting).
VALVE_CLOSED_AFTER_CUT_S = 30 * 60.0

Listener = Callable[[str], Awaitable[None] | None]
EventListener = Callable[[str, dict[str, Any]], Awaitable[None]]


class Stove:
    """All burners, the commands on them, and the listeners that publish their state."""

    def __init__(
        self,
        cfg: Config,
        audit: AuditLog,
        *,
        relays: dict[str, Relay] | None = None,
        mqtt_bus: MqttBus | None = None,
    ) -> None:
        self.cfg = cfg
        self.audit = audit
        relays = relays or {}
        self.burners: dict[str, BurnerGuard] = {
            b.name: BurnerGuard(b, relays.get(b.name) or make_relay(b, mqtt_bus or cfg.mqtt))
            for b in cfg.burners
        }
        self._listeners: list[Listener] = []
        self.timers: TimerBook | None = None  # attached by Timers.start()
        self._event_listeners: list[EventListener] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._valve_tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    # ------------------------------------------------------------ listeners
    def add_listener(self, fn: Listener) -> None:
        self._listeners.append(fn)

    async def changed(self, name: str) -> None:
        for fn in list(self._listeners):
            try:
                res = fn(name)
                if asyncio.iscoroutine(res):
                    await res
            except Exception:
                _LOGGER.exception("state listener failed for %s", name)

    def add_event_listener(self, fn: EventListener) -> None:
        self._event_listeners.append(fn)

    async def event(self, name: str, payload: dict[str, Any]) -> None:
        """Tell listeners (MQTT, Home Assistant) something happened that is not a state."""
        payload = {"event_type": payload.get("event"), **payload, "burner": name,
                   "at": dt.datetime.now(dt.UTC).isoformat()}
        for fn in list(self._event_listeners):
            try:
                await fn(name, payload)
            except Exception:
                _LOGGER.exception("event listener failed for %s", name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.burners)

    def targets(self, burner: str) -> list[BurnerGuard]:
        if burner == "all":
            return list(self.burners.values())
        try:
            return [self.burners[burner]]
        except KeyError:
            raise InputError(
                f"unknown burner {burner!r} (known: {', '.join((*self.burners, 'all'))})"
            ) from None

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Connect every relay and reconcile: nothing may stay energised without a cut."""
        for g in self.burners.values():
            if g.last_cut is None:
                entry = await self.audit.last_cut(g.name)
                if entry is not None:
                    g.last_cut = LastCut.from_audit(entry)
                    self._schedule_valve_update(g)
        for g in self.burners.values():
            await g.relay.start()
        await asyncio.gather(*(self.reconcile(g) for g in self.burners.values()))

    async def reconcile(self, g: BurnerGuard) -> None:
        if g.cutting:
            return
        try:
            coil = await g.relay.read()
        except DeviceError as exc:
            self._mark_unreachable(g, exc)
            self._ensure_released(g)
            await self.changed(g.name)
            return
        g.reachable = True
        g.energised = coil
        if coil == g.cut_level:
            _LOGGER.warning("relay of %s found cutting with no cut in progress: releasing it", g.name)
            await self.audit.record(source="startup", burner=g.name, action="release", result="ok",
                                    detail="found energised at start")
            await self._release(g)
        await self.changed(g.name)

    async def shutdown(self) -> None:
        """Release every relay before anything else goes away (MQTT disconnects after this)."""
        self._closing = True
        for g in self.burners.values():
            if g.valve_timer is not None:
                g.valve_timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for g in self.burners.values():
            if g.release_task is not None:
                g.release_task.cancel()
        for g in self.burners.values():
            try:
                await asyncio.wait_for(self._set_rest(g), timeout=5)
            except (DeviceError, OSError, TimeoutError) as exc:
                # Said loudly, audited and published before "offline": the device's own
                # off-delay (where it has one) is now the only thing that releases it.
                detail = f"release at shutdown failed: {exc.__class__.__name__}: {exc}"
                _LOGGER.error("relay of %s: %s", g.name, detail)
                if isinstance(exc, DeviceError):
                    self._mark_unreachable(g, exc)
                g.last_error = detail
                await self.audit.record(source="shutdown", burner=g.name, action="release", result="failed",
                                        detail=detail)
            await self.changed(g.name)
        for g in self.burners.values():
            with contextlib.suppress(Exception):
                await g.relay.stop()

    # ------------------------------------------------------------ commands
    async def execute(self, cmd: Command, source: str) -> dict[str, Any]:
        """Carry out one command; every outcome is audited and returned, never raised."""
        t0 = time.perf_counter()
        targets = self.targets(cmd.burner)
        try:
            if cmd.action == "cut" and cmd.deadline(dt.datetime.now(dt.UTC)) is None:
                results = await asyncio.gather(*(self.cut(g, source, t0=t0) for g in targets))
                ok = all(r["ok"] for r in results)
                return {
                    "ok": ok,
                    "action": "cut",
                    "burners": {g.name: r for g, r in zip(targets, results, strict=True)},
                }
            if self.timers is None:
                raise InputError("timers are not available")
            if cmd.action == "cut":
                when = cmd.deadline(dt.datetime.now(dt.UTC))
                assert when is not None
                for g in targets:
                    await self.timers.set_deadline(g.name, when, relative_s=cmd.delay_s)
                detail = f"deadline {when.isoformat()}"
            elif cmd.action == "cancel":
                cancelled = []
                for g in targets:
                    dropped = await self.timers.cancel(g.name)
                    if dropped:
                        cancelled.append(f"{g.name} ({' and '.join(dropped)})")
                detail = f"cancelled: {', '.join(cancelled) or 'nothing was pending'}"
            else:  # extend
                assert cmd.by_s is not None
                missing = [g.name for g in targets if self.timers.deadline(g.name) is None]
                if missing:
                    raise InputError(f"no countdown to extend on {', '.join(missing)}")
                for g in targets:
                    await self.timers.extend(g.name, cmd.by_s)
                detail = f"extended by {cmd.by_s:g} s"
        except InputError as exc:
            await self._audit_all(targets, source, cmd.action, "rejected", str(exc), t0)
            return {"ok": False, "action": cmd.action, "error": str(exc)}
        await self._audit_all(
            targets, source, cmd.action if cmd.action != "cut" else "cut_later", "ok", detail, t0
        )
        for g in targets:
            await self.changed(g.name)
        return {
            "ok": True,
            "action": cmd.action,
            "detail": detail,
            "status": {g.name: self.status(g.name) for g in targets},
        }

    async def _audit_all(
        self, targets: list[BurnerGuard], source: str, action: str, result: str, detail: str, t0: float
    ) -> None:
        latency = (time.perf_counter() - t0) * 1000
        for g in targets:
            await self.audit.record(source=source, burner=g.name, action=action, result=result,
                                    detail=detail, latency_ms=latency)

    async def reject(self, source: str, burner: str, action: str, error: str) -> None:
        """Audit a command that never became a Command (malformed input), rate-limited per source and kind."""
        await self.audit.refused(source, burner, action or "?", error)

    async def cut(self, g: BurnerGuard, source: str, *, t0: float | None = None) -> dict[str, Any]:
        """Energise now; the hold, release and read-back go on in the background.

        Returns as soon as the relay confirmed it is cutting (or failed to), so
        a caller hears "gas cut" in milliseconds, not after the pulse. A second
        cut during a pulse is a no-op.
        """
        t0 = time.perf_counter() if t0 is None else t0
        if g.cutting and g.confirmed is not None:
            # The pulse in progress answers for this cut too, but only if the relay took it:
            # a pulse that failed and is still releasing is no confirmation (an owed cut retries).
            result = await asyncio.shield(g.confirmed)
            latency = (time.perf_counter() - t0) * 1000
            if result.get("ok"):
                await self.audit.record(source=source, burner=g.name, action="cut", result="ok",
                                        detail="already cutting", latency_ms=latency)
                return {"ok": True, "detail": "already cutting"}
            error = f"the cut in progress failed: {result.get('error')}"
            await self.audit.record(source=source, burner=g.name, action="cut", result="failed",
                                    detail=error, latency_ms=latency)
            return {"ok": False, "error": error}
        if self._closing:
            return {"ok": False, "error": "the daemon is stopping"}
        g.cutting = True  # claimed before the first await: two cuts cannot both start
        confirmed: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        g.confirmed = confirmed
        task = asyncio.ensure_future(self._pulse(g, source, t0, confirmed))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return await asyncio.shield(confirmed)

    async def wait_idle(self) -> None:
        """Wait until every pulse in progress has released (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _pulse(
        self, g: BurnerGuard, source: str, t0: float, confirmed: asyncio.Future[dict[str, Any]]
    ) -> None:
        started = dt.datetime.now(dt.UTC)
        latency: float | None = None
        took = False  # the relay confirmed the cut: the gas is off until a hand relights it
        try:
            async with g.lock:
                if g.release_task is not None:
                    g.release_task.cancel()
                    g.release_task = None
                try:
                    auto_off = g.cfg.pulse_s + DEVICE_PULSE_MARGIN_S if g.cut_level else None
                    await g.relay.set(g.cut_level, auto_off_s=auto_off)
                    took = True
                    latency = (time.perf_counter() - t0) * 1000
                    g.energised, g.reachable, g.last_error = g.cut_level, True, None
                    _LOGGER.info("gas cut on %s (source %s, %.0f ms)", g.name, source, latency)
                    if not confirmed.done():
                        confirmed.set_result({"ok": True, "latency_ms": round(latency, 1)})
                    await self.changed(g.name)
                    await asyncio.sleep(g.cfg.pulse_s)
                except DeviceError as exc:
                    self._mark_unreachable(g, exc)
                    g.last_cut = LastCut(started, source, "failed", str(exc))
                    _LOGGER.error("cut on %s failed: %s", g.name, exc)
                    if not confirmed.done():
                        confirmed.set_result({"ok": False, "error": str(exc)})
                    await self.audit.record(source=source, burner=g.name, action="cut", result="failed",
                                            detail=str(exc), latency_ms=(time.perf_counter() - t0) * 1000)
                    return
                finally:
                    released = await self._release(g)
                    if took:  # recorded before the state goes out: the valve never flickers "open"
                        g.last_cut = LastCut(started, source, "ok", None if released else "release pending",
                                             ended=dt.datetime.now(dt.UTC))
                        self._schedule_valve_update(g)
                    g.cutting = False
                    await self.changed(g.name)
            await self.audit.record(
                source=source,
                burner=g.name,
                action="cut",
                result="ok",
                detail=f"pulse {g.cfg.pulse_s:g} s" + ("" if released else "; release retrying"),
                latency_ms=latency,
            )
            await self.changed(g.name)
        finally:
            g.cutting = False
            if not confirmed.done():
                confirmed.set_result({"ok": False, "error": "cut interrupted before the relay answered"})

    # ------------------------------------------------------------ release
    async def _set_rest(self, g: BurnerGuard) -> None:
        await g.relay.set(not g.cut_level)
        g.energised = not g.cut_level
        g.reachable = True

    async def _release(self, g: BurnerGuard) -> bool:
        """Release and read back; on failure keep retrying in the background."""
        try:
            await self._set_rest(g)
            return True
        except DeviceError as exc:
            self._mark_unreachable(g, exc)
            _LOGGER.error("release of %s failed (%s); retrying until it succeeds", g.name, exc)
            self._ensure_released(g)
            return False

    def _ensure_released(self, g: BurnerGuard) -> None:
        if self._closing or (g.release_task is not None and not g.release_task.done()):
            return
        g.release_task = asyncio.ensure_future(self._release_loop(g))

    async def _release_loop(self, g: BurnerGuard) -> None:
        backoff = Backoff(initial=0.5, maximum=RELEASE_RETRY_MAX_S)
        while True:
            await backoff.sleep()
            if g.cutting:
                return
            try:
                async with g.lock:
                    await self._set_rest(g)
            except DeviceError as exc:
                self._mark_unreachable(g, exc)
                continue
            _LOGGER.info("relay of %s released after retrying", g.name)
            await self.changed(g.name)
            return

    def _mark_unreachable(self, g: BurnerGuard, exc: DeviceError) -> None:
        reachable = not isinstance(exc, DeviceUnavailable)  # a refusal is still an answer
        if g.reachable is not False and not reachable:
            _LOGGER.warning("relay of %s unreachable: %s", g.name, exc)
        g.reachable = reachable
        g.last_error = str(exc)

    async def poll(self) -> None:
        """Read every idle relay once: keeps reachability true and catches stuck coils."""
        for g in self.burners.values():
            if g.cutting or self._closing:
                continue
            try:
                coil = await g.relay.read()
            except DeviceError as exc:
                was_reachable = g.reachable
                self._mark_unreachable(g, exc)
                if was_reachable is not False:
                    await self.changed(g.name)
                continue
            was = (g.reachable, g.energised)
            g.reachable, g.energised = True, coil
            if coil == g.cut_level and not g.cutting:
                _LOGGER.warning("relay of %s is cutting with no cut in progress: releasing it", g.name)
                await self._release(g)
            if was != (g.reachable, g.energised):
                if was[0] is False:
                    _LOGGER.info("relay of %s reachable again", g.name)
                await self.changed(g.name)

    # ------------------------------------------------------------ flame and valve
    def has_flame_input(self, g: BurnerGuard) -> bool:
        """Whether a flame input covers this burner (its reports are evidence of a relight)."""
        flame = self.cfg.flame
        return bool(flame.topic) and flame.burner in (None, "all", g.name)

    async def flame_reported(self, burner: str, burning: bool) -> None:
        """The flame input's word for ``burner`` (or ``all``); publishes the state when it changes."""
        now = dt.datetime.now(dt.UTC)
        for g in self.targets(burner):
            if burning and not g.burning:
                g.burning_since = now
            if g.burning != burning:
                g.burning = burning
                await self.changed(g.name)

    def valve(self, g: BurnerGuard, now: dt.datetime | None = None) -> str | None:
        """``open``, ``closed`` or None (unknown); see :func:`devices.burner.valve_reading`."""
        now = now or dt.datetime.now(dt.UTC)
        return valve_reading(g, self.has_flame_input(g), now, VALVE_CLOSED_AFTER_CUT_S)

    def _schedule_valve_update(self, g: BurnerGuard) -> None:
        """Without a flame input the valve turns unknown when its window ends: publish it then."""
        if g.valve_timer is not None:
            g.valve_timer.cancel()
            g.valve_timer = None
        last = g.last_cut
        if self._closing or self.has_flame_input(g) or last is None or last.result != "ok":
            return
        left = VALVE_CLOSED_AFTER_CUT_S - (dt.datetime.now(dt.UTC) - (last.ended or last.at)).total_seconds()
        if left <= 0:
            return
        loop = asyncio.get_running_loop()
        g.valve_timer = loop.call_later(left + 0.5, self._valve_window_ended, g)

    def _valve_window_ended(self, g: BurnerGuard) -> None:
        g.valve_timer = None
        if self._closing:
            return
        task = asyncio.get_running_loop().create_task(self.changed(g.name))
        self._valve_tasks.add(task)
        task.add_done_callback(self._valve_tasks.discard)

    # ------------------------------------------------------------ status
    def status(self, name: str) -> dict[str, Any]:
        g = self.burners[name]
        deadline = self.timers.deadline(name) if self.timers is not None else None
        owed = self.timers.owed(name) if self.timers is not None else None
        now = dt.datetime.now(dt.UTC)
        return {
            "burner": name,
            "state": "cutting" if g.cutting else "armed",
            "relay": "unknown" if g.energised is None else ("energised" if g.energised else "released"),
            "gas_cut": g.gas_cut,
            "reachable": g.reachable,
            "deadline": deadline.isoformat() if deadline else None,
            "time_left_s": max(0, round((deadline - now).total_seconds())) if deadline else None,
            # whole minutes left, at least 1 (Home Assistant's "Cut in" number); None: no countdown
            "cut_in_min": max(1, math.ceil((deadline - now).total_seconds() / 60)) if deadline else None,
            "valve": self.valve(g, now),
            "burning": g.burning if self.has_flame_input(g) else None,
            "owed": owed,  # a cut that fell due and is not confirmed yet: being retried
            "last_cut": g.last_cut.as_dict() if g.last_cut else None,
            "last_error": g.last_error,
            "driver": g.cfg.driver,
            "pulse_s": g.cfg.pulse_s,
        }

    def status_all(self) -> dict[str, Any]:
        return {name: self.status(name) for name in self.burners}
