"""Timers under a moving clock: owed cuts, standard cron, DST, clock steps, durable data.

The wall clock is moved with time-machine (it leaves monotonic time alone, as
a real NTP step does); relays are simulated, the database is a real SQLite file.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from stove_rig import Rig, make_cfg
from waiting import wait_for

from core.errors import InputError
from devices.commands import parse_at, parse_command
from devices.cron import parse_schedule
from devices.localtime import classify

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def cmd(payload: dict[str, Any]) -> Any:
    return parse_command(payload, burners=("left", "right"))


def cut_times(rig: Rig, burner: str) -> list[float]:
    return [t for t, on in rig.relays[burner].history if on]


@pytest.fixture
def tz_berlin() -> Iterator[None]:
    """The machine's zone is Berlin for this test (``$TZ``, as systemd or a shell would set it)."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Berlin"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


# ---------------------------------------------------------------- cron: one parser, standard semantics

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)  # a Tuesday


def weekdays(expr: str, n: int = 7, zone: dt.tzinfo = BERLIN) -> list[str]:
    sched = parse_schedule(expr, now=NOW, zone=zone)
    out, t = [], NOW
    for _ in range(n):
        t = sched.next_after(t, zone)
        out.append(t.astimezone(zone).strftime("%a"))
    return out


def test_cron_weekdays_are_standard_cron() -> None:
    # Under APScheduler's from_crontab "1-5" ran Tuesday to Saturday.
    assert weekdays("0 23 * * 1-5") == ["Tue", "Wed", "Thu", "Fri", "Mon", "Tue", "Wed"]
    assert weekdays("0 23 * * mon-fri") == weekdays("0 23 * * 1-5")
    assert set(weekdays("0 23 * * 0", 3)) == {"Sun"}
    assert set(weekdays("0 23 * * 7", 3)) == {"Sun"}, "7 is Sunday too"
    assert set(weekdays("0 23 * * SAT,sun", 4)) == {"Sat", "Sun"}
    assert weekdays("@daily", 2) == ["Wed", "Thu"]


@pytest.mark.parametrize(
    "bad",
    ["0 23 L * *", "0 23 * * 5#3", "0 23 ? * *", "H 23 * * *", "0 23 * * 8", "60 * * * *", "5-1 * * * *",
     "*/0 * * * *", "0 0 31 2 *", "0 0 30 2 *", "0 0 31 4,6,9,11 *", "@reboot", "0 0 0 * * *", "",
     "０ 23 * * *", "0 23 * * 1-5\x00", "5/10 * * * *"],
)
def test_cron_refuses_what_it_cannot_run(bad: str) -> None:
    with pytest.raises(InputError):
        parse_schedule(bad, now=NOW, zone=BERLIN)


def test_cron_leap_day_is_accepted_because_it_fires() -> None:
    nxt = parse_schedule("0 0 29 2 *", now=NOW, zone=BERLIN).next_after(NOW, BERLIN)
    assert nxt.astimezone(BERLIN).date() == dt.date(2028, 2, 29)


def test_cron_dst_rule_gap_shifts_forward_fold_fires_once() -> None:
    sched = parse_schedule("30 2 * * *", now=NOW, zone=BERLIN)
    spring = sched.next_after(dt.datetime(2027, 3, 27, 12, tzinfo=BERLIN), BERLIN)
    assert spring.astimezone(BERLIN).replace(tzinfo=None) == dt.datetime(2027, 3, 28, 3, 30)
    first = sched.next_after(dt.datetime(2027, 10, 30, 12, tzinfo=BERLIN), BERLIN)
    assert first.astimezone(BERLIN).utcoffset() == dt.timedelta(hours=2)  # summer time: the first 02:30
    second = sched.next_after(first, BERLIN)
    assert second - first == dt.timedelta(days=1, hours=1), "02:30 winter time is not a second cut"


# ---------------------------------------------------------------- "at" on the day it falls


