"""One logging setup for the daemon and the CLI (uvicorn's one-configuration idea).

Under systemd (``$JOURNAL_STREAM`` set) lines carry no timestamp: the journal adds one.
Library loggers that could be chatty or leak secrets stay at WARNING.

A message repeated verbatim (asyncio's "socket.accept() out of system resource"
on every accept, a relay failing the same way every poll) is written once per
``REPEAT_INTERVAL_S``; the next one written says how many were left out.

It is set up with plain ``logging`` calls, not ``logging.config.dictConfig``: that module imports a
socket server, pickle and queues (~11 ms) that every ``coolstove`` command, ``stove off`` first, would
pay before doing anything.
"""

from __future__ import annotations

import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["REPEAT_INTERVAL_S", "RepeatFilter", "setup_logging"]

# python-miio logs its own timeouts at ERROR; they reach us as DeviceError with the same text.
QUIET = {"mqtt": "WARNING", "aiomqtt": "WARNING", "miio": "CRITICAL", "apscheduler": "WARNING",
         "uvicorn.access": "WARNING", "httpx": "WARNING", "httpcore": "WARNING", "sqlalchemy": "WARNING",
         "alembic": "WARNING"}
REPEAT_INTERVAL_S = 60.0


class RepeatFilter(logging.Filter):
    """Let an identical message (logger, level, text, exception type) through at most once per interval.

    Only records at ``level`` or above are limited (a flood is of warnings and
    errors); the first record after an interval carries the count of the
    suppressed ones. Memory is bounded: the oldest keys are forgotten first.
    """

    def __init__(
        self,
        interval: float = REPEAT_INTERVAL_S,
        level: int = logging.WARNING,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 512,
    ) -> None:
        super().__init__()
        self.interval = interval
        self.level = level
        self.clock = clock
        self.max_keys = max_keys
        self._seen: OrderedDict[tuple[str, int, str, str], list[float]] = OrderedDict()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.level:
            return True
        try:
            text = record.getMessage()
        except Exception:  # a bad format string: let logging report it as usual
            return True
        exc = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else ""
        key = (record.name, record.levelno, text[:500], exc)
        now = self.clock()
        entry = self._seen.get(key)
        if entry is not None and now - entry[0] < self.interval:
            entry[1] += 1
            return False
        suppressed = int(entry[1]) if entry is not None else 0
        since = now - entry[0] if entry is not None else 0.0
        self._seen[key] = [now, 0]
        self._seen.move_to_end(key)
        while len(self._seen) > self.max_keys:
            self._seen.popitem(last=False)
        if suppressed:
            record.msg = f"{text} [{suppressed} identical message(s) suppressed in the last {since:.0f} s]"
            record.args = None
        return True


def setup_logging(level: str = "INFO") -> None:
    """One stderr handler on the root logger (it replaces the one set up before), with the repeat filter;
    the chatty libraries in ``QUIET`` at their own levels."""
    fmt = "%(levelname)s %(name)s: %(message)s"
    if not os.environ.get("JOURNAL_STREAM"):
        fmt = "%(asctime)s " + fmt
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(fmt))
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    for name, lvl in QUIET.items():
        logging.getLogger(name).setLevel(lvl)
