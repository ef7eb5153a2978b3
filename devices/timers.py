"""Countdowns, owed cuts and recurring schedules: a cut that is owed is never dropped.

The durable data lives in ``stove.db`` (:mod:`devices.timer_store`), written
through the database's writer thread; APScheduler (the user's choice) fires the
jobs from a memory job store rebuilt from those tables at start. The promises:

- **Absolute deadlines on disk.** A countdown is stored as the instant it falls
  due. One that fell due while the daemon was down fires at start.
- **Owed until confirmed.** A deadline or schedule that falls due becomes an
  *owed* cut (on disk, in the same transaction that retires the deadline), and
  stays owed until the relay confirmed a cut by read-back: retried with capped
  backoff for as long as it takes, a ``cut_failed`` event after the first failed
  attempt and again every :data:`CUT_FAILED_EVERY_S`, and ``owed`` in the state.
- **Clock steps.** Every :data:`TICK_S` the wall clock is compared with the
  monotonic one. A deadline never fires early and at most about a second late
  in wall time, whichever way the clock stepped. "Cut in N" given while the
  daemon runs means N seconds of real time, so a step moves its wall deadline
  with it (saved again); "cut at T", schedules, and countdowns loaded from disk
  (no record of elapsed time survives a restart) follow the wall clock.
- **Local times** follow :mod:`devices.localtime`'s DST rule; schedules are
  standard cron (:mod:`devices.cron`), one parser for checking and running.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.date import DateTrigger

from core.backoff import Backoff
from core.errors import InputError, StorageError
from core.sqlitedb import SqliteDatabase
from devices.commands import MAX_DELAY_S
from devices.cron import CronSchedule, parse_schedule
from devices.localtime import local_zone
from devices.stove import Stove
from devices.timer_store import Deadline, Owed, Schedule, TimerStore

__all__ = ["CUT_FAILED_EVERY_S", "MAX_SCHEDULES", "TICK_S", "Timers"]

_LOGGER = logging.getLogger(__name__)
MAX_SCHEDULES = 50
TICK_S = 0.5  # how often the wall clock is re-checked: a step is noticed within a second
STEP_S = 0.5  # a jump of the wall clock against the monotonic one larger than this is a step
CUT_FAILED_EVERY_S = 300.0  # a cut that stays owed is reported again this often
START_PAY_WAIT_S = 3.0  # at start, how long cuts that fell due while down may hold up the rest


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class _Countdown:
    due_at: dt.datetime  # wall clock, the instant shown to users and stored
    relative_s: float | None
    created_at: dt.datetime
    mono_due: float | None  # monotonic deadline for "cut in N" set in this process


class _ScheduleTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 has no type information
    """APScheduler's view of a :class:`CronSchedule`: the same object that checked it computes it."""

    def __init__(self, schedule: CronSchedule, zone: dt.tzinfo) -> None:
        self.schedule = schedule
        self.zone = zone

    def get_next_fire_time(self, previous_fire_time: dt.datetime | None, now: dt.datetime) -> dt.datetime:
        if previous_fire_time is None:
            return self.schedule.next_after(now, self.zone)
        nxt = self.schedule.next_after(previous_fire_time, self.zone)
        if nxt <= now:  # a clock that jumped a year: go straight to the latest missed slot (coalesced
            latest = self.schedule.last_at_or_before(now, self.zone)  # anyway), not through every one
            if latest is not None and latest > nxt:
                return latest
        return nxt

    def __str__(self) -> str:
        return f"cron[{self.schedule.expr}]"