@pytest.mark.parametrize(
    ("zone", "now_local", "at", "expected_local"),
    [
        ("Europe/Berlin", dt.datetime(2027, 3, 27, 20, 0), "08:00", dt.datetime(2027, 3, 28, 8, 0)),  # spring
        (
            "Europe/Berlin",
            dt.datetime(2027, 10, 30, 20, 0),
            "08:00",
            dt.datetime(2027, 10, 31, 8, 0),
        ),  # autumn
        ("America/New_York", dt.datetime(2027, 11, 6, 20, 0), "08:00", dt.datetime(2027, 11, 7, 8, 0)),
        (
            "Europe/Berlin",
            dt.datetime(2027, 3, 27, 20, 0),
            "2027-03-28T08:00",
            dt.datetime(2027, 3, 28, 8, 0),
        ),
    ],
)
def test_at_resolves_on_the_day_it_falls(
    zone: str, now_local: dt.datetime, at: str, expected_local: dt.datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        tz = ZoneInfo(zone)
        now = now_local.replace(tzinfo=tz).astimezone(dt.UTC)
        when = parse_at(at, now)
        assert when.astimezone(tz).replace(tzinfo=None) == expected_local
        assert when == expected_local.replace(tzinfo=tz).astimezone(dt.UTC)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_at_in_the_spring_gap_and_the_autumn_fold() -> None:
    assert classify(dt.datetime(2027, 3, 28, 2, 30), BERLIN) == "gap"
    assert classify(dt.datetime(2027, 10, 31, 2, 30), BERLIN) == "fold"
    gap = parse_at("02:30", dt.datetime(2027, 3, 27, 23, 0, tzinfo=BERLIN), BERLIN)
    assert gap.astimezone(BERLIN).replace(tzinfo=None) == dt.datetime(2027, 3, 28, 3, 30)
    fold = parse_at("02:30", dt.datetime(2027, 10, 30, 23, 0, tzinfo=BERLIN), BERLIN)
    assert fold == dt.datetime(2027, 10, 31, 0, 30, tzinfo=dt.UTC), "the first 02:30 (summer time)"


# ---------------------------------------------------------------- owed cuts


async def test_a_due_cut_stays_owed_until_the_relay_confirms(tmp_path: Path) -> None:
    rig = Rig(make_cfg(tmp_path))
    await rig.start()
    events: list[dict[str, Any]] = []

    async def on_event(name: str, payload: dict[str, Any]) -> None:
        events.append(payload)

    rig.stove.add_event_listener(on_event)
    try:
        rig.relays["left"].offline = True  # a Wi-Fi blip at the deadline
        r = await rig.stove.execute(cmd({"action": "cut", "burner": "left", "delay_s": 0.2}), "http")
        assert r["ok"]
        await wait_for(lambda: rig.stove.status("left")["owed"] is not None, timeout=3)
        st = rig.stove.status("left")
        assert st["deadline"] is None
        assert st["owed"]["source"] == "timer"
        await wait_for(lambda: events, timeout=3)
        assert events[0]["event"] == events[0]["event_type"] == "cut_failed"
        assert events[0]["burner"] == "left"
        assert "offline" in events[0]["error"]
        with sqlite3.connect(rig.cfg.storage.stove_db) as con:
            assert con.execute("SELECT burner, source FROM stove_owed").fetchall() == [("left", "timer")]
        # Four attempts with 2/4/6/8 s used to be the end of it; the debt outlives them.
        await asyncio.sleep(3.5)
        assert rig.stove.status("left")["owed"] is not None
        assert cut_times(rig, "left") == []
        rig.relays["left"].offline = False
        await wait_for(lambda: cut_times(rig, "left"), timeout=20)
        await wait_for(lambda: rig.stove.status("left")["owed"] is None, timeout=3)

        def owed_rows() -> int:
            with sqlite3.connect(rig.cfg.storage.stove_db) as con:
                return int(con.execute("SELECT count(*) FROM stove_owed").fetchone()[0])

        # The debt leaves memory first, then the disk (through the writer thread): wait for both.
        await wait_for(lambda: owed_rows() == 0, timeout=3)
        assert len([e for e in events if e["event"] == "cut_failed"]) == 1, (
            "reported once, then every few min"
        )
    finally:
        await rig.stop()


async def test_an_owed_cut_survives_a_restart(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path)
    rig = Rig(cfg)
    await rig.start()
    rig.relays["right"].offline = True
    await rig.stove.execute(cmd({"action": "cut", "burner": "right", "delay_s": 0.2}), "http")
    await wait_for(lambda: rig.stove.status("right")["owed"] is not None, timeout=3)
    await rig.stop()  # the daemon dies while the cut is owed
    rig2 = Rig(cfg)
    await rig2.start()
    try:
        await wait_for(lambda: cut_times(rig2, "right"), timeout=5)
        await wait_for(lambda: rig2.stove.status("right")["owed"] is None, timeout=3)
        assert cut_times(rig2, "left") == []
    finally:
        await rig2.stop()


async def test_cancel_drops_an_owed_cut_and_says_so(tmp_path: Path) -> None:
    rig = Rig(make_cfg(tmp_path))
    await rig.start()
    try:
        rig.relays["left"].offline = True
        await rig.stove.execute(cmd({"action": "cut", "burner": "left", "delay_s": 0.2}), "http")
        await wait_for(lambda: rig.stove.status("left")["owed"] is not None, timeout=3)
        r = await rig.stove.execute(cmd({"action": "cancel", "burner": "left"}), "mqtt")
        assert r["ok"]
        assert "owed cut" in r["detail"]
        rig.relays["left"].offline = False
        await asyncio.sleep(1.5)
        assert cut_times(rig, "left") == []
        assert rig.stove.status("left")["owed"] is None
    finally:
        await rig.stop()


# ---------------------------------------------------------------- clock steps


async def test_forward_step_past_an_absolute_deadline_fires_within_a_second(tmp_path: Path) -> None:
    with time_machine.travel(dt.datetime.now(dt.UTC), tick=True) as traveller:
        rig = Rig(make_cfg(tmp_path))
        await rig.start()
        try:
            at = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)).isoformat()
            assert (await rig.stove.execute(cmd({"action": "cut", "burner": "left", "at": at}), "http"))["ok"]
            deadline = rig.timers.deadline("left")
            assert deadline is not None
            await asyncio.sleep(0.6)
            assert cut_times(rig, "left") == []
            traveller.shift(dt.timedelta(minutes=10, seconds=1))
            await wait_for(lambda: cut_times(rig, "left"), timeout=2.5)
            assert cut_times(rig, "left")[0] >= deadline.timestamp(), "never early"
        finally:
            await rig.stop()


