"""stove.db without SQLAlchemy: the files earlier versions wrote (through SQLAlchemy's ORM) read the same,
what is written now reads the same through that ORM, and every write is one transaction."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import DateTime, Float, Integer, String, Text, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from core.errors import StorageError
from core.sqlitedb import SqliteDatabase, from_db_time, to_db_time
from devices.audit import AuditLog
from devices.timer_store import Deadline, Owed, Schedule, TimerStore


class Base(DeclarativeBase):
    pass


class OldAudit(Base):  # the models of the SQLAlchemy versions, as they were
    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    source: Mapped[str] = mapped_column(String(16))
    burner: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    result: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[float | None] = mapped_column(Float)


class OldDeadline(Base):
    __tablename__ = "stove_deadlines"
    burner: Mapped[str] = mapped_column(String(64), primary_key=True)
    due_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    relative_s: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class OldOwed(Base):
    __tablename__ = "stove_owed"
    burner: Mapped[str] = mapped_column(String(64), primary_key=True)
    since: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(String(16))


class OldSchedule(Base):
    __tablename__ = "stove_schedules"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    burner: Mapped[str] = mapped_column(String(64))
    cron: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_slot: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


UTC = dt.UTC
T0 = dt.datetime(2026, 3, 29, 0, 59, 59, 123456, tzinfo=UTC)
T1 = dt.datetime(2026, 10, 25, 1, 0, tzinfo=UTC)  # no microseconds


def old_session(path: Path) -> Session:
    engine = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    return Session(engine)


async def test_a_stove_db_written_through_sqlalchemy_reads_the_same(tmp_path: Path) -> None:
    path = tmp_path / "stove.db"
    with old_session(path) as s, s.begin():
        s.add(OldAudit(ts=T0, source="cli", burner="left", action="cut", result="ok", detail="d",
                       latency_ms=2.5))
        s.add(OldDeadline(burner="left", due_at=T1, relative_s=600.0, created_at=T0))
        s.add(OldOwed(burner="right", since=T0, source="timer"))
        s.add(OldSchedule(id="ab12cd34", burner="all", cron="0 23 * * *", created_at=T0, last_slot=None))
        s.add(OldSchedule(id="ef56ab78", burner="left", cron="30 7 * * 1-5", created_at=T0, last_slot=T1))
    db = SqliteDatabase(path)
    db.start()
    try:
        data = await TimerStore(db).load()
        assert data.deadlines == [Deadline("left", T1, 600.0, T0)]
        assert data.owed == [Owed("right", T0, "timer")]
        assert sorted(data.schedules, key=lambda sc: sc.id) == [
            Schedule("ab12cd34", "all", "0 23 * * *", T0, None),
            Schedule("ef56ab78", "left", "30 7 * * 1-5", T0, T1),
        ]
        audit = AuditLog(db)
        (entry,) = await audit.recent()
        assert (entry.ts, entry.source, entry.action, entry.detail, entry.latency_ms) == (
            T0, "cli", "cut", "d", 2.5)
        await audit.record(source="http", burner="left", action="cancel", result="ok")
        assert [e.action for e in await audit.recent()] == ["cancel", "cut"], "new rows after the old ones"
    finally:
        db.close()


async def test_what_is_written_now_reads_the_same_through_sqlalchemy(tmp_path: Path) -> None:
    path = tmp_path / "stove.db"
    db = SqliteDatabase(path)
    db.start()
    try:
        store = TimerStore(db)
        await store.load()
        await store.put_deadline(Deadline("left", T1, None, T0))
        await store.put_deadline(Deadline("left", T1 + dt.timedelta(minutes=5), 300.0, T0))  # replaces it
        await store.owe([Owed("right", T0, "schedule"), Owed("right", T1, "timer")],
                        schedule_slot=("ab12cd34", T1))
        await store.put_schedule(Schedule("ab12cd34", "all", "0 23 * * *", T0, None))
        await store.owe([], schedule_slot=("ab12cd34", T1))
        await AuditLog(db).record(source="cli", burner="left", action="cut", result="ok", latency_ms=1.0)
    finally:
        db.close()
    with old_session(path) as s:
        (d,) = s.scalars(select(OldDeadline))
        assert (d.burner, d.due_at, d.relative_s, d.created_at) == (
            "left", (T1 + dt.timedelta(minutes=5)).replace(tzinfo=None), 300.0, T0.replace(tzinfo=None))
        (o,) = s.scalars(select(OldOwed))
        assert (o.burner, o.since, o.source) == ("right", T0.replace(tzinfo=None), "schedule"), "first kept"
        (sc,) = s.scalars(select(OldSchedule))
        assert sc.last_slot == T1.replace(tzinfo=None)
        (a,) = s.scalars(select(OldAudit))
        assert (a.source, a.action, a.latency_ms, a.ts.tzinfo) == ("cli", "cut", 1.0, None)


def test_times_are_stored_as_utc_text_in_time_order() -> None:
    plus2 = dt.timezone(dt.timedelta(hours=2))
    assert to_db_time(T0) == "2026-03-29 00:59:59.123456"
    assert to_db_time(T0.astimezone(plus2)) == "2026-03-29 00:59:59.123456", "any zone is stored as UTC"
    assert to_db_time(T1) == "2026-10-25 01:00:00.000000"
    assert from_db_time("2026-10-25 01:00:00") == T1
    assert from_db_time(to_db_time(T0)) == T0
    assert sorted([to_db_time(T1), to_db_time(T0)]) == [to_db_time(T0), to_db_time(T1)]


async def test_a_write_is_one_transaction(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "t.db")
    db.start()
    try:
        await db.write(lambda c: c.execute("CREATE TABLE t (x INTEGER UNIQUE)"))

        def half(c: sqlite3.Connection) -> None:
            c.execute("INSERT INTO t VALUES (1)")
            c.execute("INSERT INTO t VALUES (1)")  # violates UNIQUE: the first insert goes too

        with pytest.raises(StorageError, match="IntegrityError"):
            await db.write(half)

        def fails(c: sqlite3.Connection) -> None:
            c.execute("INSERT INTO t VALUES (2)")
            raise ValueError("not a database error")

        with pytest.raises(ValueError, match="not a database error"):
            await db.write(fails)
        assert await db.read(lambda c: c.execute("SELECT count(*) FROM t").fetchone()[0]) == 0
        await db.write(lambda c: c.execute("INSERT INTO t VALUES (3)"))
        assert db.read_blocking(lambda c: c.execute("SELECT x FROM t").fetchall()) == [(3,)]
    finally:
        db.close()
    db.close()  # idempotent
    with pytest.raises(StorageError, match="closed"):
        await db.write(lambda c: None)
