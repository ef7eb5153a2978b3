"""The stove timers' durable data: countdowns, owed cuts and schedules, in ``stove.db``.

These tables are the one source of truth; APScheduler's memory job store is
rebuilt from them at every start. Every change is one transaction through the
database's writer thread, so the event loop never waits on SQLite and a crash
never leaves half a change (a deadline that fired becomes an owed cut in the
same transaction that deletes it).

Earlier versions kept jobs in APScheduler's own SQLAlchemy job store
(``apscheduler_jobs``); :func:`migrate_apscheduler_jobs` carries their
countdowns and schedules over once, so an upgrade loses no pending cut.
"""

from __future__ import annotations

import datetime as dt
import logging
import pickle
from dataclasses import dataclass
from typing import overload

from sqlalchemy import DateTime, Float, String, delete, inspect, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from core.database import Database

__all__ = ["DeadlineRow", "OwedRow", "ScheduleRow", "TimerData", "TimerStore"]

_LOGGER = logging.getLogger(__name__)


class _Base(DeclarativeBase):
    pass


@overload
def _aware(value: dt.datetime) -> dt.datetime: ...


@overload
def _aware(value: dt.datetime | None) -> dt.datetime | None: ...


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite gives naive datetimes back; every value stored here is UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class DeadlineRow(_Base):
    """A pending countdown: at most one per burner."""

    __tablename__ = "stove_deadlines"
    burner: Mapped[str] = mapped_column(String(64), primary_key=True)
    due_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    relative_s: Mapped[float | None] = mapped_column(Float)  # set for "cut in N", None for "cut at T"
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class OwedRow(_Base):
    """A cut that fell due and is not yet confirmed by the relay's read-back."""

    __tablename__ = "stove_owed"
    burner: Mapped[str] = mapped_column(String(64), primary_key=True)
    since: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(String(16))


class ScheduleRow(_Base):
    __tablename__ = "stove_schedules"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    burner: Mapped[str] = mapped_column(String(64))  # a burner name or "all"
    cron: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_slot: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class Deadline:
    burner: str
    due_at: dt.datetime
    relative_s: float | None
    created_at: dt.datetime


@dataclass(frozen=True)
class Owed:
    burner: str
    since: dt.datetime
    source: str


@dataclass(frozen=True)
class Schedule:
    id: str
    burner: str
    cron: str
    created_at: dt.datetime
    last_slot: dt.datetime | None


@dataclass(frozen=True)
class TimerData:
    deadlines: list[Deadline]
    owed: list[Owed]
    schedules: list[Schedule]


class TimerStore:
    """Reads at start, writes through the one writer; nothing here runs on the event loop."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def load(self) -> TimerData:
        await self.db.write(lambda s: _Base.metadata.create_all(s.connection()))
        await self.db.write(migrate_apscheduler_jobs)

        def read(s: Session) -> TimerData:
            return TimerData(
                [Deadline(r.burner, _aware(r.due_at), r.relative_s, _aware(r.created_at))
                 for r in s.scalars(select(DeadlineRow))],
                [Owed(r.burner, _aware(r.since), r.source) for r in s.scalars(select(OwedRow))],
                [Schedule(r.id, r.burner, r.cron, _aware(r.created_at), _aware(r.last_slot))
                 for r in s.scalars(select(ScheduleRow))],
            )

        return await self.db.read(read)

    async def put_deadline(self, d: Deadline) -> None:
        await self.db.write(lambda s: s.merge(DeadlineRow(
            burner=d.burner, due_at=d.due_at, relative_s=d.relative_s, created_at=d.created_at)))

    async def drop_deadline(self, burner: str) -> None:
        await self.db.write(lambda s: s.execute(delete(DeadlineRow).where(DeadlineRow.burner == burner)))

    async def owe(
        self,
        owed: list[Owed],
        *,
        from_deadline: bool = False,
        schedule_slot: tuple[str, dt.datetime] | None = None,
    ) -> None:
        """Record owed cuts; in the same transaction drop their deadlines or advance a schedule."""

        def fn(s: Session) -> None:
            for o in owed:
                if from_deadline:
                    s.execute(delete(DeadlineRow).where(DeadlineRow.burner == o.burner))
                existing = s.get(OwedRow, o.burner)
                if existing is None:  # an older debt keeps its date
                    s.add(OwedRow(burner=o.burner, since=o.since, source=o.source))
            if schedule_slot is not None:
                row = s.get(ScheduleRow, schedule_slot[0])
                if row is not None:
                    row.last_slot = schedule_slot[1]

        await self.db.write(fn)

    async def paid(self, burner: str) -> None:
        await self.db.write(lambda s: s.execute(delete(OwedRow).where(OwedRow.burner == burner)))

    async def put_schedule(self, sc: Schedule) -> None:
        await self.db.write(lambda s: s.add(ScheduleRow(
            id=sc.id, burner=sc.burner, cron=sc.cron, created_at=sc.created_at, last_slot=sc.last_slot)))

    async def drop_schedule(self, sid: str) -> None:
        await self.db.write(lambda s: s.execute(delete(ScheduleRow).where(ScheduleRow.id == sid)))


def migrate_apscheduler_jobs(s: Session) -> None:
    """Carry countdowns and schedules from APScheduler's old job table over, then drop it.

    The job table lives in our own data folder, written by our own daemon, so
    unpickling it is as safe as reading any of our files.
    """
    if not inspect(s.connection()).has_table("apscheduler_jobs"):
        return
    now = dt.datetime.now(dt.UTC)
    moved = 0
    for job_id, state in s.execute(text("SELECT id, job_state FROM apscheduler_jobs")):
        try:
            job = pickle.loads(state)  # noqa: S301 - our own file, see the docstring
            if job_id.startswith("cut:"):
                due = job["next_run_time"]
                burner = job_id.removeprefix("cut:")
                if due is not None and s.get(DeadlineRow, burner) is None:
                    s.add(
                        DeadlineRow(
                            burner=burner, due_at=due.astimezone(dt.UTC), relative_s=None, created_at=now
                        )
                    )
                    moved += 1
            elif job_id.startswith("schedule:"):
                _, sid, burner = job_id.split(":", 2)
                existing = s.get(ScheduleRow, sid)
                if existing is None:
                    s.add(ScheduleRow(id=sid, burner=burner, cron=job["name"], created_at=now, last_slot=now))
                    moved += 1
                elif existing.burner != burner:
                    existing.burner = "all"  # one old schedule per burner was how "all" was stored
        except Exception:  # one unreadable old job must not stop the guard; it is logged
            _LOGGER.exception("could not carry over the old timer %s", job_id)
    s.execute(text("DROP TABLE apscheduler_jobs"))
    _LOGGER.info("carried %d timer(s) over from the old APScheduler job table", moved)