async def test_backward_step_keeps_a_countdown_in_real_time(tmp_path: Path) -> None:
    with time_machine.travel(dt.datetime.now(dt.UTC), tick=True) as traveller:
        rig = Rig(make_cfg(tmp_path))
        await rig.start()
        try:
            t0 = time.monotonic()
            await rig.stove.execute(cmd({"action": "cut", "burner": "left", "delay_s": 2}), "http")
            before = rig.timers.deadline("left")
            traveller.shift(dt.timedelta(seconds=-60))
            await wait_for(lambda: rig.timers.deadline("left") != before, timeout=2)
            moved = rig.timers.deadline("left")
            assert moved is not None
            assert before is not None
            assert abs((before - moved).total_seconds() - 60) < 1.0
            await wait_for(lambda: cut_times(rig, "left"), timeout=4)
            assert time.monotonic() - t0 < 4, "a 'cut in 2 s' is not 62 s after a backward step"
            with sqlite3.connect(rig.cfg.storage.stove_db) as con:  # the moved deadline was saved, then paid
                assert con.execute("SELECT count(*) FROM stove_deadlines").fetchone() == (0,)
        finally:
            await rig.stop()


async def test_forward_step_does_not_fire_a_countdown_early(tmp_path: Path) -> None:
    with time_machine.travel(dt.datetime.now(dt.UTC), tick=True) as traveller:
        rig = Rig(make_cfg(tmp_path))
        await rig.start()
        try:
            await rig.stove.execute(cmd({"action": "cut", "burner": "left", "delay_s": 30}), "http")
            before = rig.timers.deadline("left")
            traveller.shift(dt.timedelta(seconds=120))
            await wait_for(lambda: rig.timers.deadline("left") != before, timeout=2)
            await asyncio.sleep(1.0)
            assert cut_times(rig, "left") == [], "30 s of real time have not passed"
            after = rig.timers.deadline("left")
            assert after is not None
            assert before is not None
            assert abs((after - before).total_seconds() - 120) < 1.0
        finally:
            await rig.stop()


