"""Timer figures: what a countdown costs the event loop, and how soon a clock step is noticed.

Prints; asserts nothing. Real SQLite files, simulated relays.

1. ``set_deadline`` on the loop. Baseline, measured in the same run: the old
   design, APScheduler 3's SQLAlchemy job store adding a DateTrigger job on
   the event loop (a synchronous SQLite write). coolstove: ``Timers.set_deadline``
   (the row goes through the database's writer thread). For each: the latency
   of the call and the longest stall of a 1 ms heartbeat task during it,
   while an audit writer keeps writing the same file.
2. Clock steps: the wall clock is moved past a stored deadline with
   time-machine (monotonic time untouched, as with an NTP step); printed is
   the time from the step to the relay energised.

    .venv/bin/python bench/bench_timers.py [--n 300] [--steps 10]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "devices"), str(ROOT)]

import time_machine  # noqa: E402
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore  # noqa: E402
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # noqa: E402
from apscheduler.triggers.date import DateTrigger  # noqa: E402
from stove_rig import Rig, make_cfg  # noqa: E402

logging.getLogger("devices.timers").setLevel(logging.ERROR)  # the steps are on purpose


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def line(label: str, xs: list[float], stalls: list[float]) -> str:
    return (f"{label:<44} n={len(xs):4d}  call p50 {statistics.median(xs):6.2f} ms  p95 {pct(xs, 95):6.2f}"
            f"  p99 {pct(xs, 99):6.2f}  max {max(xs):6.2f} | loop stall p50 {statistics.median(stalls):6.2f}"
            f"  p99 {pct(stalls, 99):6.2f}  max {max(stalls):6.2f} ms")


class Heartbeat:
    """Measures the longest gap between 1 ms sleeps: how long the loop was held."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            self.worst = max(self.worst, (now - last - 0.001) * 1000)
            last = now

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def measure(self) -> float:
        await asyncio.sleep(0.003)
        w, self.worst = self.worst, 0.0
        return w


async def background_audit(rig: Rig, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await rig.stove.audit.record(
            source="mqtt", burner="left", action="cut", result="rejected", detail="x"
        )


async def measure(
    rig: Rig, n: int, add: Callable[[int], Awaitable[None] | None]
) -> tuple[list[float], list[float]]:
    """Call ``add(i)`` n times while an audit writer works the same file: call latency, loop stall."""
    hb = Heartbeat()
    hb.start()
    stop = asyncio.Event()
    writer = asyncio.create_task(background_audit(rig, stop))
    calls, stalls = [], []
    for i in range(n):
        await hb.measure()
        t0 = time.perf_counter()
        pending = add(i)
        if pending is not None:
            await pending
        calls.append((time.perf_counter() - t0) * 1000)
        stalls.append(await hb.measure())
    stop.set()
    await writer
    return calls, stalls


def _in_an_hour() -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)


async def bench_baseline(tmp: Path, n: int) -> tuple[list[float], list[float]]:
    rig = Rig(make_cfg(tmp))
    await rig.start()
    sched = AsyncIOScheduler(jobstores={"default": SQLAlchemyJobStore(url=f"sqlite:///{tmp / 'old.db'}")},
                             job_defaults={"misfire_grace_time": None, "coalesce": True})
    sched.start()
    result = await measure(
        rig,
        n,
        lambda i: (
            sched.add_job(
                print, trigger=DateTrigger(run_date=_in_an_hour()), id=f"cut:{i % 2}", replace_existing=True
            )
            and None
        ),
    )
    sched.shutdown(wait=False)
    await rig.stop()
    return result


async def bench_timers(tmp: Path, n: int) -> tuple[list[float], list[float]]:
    rig = Rig(make_cfg(tmp))
    await rig.start()
    result = await measure(rig, n, lambda i: rig.timers.set_deadline(
        "left" if i % 2 else "right", _in_an_hour(), relative_s=3600))
    await rig.stop()
    return result


async def bench_steps(tmp: Path, steps: int) -> list[float]:
    out = []
    for i in range(steps):
        with time_machine.travel(dt.datetime.now(dt.UTC), tick=True) as traveller:
            rig = Rig(make_cfg(tmp / str(i)))
            await rig.start()
            at = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
            await rig.timers.set_deadline("left", at)  # "cut at": follows the wall clock
            await asyncio.sleep(0.1 + 0.5 * i / steps)  # steps land at different phases of the tick
            traveller.shift(dt.timedelta(minutes=10, seconds=1))
            t0 = time.perf_counter()
            while not any(on for _, on in rig.relays["left"].history):  # noqa: ASYNC110 - timing by polling
                await asyncio.sleep(0.002)
            out.append(time.perf_counter() - t0)
            await rig.stop()
    return out


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        base = await bench_baseline(tmp / "base", args.n)
        ours = await bench_timers(tmp / "ours", args.n)
        steps = await bench_steps(tmp / "steps", args.steps)
    import os

    print(
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores (other work on the "
        "machine adds stalls)"
    )
    print(line("baseline: APScheduler SQLAlchemy job store", *base))
    print(line("coolstove Timers.set_deadline (writer thread)", *ours))
    print(f"forward clock step past a deadline -> relay energised: n={len(steps)}  p50 "
          f"{statistics.median(steps) * 1000:6.1f} ms  max {max(steps) * 1000:6.1f} ms  (target <= 1 s)")


if __name__ == "__main__":
    asyncio.run(main())
