"""The supervisor's restart policy and its transition-only logging (short real delays, no mocks)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from daemon.supervisor import Restart, stop_tasks, supervise

FAST = {"initial_delay": 0.01, "max_delay": 0.02}


async def test_a_one_shot_job_that_succeeds_ends_supervision() -> None:
    runs: list[int] = []

    async def job() -> None:
        runs.append(1)

    await asyncio.wait_for(supervise("job", job, restart=Restart.ON_FAILURE, **FAST), 2)
    assert runs == [1]


async def test_a_one_shot_job_is_retried_until_it_succeeds(caplog: pytest.LogCaptureFixture) -> None:
    attempts: list[int] = []

    async def job() -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise OSError("disk busy")

    with caplog.at_level(logging.INFO, "daemon.supervisor"):
        await asyncio.wait_for(supervise("job", job, restart=Restart.ON_FAILURE, **FAST), 2)
    assert len(attempts) == 3
    failed = [r for r in caplog.records if "failed" in r.getMessage()]
    assert len(failed) == 1  # logged on the transition, not on every attempt
    assert any("recovered and finished" in r.getMessage() for r in caplog.records)


async def test_a_service_that_returns_is_restarted_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    runs: list[int] = []
    third = asyncio.Event()

    async def service() -> None:
        runs.append(1)
        if len(runs) >= 3:
            third.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(supervise("svc", service, **FAST))
    await asyncio.wait_for(third.wait(), 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(runs) == 3
    assert sum("stopped by itself" in r.getMessage() for r in caplog.records) == 2


async def test_a_service_that_failed_then_runs_healthy_is_logged_recovered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runs: list[int] = []
    recovered = asyncio.Event()

    class Spy(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "recovered" in record.getMessage():
                recovered.set()

    async def service() -> None:
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("broker gone")
        await asyncio.Event().wait()

    spy = Spy()
    logging.getLogger("daemon.supervisor").addHandler(spy)
    try:
        with caplog.at_level(logging.INFO, "daemon.supervisor"):
            task = asyncio.create_task(supervise("svc", service, healthy_after=0.05, **FAST))
            await asyncio.wait_for(recovered.wait(), 2)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    finally:
        logging.getLogger("daemon.supervisor").removeHandler(spy)
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["svc failed; restarting with backoff", "svc recovered"]


async def test_cancelling_the_supervisor_cancels_the_part() -> None:
    cancelled = asyncio.Event()
    started = asyncio.Event()

    async def service() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    task = asyncio.create_task(supervise("svc", service, **FAST))
    await asyncio.wait_for(started.wait(), 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled.is_set()


async def test_stop_tasks_never_hangs_on_a_task_that_ignores_cancellation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await release.wait()

    async def polite() -> None:
        await asyncio.Event().wait()

    tasks = [asyncio.create_task(stubborn(), name="stubborn"), asyncio.create_task(polite(), name="polite")]
    await asyncio.sleep(0)
    await asyncio.wait_for(stop_tasks(tasks, 0.1), 2)
    assert tasks[1].cancelled()
    assert not tasks[0].done()
    assert [r.getMessage() for r in caplog.records] == ["stubborn did not stop within 0 s"]
    release.set()
    await tasks[0]
