"""Where plain ``sqlite3`` crosses into asyncio: one writer thread, reads in threads, no ORM.

The stove guard's ``stove.db`` (timers, audit log) is a handful of small tables with fixed queries. It
uses this instead of :mod:`core.database` so that the stove side never imports SQLAlchemy: its import
alone costs the daemon about 16 MiB of RSS and a quarter of a second, which the stove side has no use for
(the paper feed, which does, loads it when it starts).

The design is :mod:`core.database`'s (datasette's): writes go through a single dedicated thread fed by a
queue, so SQLite never sees two writers from this process and every write is one transaction:
``await db.write(fn)`` runs ``fn(connection)`` between ``BEGIN IMMEDIATE`` and ``COMMIT`` and either all
of it commits or none of it does. Reads open a connection per call; WAL lets them run beside the writer.
SQLite errors become :class:`~core.errors.StorageError`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from core.errors import StorageError
from core.writequeue import WriteQueue

__all__ = ["SqliteDatabase", "from_db_time", "to_db_time"]

T = TypeVar("T")
BUSY_TIMEOUT_S = 10.0


class SqliteDatabase(WriteQueue[sqlite3.Connection]):
    """One SQLite file: a writer thread with a queue (:class:`~core.writequeue.WriteQueue`), and a
    short-lived connection per read."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer_conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # the writer connection, when writes run without the thread

    def connect(self) -> sqlite3.Connection:
        """A connection with the pragmas coolstove relies on (WAL, foreign keys, busy timeout), in
        autocommit mode: transactions are explicit."""
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                               check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        return conn

    # ------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Finish queued writes, stop the writer, close its connection. Idempotent."""
        if not self._stop_writer():
            return
        with self._lock:
            if self._writer_conn is not None:
                self._writer_conn.close()
                self._writer_conn = None

    def __enter__(self) -> SqliteDatabase:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ writes (in WriteQueue's thread)
    def _run_write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            try:
                if self._writer_conn is None:
                    self._writer_conn = self.connect()
                conn = self._writer_conn
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = fn(conn)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
                return result
            except sqlite3.Error as exc:
                raise StorageError(f"database write failed: {exc.__class__.__name__}: {exc}") from exc

    # ------------------------------------------------------------ reads
    def read_blocking(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            conn = self.connect()
            try:
                return fn(conn)
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise StorageError(f"database read failed: {exc.__class__.__name__}: {exc}") from exc

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.to_thread(self.read_blocking, fn)


# ---------------------------------------------------------------- times


def to_db_time(value: dt.datetime) -> str:
    """A time as stored: UTC, ``YYYY-MM-DD HH:MM:SS.ffffff`` (SQLAlchemy's SQLite format, so files written
    by earlier versions read the same, and text order is time order). A naive value is taken as UTC."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def from_db_time(text: str) -> dt.datetime:
    """A stored time, aware (UTC)."""
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