async def test_stale_clock_at_boot_fires_the_overdue_cut_when_ntp_corrects_it(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path)
    rig = Rig(cfg)
    await rig.start()
    await rig.stove.execute(cmd({"action": "cut", "burner": "right", "delay_s": 120}), "http")
    deadline = rig.timers.deadline("right")
    assert deadline is not None
    await rig.stop()
    # The device reboots with a clock one hour behind; NTP fixes it a little later.
    with time_machine.travel(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1), tick=True) as traveller:
        rig2 = Rig(cfg)
        await rig2.start()
        try:
            await asyncio.sleep(0.6)
            assert cut_times(rig2, "right") == []
            assert rig2.timers.deadline("right") == deadline
            traveller.shift(dt.timedelta(hours=1, seconds=150))  # now past the stored deadline
            await wait_for(lambda: cut_times(rig2, "right"), timeout=2.5)
        finally:
            await rig2.stop()


# ---------------------------------------------------------------- schedules run as checked


async def test_weekday_schedule_fires_on_monday_not_on_saturday(tmp_path: Path) -> None:
    saturday = dt.datetime(2027, 1, 9, 22, 59, 59, tzinfo=BERLIN)
    with time_machine.travel(saturday, tick=True) as traveller:
        rig = Rig(make_cfg(tmp_path), zone=BERLIN)
        await rig.start()
        try:
            entry = await rig.timers.add_schedule("left", "0 23 * * 1-5")
            nxt = dt.datetime.fromisoformat(entry["next"]).astimezone(BERLIN)
            assert nxt.replace(tzinfo=None) == dt.datetime(2027, 1, 11, 23, 0), "Monday, not Saturday"
            await asyncio.sleep(1.5)  # Saturday 23:00 passes
            assert cut_times(rig, "left") == []
            traveller.move_to(dt.datetime(2027, 1, 11, 22, 59, 59, 500000, tzinfo=BERLIN))
            await wait_for(lambda: cut_times(rig, "left"), timeout=3)
            fired = dt.datetime.fromtimestamp(cut_times(rig, "left")[0], BERLIN)
            assert fired.weekday() == 0
            assert fired.hour == 23
        finally:
            await rig.stop()


async def test_a_schedule_missed_while_down_fires_once_at_start(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path)
    start = dt.datetime(2027, 1, 11, 22, 50, tzinfo=BERLIN)
    with time_machine.travel(start, tick=True) as traveller:
        rig = Rig(cfg, zone=BERLIN)
        await rig.start()
        await rig.timers.add_schedule("all", "23:00")
        await rig.stop()
        traveller.move_to(dt.datetime(2027, 1, 13, 7, 0, tzinfo=BERLIN))  # two slots missed
        rig2 = Rig(cfg, zone=BERLIN)
        await rig2.start()
        try:
            await wait_for(lambda: cut_times(rig2, "left") and cut_times(rig2, "right"), timeout=3)
            await rig2.stove.wait_idle()
            assert len(cut_times(rig2, "left")) == 1, "missed slots coalesce into one cut"
        finally:
            await rig2.stop()
        rig3 = Rig(cfg, zone=BERLIN)  # and that slot is paid: no repeat at the next start
        await rig3.start()
        try:
            await asyncio.sleep(0.8)
            assert cut_times(rig3, "left") == []
        finally:
            await rig3.stop()


# ---------------------------------------------------------------- durable data off the loop