class Timers:
    """The stove's timers; every method that changes something is written to disk first."""

    def __init__(
        self,
        db: SqliteDatabase,
        stove: Stove,
        *,
        zone: dt.tzinfo | None = None,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self.store = TimerStore(db)
        self.stove = stove
        self.zone = zone or local_zone()
        self.now = clock
        self.scheduler = AsyncIOScheduler(
            jobstores={"default": MemoryJobStore()},
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
            timezone=dt.UTC,
        )
        self._countdowns: dict[str, _Countdown] = {}
        self._owed: dict[str, Owed] = {}
        self._owed_tasks: dict[str, asyncio.Task[None]] = {}
        self._owed_error: dict[str, str] = {}
        self._schedules: dict[str, tuple[Schedule, CronSchedule]] = {}
        self._tick_task: asyncio.Task[None] | None = None
        self._offset = 0.0
        self._lock = asyncio.Lock()  # one change at a time: disk and memory stay in step

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Load from disk, fire what fell due while the daemon was down, then run."""
        data = await self.store.load()
        now = self.now()
        self._offset = now.timestamp() - time.monotonic()
        self.stove.timers = self
        self.scheduler.start()
        for o in data.owed:
            self._owed[o.burner] = o
        overdue = [d for d in data.deadlines if d.due_at <= now]
        for d in data.deadlines:
            if d.due_at > now:
                self._countdowns[d.burner] = _Countdown(d.due_at, d.relative_s, d.created_at, None)
                self._add_deadline_job(d.burner, d.due_at)
        if overdue:  # owed at once, not left to a job that runs only once the start is over
            _LOGGER.warning("countdown(s) of %s fell due while the daemon was down: cutting now",
                            ", ".join(d.burner for d in overdue))
            await self._record_owed([Owed(d.burner, d.due_at, "timer") for d in overdue], from_deadline=True)
        for sc in data.schedules:
            try:
                parsed = parse_schedule(sc.cron, now=now, zone=self.zone, stored=True)
            except InputError as exc:
                _LOGGER.error("stored schedule %s (%r) can no longer run: %s", sc.id, sc.cron, exc)
                continue
            self._schedules[sc.id] = (sc, parsed)
            self._add_schedule_job(sc.id, parsed)
            missed = parsed.last_at_or_before(now, self.zone)
            if missed is not None and missed > (sc.last_slot or sc.created_at):
                _LOGGER.warning("schedule %s fell due at %s while the daemon was down: cutting now",
                                sc.id, missed.isoformat())
                await self._schedule_due(sc.id, missed)
        for burner in list(self._owed):
            self._pay(burner)
        if self._owed_tasks:  # cut before the daemon spends time on the rest of its start
            await asyncio.wait(list(self._owed_tasks.values()), timeout=START_PAY_WAIT_S)
        self._tick_task = asyncio.create_task(self._tick_loop(), name="timers-tick")

    async def shutdown(self) -> None:
        """Stop firing; owed cuts stay on disk and are paid at the next start."""
        if self._tick_task is not None:
            self._tick_task.cancel()
        tasks = [t for t in (self._tick_task, *self._owed_tasks.values()) if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._owed_tasks.clear()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    # ------------------------------------------------------------ the clock
    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            try:
                await self.tick()
            except Exception:  # the tick must outlive any one bad moment
                _LOGGER.exception("timer tick failed")

    async def tick(self) -> None:
        """Notice a wall-clock step, keep "cut in N" in real time, and let due jobs fire."""
        now = self.now()
        mono = time.monotonic()
        offset = now.timestamp() - mono
        step = offset - self._offset
        self._offset = offset  # slow NTP slewing is followed, only jumps count as steps
        if abs(step) > STEP_S:
            _LOGGER.warning("the wall clock stepped by %+.1f s", step)
            async with self._lock:
                for burner, cd in list(self._countdowns.items()):
                    if cd.mono_due is None:
                        continue
                    due = now + dt.timedelta(seconds=cd.mono_due - mono)
                    cd.due_at = due
                    await self._save_countdown(burner, cd)
                    self._add_deadline_job(burner, due)
            for burner in list(self._countdowns):
                await self.stove.changed(burner)
        if self.scheduler.running:
            self.scheduler.wakeup()

    # ------------------------------------------------------------ countdowns
    def deadline(self, burner: str) -> dt.datetime | None:
        cd = self._countdowns.get(burner)
        return None if cd is None else cd.due_at

    def owed(self, burner: str) -> dict[str, Any] | None:
        o = self._owed.get(burner)
        if o is None:
            return None
        return {"since": o.since.isoformat(), "source": o.source, "last_error": self._owed_error.get(burner)}

    async def set_deadline(self, burner: str, when: dt.datetime, *, relative_s: float | None = None) -> None:
        now = self.now()
        if when <= now:
            raise InputError("the deadline is in the past")
        if (when - now).total_seconds() > MAX_DELAY_S:
            raise InputError("the deadline is more than a week away; use a schedule instead")
        mono_due = time.monotonic() + (when - now).total_seconds() if relative_s is not None else None
        cd = _Countdown(when, relative_s, now, mono_due)
        async with self._lock:
            await self._save_countdown(burner, cd)
            self._countdowns[burner] = cd
            self._add_deadline_job(burner, when)

    async def cancel(self, burner: str) -> list[str]:
        """Drop the countdown and any owed cut of ``burner``; says what was dropped."""
        dropped = []
        async with self._lock:
            if burner in self._countdowns:
                await self.store.drop_deadline(burner)
                del self._countdowns[burner]
                with contextlib.suppress(JobLookupError):
                    self.scheduler.remove_job(f"cut:{burner}")
                dropped.append("countdown")
            if burner in self._owed:
                await self.store.paid(burner)
                del self._owed[burner]
                task = self._owed_tasks.pop(burner, None)
                if task is not None:
                    task.cancel()
                dropped.append("owed cut")
        return dropped

    async def extend(self, burner: str, by_s: float) -> dt.datetime:
        async with self._lock:
            cd = self._countdowns.get(burner)
            if cd is None:
                raise InputError(f"no countdown to extend on {burner}")
            when = cd.due_at + dt.timedelta(seconds=by_s)
            if (when - self.now()).total_seconds() > MAX_DELAY_S:
                raise InputError("the deadline would be more than a week away; use a schedule instead")
            new = _Countdown(when, cd.relative_s, cd.created_at,
                             None if cd.mono_due is None else cd.mono_due + by_s)
            await self._save_countdown(burner, new)
            self._countdowns[burner] = new
            self._add_deadline_job(burner, when)
        return when

    async def _save_countdown(self, burner: str, cd: _Countdown) -> None:
        await self.store.put_deadline(Deadline(burner, cd.due_at, cd.relative_s, cd.created_at))

    def _add_deadline_job(self, burner: str, when: dt.datetime) -> None:
        self.scheduler.add_job(
            self._deadline_due, trigger=DateTrigger(run_date=when), args=[burner],
            id=f"cut:{burner}", name=f"cut {burner}", replace_existing=True,
        )

    async def _deadline_due(self, burner: str) -> None:
        async with self._lock:
            cd = self._countdowns.get(burner)
            if cd is None:
                return
            now = self.now()
            if now < cd.due_at:  # never early: a clock stepped back after APScheduler woke
                self._add_deadline_job(burner, cd.due_at)
                return
            _LOGGER.info("countdown of %s fell due (deadline %s)", burner, cd.due_at.isoformat())
            del self._countdowns[burner]
            await self._record_owed([Owed(burner, cd.due_at, "timer")], from_deadline=True)
        self._pay(burner)

    # ------------------------------------------------------------ owed cuts
    async def owe_now(self, burners: list[str], source: str) -> None:
        """A cut due now that nobody waits on (voice, flame): owed until the relay confirms it."""
        now = self.now()
        async with self._lock:
            await self._record_owed([Owed(b, now, source) for b in burners])
        for b in burners:
            self._pay(b)

    async def _record_owed(
        self,
        owed: list[Owed],
        *,
        from_deadline: bool = False,
        schedule_slot: tuple[str, dt.datetime] | None = None,
    ) -> None:
        for o in owed:
            self._owed.setdefault(o.burner, o)
        try:
            await self.store.owe(owed, from_deadline=from_deadline, schedule_slot=schedule_slot)
        except StorageError:  # the cut goes ahead; only its memory across a restart is lost
            _LOGGER.exception("could not record the owed cut(s) on disk; cutting anyway")

    def _pay(self, burner: str) -> None:
        task = self._owed_tasks.get(burner)
        if task is None or task.done():
            self._owed_tasks[burner] = asyncio.create_task(self._pay_loop(burner), name=f"owed-{burner}")

    async def _pay_loop(self, burner: str) -> None:
        """Cut until the relay confirms; report failures; give up only when the debt is cancelled."""
        backoff = Backoff(initial=1.0, maximum=30.0)
        last_report: float | None = None
        attempts = 0
        while (owed := self._owed.get(burner)) is not None:
            g = self.stove.burners.get(burner)
            if g is None:
                _LOGGER.error("owed cut of %s dropped: the burner is no longer configured", burner)
                await self.stove.reject(owed.source, burner, "cut", "burner no longer configured")
                await self._settle(burner)
                return
            try:
                result = await self.stove.cut(g, owed.source)
            except Exception as exc:  # a bug in a driver must not end the debt
                _LOGGER.exception("owed cut of %s raised", burner)
                result = {"ok": False, "error": f"{exc.__class__.__name__}: {exc}"}
            if result.get("ok"):
                await self._settle(burner)
                await self.stove.changed(burner)
                return
            attempts += 1
            error = str(result.get("error", "unknown error"))
            self._owed_error[burner] = error
            if last_report is None or time.monotonic() - last_report >= CUT_FAILED_EVERY_S:
                last_report = time.monotonic()
                _LOGGER.error("owed cut of %s (due %s, %s) failed %d time(s): %s; retrying until it succeeds",
                              burner, owed.since.isoformat(), owed.source, attempts, error)
                await self.stove.event(burner, {
                    "event": "cut_failed", "source": owed.source, "owed_since": owed.since.isoformat(),
                    "attempts": attempts, "error": error,
                })
            await self.stove.changed(burner)
            await backoff.sleep()

    async def _settle(self, burner: str) -> None:
        async with self._lock:
            self._owed.pop(burner, None)
            self._owed_error.pop(burner, None)
            try:
                await self.store.paid(burner)
            except StorageError:
                _LOGGER.exception(
                    "could not clear the paid cut of %s on disk (it may repeat at start)", burner
                )

    # ------------------------------------------------------------ schedules
    async def add_schedule(self, burner: str, cron: str) -> dict[str, Any]:
        now = self.now()
        parsed = parse_schedule(cron, now=now, zone=self.zone)
        if burner != "all" and burner not in self.stove.burners:
            raise InputError(f"unknown burner {burner!r}")
        async with self._lock:
            if len(self._schedules) >= MAX_SCHEDULES:
                raise InputError(f"at most {MAX_SCHEDULES} schedules")
            sc = Schedule(uuid.uuid4().hex[:8], burner, parsed.expr, now, None)
            await self.store.put_schedule(sc)
            self._schedules[sc.id] = (sc, parsed)
            self._add_schedule_job(sc.id, parsed)
        return self._describe(sc.id)

    def _add_schedule_job(self, sid: str, parsed: CronSchedule) -> None:
        self.scheduler.add_job(
            self._schedule_due, trigger=_ScheduleTrigger(parsed, self.zone), args=[sid],
            id=f"schedule:{sid}", name=parsed.expr, replace_existing=True,
        )

    async def _schedule_due(self, sid: str, slot: dt.datetime | None = None) -> None:
        entry = self._schedules.get(sid)
        if entry is None:
            return
        sc, parsed = entry
        slot = slot or parsed.last_at_or_before(self.now(), self.zone)
        if slot is None or (sc.last_slot is not None and slot <= sc.last_slot):
            return  # this slot was already paid (a restart inside an autumn fold, say)
        targets = list(self.stove.burners) if sc.burner == "all" else [sc.burner]
        _LOGGER.info("schedule %s (%s) fell due: cutting %s", sid, sc.cron, ", ".join(targets))
        async with self._lock:
            self._schedules[sid] = (Schedule(sc.id, sc.burner, sc.cron, sc.created_at, slot), parsed)
            await self._record_owed([Owed(b, slot, "schedule") for b in targets], schedule_slot=(sid, slot))
        for b in targets:
            self._pay(b)

    def _describe(self, sid: str) -> dict[str, Any]:
        sc, parsed = self._schedules[sid]
        burners = list(self.stove.burners) if sc.burner == "all" else [sc.burner]
        nxt = parsed.next_after(self.now(), self.zone)
        return {
            "id": sc.id,
            "burner": sc.burner,
            "burners": burners,
            "cron": sc.cron,
            "next": nxt.isoformat(),
        }

    def schedules(self) -> list[dict[str, Any]]:
        return sorted((self._describe(sid) for sid in self._schedules), key=lambda e: e["next"])

    async def remove_schedule(self, sid: str) -> bool:
        async with self._lock:
            if sid not in self._schedules:
                return False
            await self.store.drop_schedule(sid)
            del self._schedules[sid]
            with contextlib.suppress(JobLookupError):
                self.scheduler.remove_job(f"schedule:{sid}")
        return True
