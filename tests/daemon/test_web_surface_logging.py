"""The repeated-message filter: a flood of one error is one line per interval, with its count."""

from __future__ import annotations

import logging

import pytest

from core.logging import RepeatFilter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def captured() -> tuple[logging.Logger, list[str], Clock]:
    clock = Clock()
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler = Collect()
    handler.addFilter(RepeatFilter(interval=60, clock=clock))
    logger = logging.getLogger("test.repeat")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, lines, clock


def test_identical_errors_are_written_once_per_interval_with_the_count(captured) -> None:
    logger, lines, clock = captured
    for _ in range(10_000):  # asyncio's accept error on every accept
        logger.error("socket.accept() out of system resource\nsocket: %s", "<fd=6>")
    assert lines == ["socket.accept() out of system resource\nsocket: <fd=6>"]
    clock.now += 61
    logger.error("socket.accept() out of system resource\nsocket: %s", "<fd=6>")
    assert len(lines) == 2
    assert "[9999 identical message(s) suppressed in the last 61 s]" in lines[1]


def test_different_messages_levels_and_info_are_not_merged(captured) -> None:
    logger, lines, _ = captured
    logger.error("relay %s failed", "left")
    logger.error("relay %s failed", "right")
    logger.warning("relay %s failed", "left")
    for _ in range(3):
        logger.info("cut left")  # below WARNING nothing is limited
    assert lines == ["relay left failed", "relay right failed", "relay left failed"] + ["cut left"] * 3


def test_memory_is_bounded() -> None:
    f = RepeatFilter(max_keys=10)
    for i in range(1000):
        f.filter(logging.LogRecord("x", logging.ERROR, __file__, 1, "m%d", (i,), None))
    assert len(f._seen) == 10
