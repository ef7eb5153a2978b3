"""The audit log: every stove command, accepted or refused, with its source and latency.

It lives in ``stove.db`` beside the timers, written through the one writer
thread, so a failing disk never blocks the event loop and a crash never leaves
half an entry. Plain SQL over ``sqlite3`` (:mod:`core.sqlitedb`): the table and
its text times are the ones SQLAlchemy made for earlier versions.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

from core.errors import StorageError
from core.sqlitedb import SqliteDatabase, from_db_time, to_db_time

__all__ = ["SCHEMA", "AuditEntry", "AuditLog"]

_LOGGER = logging.getLogger(__name__)

#: The audit table (result: ok | rejected | failed): the columns and types SQLAlchemy gave earlier versions.
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS audit (id INTEGER NOT NULL, ts DATETIME NOT NULL, "
    "source VARCHAR(16) NOT NULL, burner VARCHAR(64) NOT NULL, action VARCHAR(32) NOT NULL, "
    "result VARCHAR(16) NOT NULL, detail TEXT, latency_ms FLOAT, PRIMARY KEY (id))",
    "CREATE INDEX IF NOT EXISTS ix_audit_ts ON audit (ts)",
)
_INSERT = ("INSERT INTO audit (ts, source, burner, action, result, detail, latency_ms) "
           "VALUES (?, ?, ?, ?, ?, ?, ?)")
_SELECT = "SELECT ts, source, burner, action, result, detail, latency_ms FROM audit"


@dataclass(frozen=True)
class AuditEntry:
    ts: dt.datetime
    source: str
    burner: str
    action: str
    result: str
    detail: str | None
    latency_ms: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ts": self.ts.isoformat(),
            "source": self.source,
            "burner": self.burner,
            "action": self.action,
            "result": self.result,
            "detail": self.detail,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 1),
        }


class AuditLog:
    """The audit table, with rate-limited refusals and bounded retention.

    ``refused()`` keeps a flood from turning into a flood of rows: per
    (source, kind of action) the first ``refusal_rows`` refusals in each
    ``refusal_window_s`` get their own rows; the rest are counted and written
    as one summary row when the window ends (or at ``close()``), so every
    refusal is accounted for. Rows older than ``max_age_days``, and all but the
    newest ``max_rows``, are deleted at start and then at most hourly, through
    the database's one writer.
    """

    def __init__(
        self,
        db: SqliteDatabase,
        *,
        max_age_days: float = 365.0,
        max_rows: int = 100_000,
        refusal_rows: int = 5,
        refusal_window_s: float = 10.0,
        prune_every_s: float = 3600.0,
    ) -> None:
        self.db = db
        self.max_age_days = max_age_days
        self.max_rows = max_rows
        self.refusal_rows = refusal_rows
        self.refusal_window_s = refusal_window_s
        self.prune_every_s = prune_every_s
        self._windows: dict[tuple[str, str], _Window] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._last_prune = time.monotonic()
        try:
            self.db.write_blocking(_create)
            self.db.write_blocking(self._prune)
        except StorageError:
            _LOGGER.exception("could not prune the audit log")

    async def record(
        self,
        *,
        source: str,
        burner: str,
        action: str,
        result: str,
        detail: str | None = None,
        latency_ms: float | None = None,
    ) -> None:
        """Append one entry; a storage failure is logged, never raised into a cut."""
        row = (
            to_db_time(dt.datetime.now(dt.UTC)),
            _safe(source, 16),
            _safe(burner, 64),
            _safe(action, 32),
            _safe(result, 16),
            None if detail is None else _safe(detail, 500),
            latency_ms,
        )
        try:
            await self.db.write(lambda c: c.execute(_INSERT, row))
        except StorageError:
            _LOGGER.exception("could not write the audit log entry for %s %s", ascii(action), ascii(burner))
        self._maybe_prune()

    # ------------------------------------------------------------ refusals
    async def refused(self, source: str, burner: str, action: str, detail: str) -> None:
        """Audit a refusal, rate-limited per (source, kind of action); see the class docstring."""
        key = (source[:16], _kind(action))
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window()
            if not self._closed:
                loop = asyncio.get_running_loop()
                window.timer = loop.call_later(self.refusal_window_s, self._end_window, key)
        if window.rows < self.refusal_rows:
            window.rows += 1
            await self.record(
                source=source, burner=burner, action=action or "?", result="rejected", detail=detail
            )
            return
        window.more += 1
        window.last_burner, window.last_action, window.last_detail = burner, action, detail

    def pending_refusals(self) -> int:
        """Refusals counted but not yet written as a summary row."""
        return sum(w.more for w in self._windows.values())

    def _end_window(self, key: tuple[str, str]) -> None:
        window = self._windows.pop(key, None)
        if window is None or not window.more:
            return
        task = asyncio.get_running_loop().create_task(self._summary(key, window))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _summary(self, key: tuple[str, str], window: _Window) -> None:
        source, kind = key
        elapsed = time.monotonic() - window.started
        detail = (f"{window.more} more refused {kind} request(s) from {source} in the last {elapsed:.0f} s; "
                  f"last: {window.last_detail}")
        await self.record(source=source, burner=window.last_burner, action=window.last_action or kind,
                          result="rejected", detail=detail)

    async def close(self) -> None:
        """Write the summaries of the windows still open. Idempotent."""
        self._closed = True
        for key in list(self._windows):
            window = self._windows[key]
            if window.timer is not None:
                window.timer.cancel()
            self._end_window(key)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # ------------------------------------------------------------ retention
    def _maybe_prune(self) -> None:
        if self._closed or time.monotonic() - self._last_prune < self.prune_every_s:
            return
        self._last_prune = time.monotonic()
        task = asyncio.get_running_loop().create_task(self.prune())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def prune(self) -> int:
        """Delete rows past the retention limits now; returns how many went."""
        try:
            return await self.db.write(self._prune)
        except StorageError:
            _LOGGER.exception("could not prune the audit log")
            return 0

    def _prune(self, c: sqlite3.Connection) -> int:
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=self.max_age_days)
        gone = c.execute("DELETE FROM audit WHERE ts < ?", (to_db_time(cutoff),)).rowcount
        (newest,) = c.execute("SELECT max(id) FROM audit").fetchone()
        if newest is not None:
            gone += c.execute("DELETE FROM audit WHERE id <= ?", (newest - self.max_rows,)).rowcount
        if gone:
            _LOGGER.info("audit log: %d old row(s) pruned (keeping %g days, at most %d rows)",
                         gone, self.max_age_days, self.max_rows)
        return int(gone)

    async def count(self) -> int:
        return int(await self.db.read(lambda c: c.execute("SELECT count(*) FROM audit").fetchone()[0]))

    async def recent(self, limit: int = 50, burner: str | None = None) -> list[AuditEntry]:
        limit = max(1, min(int(limit), 1000))

        def query(c: sqlite3.Connection) -> list[AuditEntry]:
            if burner is None:
                rows = c.execute(_SELECT + " ORDER BY id DESC LIMIT ?", (limit,))
            else:
                rows = c.execute(_SELECT + " WHERE burner = ? ORDER BY id DESC LIMIT ?", (burner, limit))
            return [AuditEntry(from_db_time(ts), *rest) for ts, *rest in rows]

        return await self.db.read(query)

    async def last_cut(self, burner: str) -> AuditEntry | None:
        """The newest row of a pulse on ``burner`` (ok or failed), for the state after a restart.

        Rows that only joined a pulse in progress ("already cutting", "the cut
        in progress failed") are skipped: the pulse's own row says when and why.
        """

        def query(c: sqlite3.Connection) -> AuditEntry | None:
            row = c.execute(
                _SELECT + " WHERE burner = ? AND action = 'cut' AND result IN ('ok', 'failed')"
                " AND coalesce(detail, '') != 'already cutting'"
                " AND coalesce(detail, '') NOT LIKE 'the cut in progress failed%'"
                " ORDER BY id DESC LIMIT 1",
                (burner,),
            ).fetchone()
            if row is None:
                return None
            ts, *rest = row
            return AuditEntry(from_db_time(ts), *rest)

        try:
            return await self.db.read(query)
        except StorageError:
            _LOGGER.exception("could not read the last cut of %s from the audit log", ascii(burner))
            return None


def _create(c: sqlite3.Connection) -> None:
    for statement in SCHEMA:
        c.execute(statement)


@dataclass
class _Window:
    started: float = field(default_factory=time.monotonic)
    rows: int = 0
    more: int = 0
    last_burner: str = "all"
    last_action: str = "?"
    last_detail: str | None = None
    timer: asyncio.TimerHandle | None = None


#: Kinds of action a refusal is counted under; anything else (attacker-chosen text) is "other".
_KINDS = frozenset({"cut", "cancel", "extend", "auth", "schedule_add", "schedule_remove", "overflow", "?"})


def _kind(action: str) -> str:
    return action if action in _KINDS else "other"


def _safe(text: str, limit: int) -> str:
    """Cut to ``limit`` and make it storable: a lone surrogate cannot be encoded as UTF-8."""
    text = str(text)[:limit]
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")[:limit]
    return text

