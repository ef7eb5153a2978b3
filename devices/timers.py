"""Countdowns and schedules as absolute deadlines on disk (APScheduler 3.11).

Jobs live in APScheduler's SQLAlchemy job store inside ``stove.db``, so they
survive restarts; ``misfire_grace_time=None`` with ``coalesce=True`` makes a
cut that fell due while the daemon was down fire once, at start. Each burner
has at most one countdown (``cut:<burner>``, a new one replaces the old);
recurring schedules are cron jobs (``schedule:<id>``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from daemon.errors import InputError
from devices.commands import MAX_DELAY_S, parse_cron

if TYPE_CHECKING:
    from devices.stove import Stove

__all__ = ["Timers", "fire"]

_LOGGER = logging.getLogger(__name__)
_STOVE: Stove | None = None  # the running stove, for jobs loaded back from disk
MAX_SCHEDULES = 50


async def fire(burner: str, source: str) -> None:
    """The job APScheduler runs (referenced by name, so it survives restarts)."""
    stove = _STOVE
    if stove is None:
        _LOGGER.error("timer for %s fired with no stove running", burner)
        return
    if burner not in stove.burners:
        _LOGGER.error("timer for unknown burner %s dropped (removed from the config?)", burner)
        await stove.reject(source, burner, "cut", "burner no longer configured")
        return
    g = stove.burners[burner]
    for attempt in range(4):  # a due cut keeps trying while the relay is unreachable
        result = await stove.cut(g, source)
        if result.get("ok"):
            break
        _LOGGER.warning("%s cut of %s failed (attempt %d): %s", source, burner, attempt + 1, result.get("error"))
        await asyncio.sleep(2.0 * (attempt + 1))
    await stove.changed(burner)


class Timers:
    def __init__(self, db_path: Path, stove: Stove) -> None:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self.stove = stove
        self.scheduler = AsyncIOScheduler(
            jobstores={"default": SQLAlchemyJobStore(url=f"sqlite:///{db_path}")},
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )
        self.scheduler.add_listener(self._after_job)

    def start(self) -> None:
        """Start inside the running loop; overdue jobs fire now."""
        global _STOVE
        _STOVE = self.stove
        self.stove.timers = self
        self.scheduler.start()

    def shutdown(self) -> None:
        global _STOVE
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        _STOVE = None

    def _after_job(self, event: Any) -> None:
        burner = (getattr(event, "job_id", "") or "").removeprefix("cut:")
        if burner in self.stove.burners:
            asyncio.ensure_future(self.stove.changed(burner))

    # ------------------------------------------------------------ countdowns
    def set_deadline(self, burner: str, when: dt.datetime) -> None:
        now = dt.datetime.now(dt.UTC)
        if when <= now:
            raise InputError("the deadline is in the past")
        if (when - now).total_seconds() > MAX_DELAY_S:
            raise InputError("the deadline is more than a week away; use a schedule instead")
        self.scheduler.add_job(
            "devices.timers:fire",
            trigger=DateTrigger(run_date=when),
            args=[burner, "timer"],
            id=f"cut:{burner}",
            name=f"cut {burner}",
            replace_existing=True,
        )

    def deadline(self, burner: str) -> dt.datetime | None:
        job = self.scheduler.get_job(f"cut:{burner}")
        return None if job is None else job.next_run_time

    def cancel(self, burner: str) -> bool:
        try:
            self.scheduler.remove_job(f"cut:{burner}")
        except JobLookupError:
            return False
        return True

    def extend(self, burner: str, by_s: float) -> dt.datetime:
        current = self.deadline(burner)
        if current is None:
            raise InputError(f"no countdown to extend on {burner}")
        when = current + dt.timedelta(seconds=by_s)
        self.set_deadline(burner, when)
        return when

    # ------------------------------------------------------------ schedules
    def add_schedule(self, burner: str, cron: str) -> dict[str, Any]:
        expr = parse_cron(cron)
        if burner != "all" and burner not in self.stove.burners:
            raise InputError(f"unknown burner {burner!r}")
        if len(self.schedules()) >= MAX_SCHEDULES:
            raise InputError(f"at most {MAX_SCHEDULES} schedules")
        sid = uuid.uuid4().hex[:8]
        targets = list(self.stove.burners) if burner == "all" else [burner]
        for name in targets:
            self.scheduler.add_job(
                "devices.timers:fire",
                trigger=CronTrigger.from_crontab(expr),
                args=[name, "schedule"],
                id=f"schedule:{sid}:{name}",
                name=expr,
            )
        return {"id": sid, "burner": burner, "cron": expr, "next": self._next_of(sid)}

    def _next_of(self, sid: str) -> str | None:
        times = [j.next_run_time for j in self.scheduler.get_jobs() if j.id.startswith(f"schedule:{sid}:")]
        times = [t for t in times if t is not None]
        return min(times).isoformat() if times else None

    def schedules(self) -> list[dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for job in self.scheduler.get_jobs():
            if not job.id.startswith("schedule:"):
                continue
            _, sid, name = job.id.split(":", 2)
            entry = out.setdefault(sid, {"id": sid, "burners": [], "cron": job.name, "next": None})
            entry["burners"].append(name)
            if job.next_run_time and (entry["next"] is None or job.next_run_time.isoformat() < entry["next"]):
                entry["next"] = job.next_run_time.isoformat()
        return sorted(out.values(), key=lambda e: e["next"] or "")

    def remove_schedule(self, sid: str) -> bool:
        removed = False
        for job in self.scheduler.get_jobs():
            if job.id.startswith(f"schedule:{sid}:"):
                job.remove()
                removed = True
        return removed
