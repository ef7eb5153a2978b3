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
import sqlite3
from dataclasses import dataclass

from core.sqlitedb import SqliteDatabase, from_db_time, to_db_time

__all__ = ["SCHEMA", "Deadline", "Owed", "Schedule", "TimerData", "TimerStore"]

_LOGGER = logging.getLogger(__name__)

#: The tables (times are UTC text): the columns and types SQLAlchemy gave earlier versions.
SCHEMA = (
    # a pending countdown, at most one per burner; relative_s is set for "cut in N", NULL for "cut at T"
    "CREATE TABLE IF NOT EXISTS stove_deadlines (burner VARCHAR(64) NOT NULL, due_at DATETIME NOT NULL, "
    "relative_s FLOAT, created_at DATETIME NOT NULL, PRIMARY KEY (burner))",
    # a cut that fell due and is not yet confirmed by the relay's read-back
    "CREATE TABLE IF NOT EXISTS stove_owed (burner VARCHAR(64) NOT NULL, since DATETIME NOT NULL, "
    "source VARCHAR(16) NOT NULL, PRIMARY KEY (burner))",
    # burner is a burner's name or "all"
    "CREATE TABLE IF NOT EXISTS stove_schedules (id VARCHAR(16) NOT NULL, burner VARCHAR(64) NOT NULL, "
    "cron VARCHAR(100) NOT NULL, created_at DATETIME NOT NULL, last_slot DATETIME, PRIMARY KEY (id))",
)


def _time(text: str | None) -> dt.datetime | None:
    return None if text is None else from_db_time(text)


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

    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    async def load(self) -> TimerData:
        await self.db.write(_create)
        await self.db.write(migrate_apscheduler_jobs)

        def read(c: sqlite3.Connection) -> TimerData:
            return TimerData(
                [Deadline(b, from_db_time(due), rel, from_db_time(made)) for b, due, rel, made
                 in c.execute("SELECT burner, due_at, relative_s, created_at FROM stove_deadlines")],
                [Owed(b, from_db_time(since), src)
                 for b, since, src in c.execute("SELECT burner, since, source FROM stove_owed")],
                [Schedule(i, b, cron, from_db_time(made), _time(last)) for i, b, cron, made, last
                 in c.execute("SELECT id, burner, cron, created_at, last_slot FROM stove_schedules")],
            )

        return await self.db.read(read)

    async def put_deadline(self, d: Deadline) -> None:
        row = (d.burner, to_db_time(d.due_at), d.relative_s, to_db_time(d.created_at))
        await self.db.write(lambda c: c.execute(
            "INSERT OR REPLACE INTO stove_deadlines (burner, due_at, relative_s, created_at) "
            "VALUES (?, ?, ?, ?)", row))

    async def drop_deadline(self, burner: str) -> None:
        await self.db.write(lambda c: c.execute("DELETE FROM stove_deadlines WHERE burner = ?", (burner,)))

    async def owe(
        self,
        owed: list[Owed],
        *,
        from_deadline: bool = False,
        schedule_slot: tuple[str, dt.datetime] | None = None,
    ) -> None:
        """Record owed cuts; in the same transaction drop their deadlines or advance a schedule."""

        def fn(c: sqlite3.Connection) -> None:
            for o in owed:
                if from_deadline:
                    c.execute("DELETE FROM stove_deadlines WHERE burner = ?", (o.burner,))
                # an older debt keeps its date
                c.execute("INSERT OR IGNORE INTO stove_owed (burner, since, source) VALUES (?, ?, ?)",
                          (o.burner, to_db_time(o.since), o.source))
            if schedule_slot is not None:
                c.execute("UPDATE stove_schedules SET last_slot = ? WHERE id = ?",
                          (to_db_time(schedule_slot[1]), schedule_slot[0]))

        await self.db.write(fn)

    async def paid(self, burner: str) -> None:
        await self.db.write(lambda c: c.execute("DELETE FROM stove_owed WHERE burner = ?", (burner,)))

    async def put_schedule(self, sc: Schedule) -> None:
        row = (sc.id, sc.burner, sc.cron, to_db_time(sc.created_at),
               None if sc.last_slot is None else to_db_time(sc.last_slot))
        await self.db.write(lambda c: c.execute(
            "INSERT INTO stove_schedules (id, burner, cron, created_at, last_slot) VALUES (?, ?, ?, ?, ?)",
            row))

    async def drop_schedule(self, sid: str) -> None:
        await self.db.write(lambda c: c.execute("DELETE FROM stove_schedules WHERE id = ?", (sid,)))


def _create(c: sqlite3.Connection) -> None:
    for statement in SCHEMA:
        c.execute(statement)


def migrate_apscheduler_jobs(c: sqlite3.Connection) -> None:
    """Carry countdowns and schedules from APScheduler's old job table over, then drop it.

    The job table lives in our own data folder, written by our own daemon, so
    unpickling it is as safe as reading any of our files.
    """
    old = c.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'apscheduler_jobs'")
    if old.fetchone() is None:
        return
    now = to_db_time(dt.datetime.now(dt.UTC))
    moved = 0
    for job_id, state in c.execute("SELECT id, job_state FROM apscheduler_jobs").fetchall():
        try:
            job = pickle.loads(state)  # noqa: S301 - our own file, see the docstring
            if job_id.startswith("cut:"):
                due = job["next_run_time"]
                burner = job_id.removeprefix("cut:")
                if due is not None:
                    moved += c.execute(
                        "INSERT OR IGNORE INTO stove_deadlines (burner, due_at, relative_s, created_at) "
                        "VALUES (?, ?, NULL, ?)", (burner, to_db_time(due), now)).rowcount
            elif job_id.startswith("schedule:"):
                _, sid, burner = job_id.split(":", 2)
                row = c.execute("SELECT burner FROM stove_schedules WHERE id = ?", (sid,)).fetchone()
                if row is None:
                    c.execute("INSERT INTO stove_schedules (id, burner, cron, created_at, last_slot) "
                              "VALUES (?, ?, ?, ?, ?)", (sid, burner, job["name"], now, now))
                    moved += 1
                elif row[0] != burner:  # one old schedule per burner was how "all" was stored
                    c.execute("UPDATE stove_schedules SET burner = 'all' WHERE id = ?", (sid,))
        except Exception:  # one unreadable old job must not stop the guard; it is logged
            _LOGGER.exception("could not carry over the old timer %s", job_id)
    c.execute("DROP TABLE apscheduler_jobs")
    _LOGGER.info("carried %d timer(s) over from the old APScheduler job table", moved)
