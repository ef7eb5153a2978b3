"""Importing arXiv's bulk snapshot: batches of one transaction each, resumable after a crash.

Each batch commits together with the import's progress (the last line it
covers) in the ``crawl_runs`` row, so after a kill the database holds whole
batches only and says where to pick up; re-running the same unchanged file
resumes there (and re-running from the start is harmless anyway: every upsert
is idempotent). Bad lines are reported by number and skipped, whatever is
wrong with them: unreadable JSON, a record no paper has, or one the database
refuses (the failed batch is halved until that record stands alone, and the
rest of the batch is written); too many of them means this is not a snapshot,
and the import stops. A failing database (locked, gone, full) is no bad line:
it stops the import.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from sqlalchemy import select
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from core.database import Database
from core.errors import InputError, StorageError
from feeds import store
from feeds.models import CrawlRun
from feeds.records import PaperRecord
from feeds.snapshot import BadLine, SnapshotReader

__all__ = ["DEFAULT_BATCH", "ImportResult", "import_snapshot"]

_LOGGER = logging.getLogger(__name__)
DEFAULT_BATCH = 2000
MAX_REPORTED_BAD = 20


@dataclass
class ImportResult:
    path: Path
    lines: int = 0  # last line number read
    papers: int = 0  # records written in this run
    bad: int = 0
    bad_samples: list[BadLine] = field(default_factory=list)
    resumed_from: int = 0  # lines skipped because an earlier run had committed them
    seconds: float = 0.0
    db_seconds: float = 0.0  # time inside database writes
    db_cpu_seconds: float = 0.0  # CPU time of those writes (the process's, the writer thread included)
    batch_db_seconds: list[float] = field(
        default_factory=list
    )  # per paper, per batch: the benchmark's median
    run_id: int | None = None


class _Progress(TypedDict):
    """What a run's ``detail`` records while it imports: the file's fingerprint and what is committed.

    ``generation`` is the write generation of the last committed batch and ``notified`` the one up to
    which ``on_commit`` (the search index, when this process owns it) has returned: a run killed between
    the two leaves papers no index saw, and the run that resumes it hands them to ``on_commit`` first.
    """

    file: str
    line: int
    bad: int
    generation: int
    notified: int


def _fingerprint(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{int(st.st_mtime)}"


def _resume_point(s: Session, key: str, fingerprint: str) -> _Progress | None:
    """Where the last unfinished import of this very file stopped; None if none."""
    run = s.scalars(
        select(CrawlRun)
        .where(CrawlRun.kind == "snapshot", CrawlRun.key == key)
        .order_by(CrawlRun.id.desc())
        .limit(1)
    ).first()
    if run is None or run.status == "ok" or not run.detail:
        return None
    try:
        state = json.loads(run.detail)
    except ValueError:
        return None
    if not isinstance(state, dict) or state.get("file") != fingerprint:
        return None
    generation = int(state.get("generation", 0))
    return {
        "file": fingerprint,
        "line": int(state.get("line", 0)),
        "bad": int(state.get("bad", 0)),
        "generation": generation,
        "notified": int(state.get("notified", generation)),
    }


def _begin(s: Session, key: str, fingerprint: str, resume: bool) -> tuple[_Progress, _Progress | None, int]:
    """Mark runs whose process died aborted, find the resume point, start this run (one transaction)."""
    aborted = store.abort_stale_runs(s)
    if aborted:
        _LOGGER.warning("crawl runs %s were left running by a process that is gone: marked aborted", aborted)
    previous = _resume_point(s, key, fingerprint) if resume else None
    now = store.current_generation(s)
    state: _Progress = {
        "file": fingerprint,
        "line": previous["line"] if previous else 0,
        "bad": previous["bad"] if previous else 0,
        "generation": now,
        "notified": now,
    }
    return state, previous, store.start_run(s, "snapshot", key, detail=json.dumps(state))


def import_snapshot(
    db: Database,
    path: str | Path,
    *,
    batch_size: int = DEFAULT_BATCH,
    max_bad: int = 100,
    resume: bool = True,
    progress: Callable[[int, int], None] | None = None,
    on_commit: Callable[[list[str]], None] | None = None,
) -> ImportResult:
    """Stream a snapshot file into the database; ``progress(bytes_read, papers)`` after each batch."""
    if not 1 <= batch_size <= 50_000:
        raise InputError(f"batch size must be between 1 and 50000, got {batch_size}")
    path = Path(path).resolve()
    if not path.is_file():
        raise InputError(f"{path} is not a file")
    key = str(path)
    fingerprint = _fingerprint(path)
    state, previous, run_id = db.write_blocking(lambda s: _begin(s, key, fingerprint, resume))
    skip = state["line"]
    result = ImportResult(path=path, resumed_from=skip, bad=state["bad"], lines=skip, run_id=run_id)
    if skip:
        _LOGGER.info("resuming the import of %s after line %d", path, skip)
    if previous is not None and on_commit is not None:
        _notify_unseen(db, previous, on_commit)
    t0 = time.perf_counter()
    batch: list[tuple[int, PaperRecord]] = []  # with line numbers: a record that cannot be stored is named

    def write(records: list[PaperRecord], progress_: _Progress | None) -> list[str]:
        """One transaction: these papers, the run's count and (if given) its resume point, which records
        this transaction's write generation (and, with no ``on_commit`` here, that nothing is owed)."""
        prepared = store.prepare(records, "snapshot")  # cleaning happens here, outside the transaction

        def commit(s: Session) -> list[str]:
            ids = store.write_prepared(s, prepared)
            run = s.get(CrawlRun, run_id)
            if run is None:
                raise StorageError("the import's crawl run vanished")
            run.papers = (run.papers or 0) + len(ids)
            if progress_ is not None:
                progress_["generation"] = store.current_generation(s)  # ours, or the newest if none
                if on_commit is None:
                    progress_["notified"] = progress_["generation"]
                run.detail = json.dumps(progress_)
            return ids

        return db.write_blocking(commit)

    def salvage(items: list[tuple[int, PaperRecord]]) -> list[str]:
        """Write what can be written of a batch that failed, halving it; each record that fails alone is
        a bad line. No resume point is written here: the caller's last commit carries it."""
        try:
            return write([rec for _, rec in items], None)
        except Exception as exc:
            if _systemic(exc):
                raise
            if len(items) > 1:
                mid = len(items) // 2
                return salvage(items[:mid]) + salvage(items[mid:])
            _bad_line(result, BadLine(items[0][0], f"cannot be stored: {_describe(exc)}"), max_bad, path)
            return []

    def flush(reader: SnapshotReader) -> None:
        pending: _Progress = {**state, "line": result.lines, "bad": result.bad}
        t, cpu = time.perf_counter(), time.process_time()
        try:
            ids = write([rec for _, rec in batch], pending)
        except Exception as exc:
            if _systemic(exc) or not batch:
                raise
            _LOGGER.warning(
                "%s: the batch up to line %d failed (%s); looking for the bad lines",
                path.name,
                result.lines,
                _describe(exc),
            )
            ids = salvage(batch)
            if not ids and len(batch) > 1:  # no record of it storable alone: not the records' fault
                raise exc
            pending["bad"] = result.bad
            write([], pending)
        spent = time.perf_counter() - t
        result.db_cpu_seconds += time.process_time() - cpu
        result.db_seconds += spent
        if batch:
            result.batch_db_seconds.append(spent / len(batch))
        state.update(pending)  # only what is committed counts as done
        result.papers += len(ids)
        batch.clear()
        if on_commit is not None:
            on_commit(ids)
            state["notified"] = state["generation"]  # written with the next batch, or at the end
        if progress is not None:
            progress(reader.position, result.papers)

    try:
        with SnapshotReader(path) as reader:
            for line_no, item in reader.records(skip):
                result.lines = line_no
                if isinstance(item, BadLine):
                    _bad_line(result, item, max_bad, path)
                    continue
                batch.append((line_no, item))
                if len(batch) >= batch_size:
                    flush(reader)
            if batch or result.lines > state["line"]:
                flush(reader)
    except BaseException as exc:
        status = "error" if isinstance(exc, Exception) else "cancelled"
        detail = json.dumps({**state, "error": str(exc)[:500]})
        try:
            db.write_blocking(lambda s: store.finish_run(s, run_id, status, detail=detail))
        except Exception:  # the original error matters more than the bookkeeping
            _LOGGER.exception("could not record the failed import")
        raise
    result.seconds = time.perf_counter() - t0
    db.write_blocking(lambda s: store.finish_run(s, run_id, "ok", detail=json.dumps(state)))
    _LOGGER.info(
        "imported %d papers from %s in %.1f s (%d bad lines)", result.papers, path, result.seconds, result.bad
    )
    return result