async def test_deadline_writes_do_not_block_the_event_loop(tmp_path: Path) -> None:
    rig = Rig(make_cfg(tmp_path))
    await rig.start()
    try:
        blocker = sqlite3.connect(rig.cfg.storage.stove_db, timeout=1)
        blocker.execute("BEGIN EXCLUSIVE")  # another writer holds stove.db for a while
        beats = 0

        async def heartbeat() -> None:
            nonlocal beats
            while True:
                await asyncio.sleep(0.01)
                beats += 1

        hb = asyncio.create_task(heartbeat())
        pending = asyncio.create_task(
            rig.stove.execute(cmd({"action": "cut", "burner": "left", "delay_s": 600}), "http"))
        await asyncio.sleep(0.5)
        assert not pending.done(), "the write waits for the lock..."
        assert beats >= 10, "...in the writer thread, while the loop keeps running"
        assert rig.stove.status("right")["deadline"] is None  # status reads memory, not the locked file
        blocker.rollback()
        blocker.close()
        assert (await pending)["ok"]
        hb.cancel()
        with sqlite3.connect(rig.cfg.storage.stove_db) as con:
            assert con.execute("SELECT burner FROM stove_deadlines").fetchall() == [("left",)]
    finally:
        await rig.stop()


async def test_old_apscheduler_jobs_are_carried_over(tmp_path: Path) -> None:
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.date import DateTrigger

    cfg = make_cfg(tmp_path)
    cfg.storage.data_dir.mkdir(parents=True, exist_ok=True)
    old = BackgroundScheduler(jobstores={"default": SQLAlchemyJobStore(url=f"sqlite:///{cfg.storage.stove_db}")})
    old.start(paused=True)
    due = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)
    old.add_job("builtins:print", trigger=DateTrigger(run_date=due), args=["left", "timer"], id="cut:left")
    old.add_job("builtins:print", trigger=CronTrigger(hour=23, minute=0), id="schedule:ab12cd34:right",
                name="0 23 * * *")
    old.shutdown(wait=False)
    rig = Rig(cfg)
    await rig.start()
    try:
        assert rig.timers.deadline("left") == due.replace(microsecond=due.microsecond)
        assert [(s["id"], s["cron"], s["burner"]) for s in rig.timers.schedules()] == [
            ("ab12cd34", "0 23 * * *", "right")]
        with sqlite3.connect(cfg.storage.stove_db) as con:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "apscheduler_jobs" not in tables
    finally:
        await rig.stop()


@pytest.mark.parametrize("typo", ["* 23 * * *", "*/5 * * * *", "0,5 23 * * *", "0-9 7 * * 1-5"])
def test_a_schedule_that_cuts_every_few_minutes_is_refused(typo: str) -> None:
    with pytest.raises(InputError, match="at least 10 min between cuts"):
        parse_schedule(typo, now=NOW, zone=BERLIN)
    parse_schedule("*/10 * * * *", now=NOW, zone=BERLIN)  # ten minutes apart is a choice, not a typo


async def test_a_clock_jump_of_a_year_cuts_once_without_walking_every_missed_slot(tmp_path: Path) -> None:
    with time_machine.travel(dt.datetime(2027, 1, 11, 12, 0, tzinfo=BERLIN), tick=True) as traveller:
        rig = Rig(make_cfg(tmp_path), zone=BERLIN)
        await rig.start()
        try:
            await rig.timers.add_schedule("left", "*/10 * * * *")
            job = rig.timers.scheduler.get_job(next(iter(rig.timers.scheduler.get_jobs())).id)
            trigger = job.trigger
            calls = 0
            inner = trigger.schedule.next_after

            def counting(instant: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
                nonlocal calls
                calls += 1
                return inner(instant, zone)

            object.__setattr__(trigger.schedule, "next_after", counting)
            traveller.shift(dt.timedelta(days=365))
            await wait_for(lambda: cut_times(rig, "left"), timeout=3)
            await rig.stove.wait_idle()
            assert len(cut_times(rig, "left")) == 1, "a year of missed slots is one cut"
            assert calls < 10, f"{calls} slots computed: the 52,000 missed ones were walked one by one"
        finally:
            await rig.stop()