def _notify_unseen(db: Database, previous: _Progress, on_commit: Callable[[list[str]], None]) -> None:
    """Hand ``on_commit`` what the interrupted run committed but never handed it (it was killed between
    a commit and the index update): the papers stamped after its ``notified`` generation."""
    after: tuple[int, str | None] = (previous["notified"], None)
    until = previous["generation"]
    while True:
        chunk = db.read_blocking(functools.partial(store.changed_since, after=after, until=until))
        if not chunk:
            return
        _LOGGER.info("handing %d papers the interrupted import committed to the index", len(chunk))
        on_commit([pid for _, pid in chunk])
        after = chunk[-1]


def _systemic(exc: BaseException) -> bool:
    """The database or the machine failed (locked, gone, disk full), not one record: stop, don't skip."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (OperationalError, InterfaceError, DisconnectionError, OSError, MemoryError)):
            return True
        seen = seen.__cause__ or seen.__context__
    return isinstance(exc, StorageError) and exc.__cause__ is None  # e.g. "the database is closed"


def _describe(exc: BaseException) -> str:
    cause = exc.__cause__ if isinstance(exc, StorageError) and exc.__cause__ is not None else exc
    return f"{cause.__class__.__name__}: {str(cause).splitlines()[0][:300] if str(cause) else ''}"


def _bad_line(result: ImportResult, item: BadLine, max_bad: int, path: Path) -> None:
    result.bad += 1
    if len(result.bad_samples) < MAX_REPORTED_BAD:
        result.bad_samples.append(item)
        _LOGGER.warning("%s line %d skipped: %s", path.name, item.line_no, item.reason)
    if result.bad > max_bad:
        raise InputError(
            f"{path}: more than {max_bad} bad lines (line {item.line_no}: {item.reason}); "
            "is this arXiv's metadata snapshot (JSON lines)?"
        )
