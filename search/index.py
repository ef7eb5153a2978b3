"""Where Whoosh crosses into asyncio: one writer thread, a searcher per reading thread.

The daemon owns the index: :meth:`SearchIndex.open` takes an owner lock (a
``flock`` held for the process's life) so a second writer, such as ``coolstove
papers reindex`` while the daemon runs, is refused with a clear message instead
of racing. Every write (a crawl batch, a repair, a rebuild) runs in one
dedicated thread and ends in one commit. Readers never block: each thread
keeps its own ``Searcher`` (they are not shareable) and refreshes it when a
newer generation exists. The index is derived data: a missing, corrupt or
outdated index is rebuilt from the database, never fatal.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import shutil
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from whoosh import index as windex
from whoosh import query as wq
from whoosh.filedb.filestore import FileStorage
from whoosh.qparser import QueryParser
from whoosh.searching import Searcher

from core.errors import SearchError
from search.build import build_segments, id_ranges
from search.documents import db_stamps, load_documents, naive_utc, paper_texts, sorted_ids
from search.fastscore import Unsupported, fast_search
from search.fastscore import warm as warm_postings
from search.highlight import TermMatcher, highlight, highlight_both
from search.ports import PaperReader
from search.query import ParsedQuery, QueryError, date_filter, make_parser, parse_query, words_query
from search.results import Hit, SearchResult
from search.schema import SCHEMA_VERSION, TEXT_FIELDS, make_schema

__all__ = ["CheckReport", "SearchIndex"]

_LOGGER = logging.getLogger(__name__)
T = TypeVar("T")

INDEX_NAME = "papers"
STAMP = "coolstove-index.json"
OWNER_LOCK = "OWNER.lock"
REFRESH_EVERY_S = 1.0  # how often a reader looks for another process's commits
BATCH = 2000
PARALLEL_FROM = 20_000  # below this, worker processes cost more than they save
# What reading a damaged index raises; anything else from a search is a bug, not a reason to rebuild.
READ_ERRORS: tuple[type[BaseException], ...] = (
    OSError, EOFError, struct.error, zlib.error, windex.IndexError
)


@dataclass
class CheckReport:
    """Differences between the database and the index, and whether they were repaired."""

    in_database: int = 0
    in_index: int = 0
    missing: list[str] = field(default_factory=list)  # in the database, not indexed
    stale: list[str] = field(default_factory=list)  # indexed with another update date
    extra: list[str] = field(default_factory=list)  # indexed, gone from the database
    repaired: bool = False

    @property
    def clean(self) -> bool:
        return not (self.missing or self.stale or self.extra)


# ---------------------------------------------------------------- the index


class _NoIndex(Exception):
    pass


class SearchIndex:
    """The paper index in ``index_dir``; see the module docstring for the threading rules."""

    def __init__(self, index_dir: Path, *, procs: int | None = None, max_results: int = 1000) -> None:
        self.index_dir = Path(index_dir)
        self.procs = procs if procs is not None else min(2, os.cpu_count() or 1)
        self.max_results = max_results
        self.needs_rebuild = False
        self.owner = False
        self._ix: windex.Index | None = None
        self._parser: QueryParser | None = None
        self._lock_fd: int | None = None
        self._local = threading.local()
        self._searchers: list[Searcher] = []
        self._searchers_lock = threading.Lock()
        self._generation = 0  # bumped after each commit made by this process
        self._writer: ThreadPoolExecutor | None = None
        self.fast = True  # NumPy scoring for term queries (search.fastscore); False: Whoosh only
        self._fast_broken = False
        self._write_lock = threading.RLock()  # writes from other threads (to_thread callers) queue here
        self._failing = False
        self._cancelled = threading.Event()

    @property
    def whoosh_dir(self) -> Path:
        return self.index_dir / "whoosh"

    # ------------------------------------------------------------ lifecycle
    def open(self, *, owner: bool = True) -> SearchIndex:
        """Open (creating or rebuilding-if-corrupt); ``owner=False`` opens read-only, as the CLI does.

        After an owner open, ``needs_rebuild`` says the index was created empty or
        replaced because it was unreadable: call :meth:`rebuild` (or :meth:`reindex`).
        """
        self.index_dir.mkdir(parents=True, exist_ok=True)
        if owner:
            self._take_owner_lock()
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="search-writer")
        try:
            self._ix = self._open_existing()
        except _NoIndex:
            self._ix = None
            if owner:
                _LOGGER.info("no search index in %s yet; it will be built from the database", self.whoosh_dir)
                self._create_empty()
                self.needs_rebuild = True
        except Exception as exc:  # any failure to read an index means: rebuild it
            if not owner:
                self._ix = None
                _LOGGER.warning(
                    "search index in %s is unreadable (%s); the daemon rebuilds it", self.whoosh_dir, exc
                )
                return self
            _LOGGER.warning(
                "search index in %s is unusable (%s); rebuilding it from the database", self.whoosh_dir, exc
            )
            self._create_empty()
            self.needs_rebuild = True
        return self

    def _open_existing(self) -> windex.Index:
        stamp = self.index_dir / STAMP
        if not windex.exists_in(str(self.whoosh_dir), indexname=INDEX_NAME):
            raise _NoIndex
        meta = json.loads(stamp.read_text(encoding="utf-8"))
        if meta.get("schema") != SCHEMA_VERSION:
            raise SearchError(f"index schema {meta.get('schema')} is not the current {SCHEMA_VERSION}")
        storage = FileStorage(str(self.whoosh_dir), supports_mmap=False)
        ix = storage.open_index(indexname=INDEX_NAME)
        with ix.searcher() as s:  # touch every segment: a truncated file fails here, not in a request
            s.doc_count()
            next(iter(s.reader().lexicon("id")), None)
        return ix

    def _create_empty(self) -> None:
        self._close_searchers()
        if self.whoosh_dir.exists():
            shutil.rmtree(self.whoosh_dir)
        self.whoosh_dir.mkdir(parents=True)
        storage = FileStorage(str(self.whoosh_dir), supports_mmap=False)
        self._ix = storage.create_index(make_schema(), indexname=INDEX_NAME)
        (self.index_dir / STAMP).write_text(json.dumps({"schema": SCHEMA_VERSION}), encoding="utf-8")
        self._generation += 1

    def _take_owner_lock(self) -> None:
        path = self.index_dir / OWNER_LOCK
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise SearchError(
                f"the search index in {self.index_dir} is owned by pid {holder} (the coolstove daemon?); "
                "stop it first: it rebuilds or repairs the index itself at start"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd
        self.owner = True

    def cancel(self) -> None:
        """Make a rebuild or repair in the writer thread stop at its next batch, and refuse new ones.

        The daemon calls it when stopping: maintenance at start may take minutes, systemd waits seconds.
        The index keeps its last committed generation.
        """
        self._cancelled.set()

    def _checkpoint(self) -> None:
        if self._cancelled.is_set():
            raise SearchError("index maintenance abandoned: the index is closing")

    def close(self) -> None:
        """Stop the writer thread (finishing queued writes), close searchers, release the lock."""
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None
        self._close_searchers()
        if self._ix is not None:
            self._ix.close()
            self._ix = None
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None
            self.owner = False

    def __enter__(self) -> SearchIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _close_searchers(self) -> None:
        with self._searchers_lock:
            for s in self._searchers:
                with contextlib.suppress(Exception):
                    s.close()
            self._searchers.clear()
        self._local = threading.local()

    # ------------------------------------------------------------ writing
    def _require_owner(self) -> windex.Index:
        if not self.owner or self._ix is None:
            raise SearchError("the search index was not opened for writing")
        return self._ix

    async def _in_writer(self, fn: Callable[[], T]) -> T:
        if self._writer is None:
            raise SearchError("the search index was not opened for writing")
        self._checkpoint()
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn)

    def _committed(self) -> None:
        self._generation += 1

    async def update(self, db: PaperReader, ids: list[str]) -> None:
        """Re-index these papers after a committed crawl batch (one commit); never raises into the crawler.

        Papers no longer in the database are removed. A failure is logged once
        and left for :meth:`check` to repair.
        """
        ids = sorted(set(ids))
        if not ids:
            return
        try:
            docs = await db.read(lambda s: load_documents(s, ids))
            await self._in_writer(lambda: self._apply(docs, ids))
        except Exception as exc:
            if not self._failing:
                _LOGGER.error(
                    "search index update of %d papers failed: %s (check() will repair)", len(ids), exc
                )
            self._failing = True
            return
        if self._failing:
            _LOGGER.info("search index updates recovered")
        self._failing = False

    def _apply(self, docs: list[dict[str, Any]], ids: Iterable[str]) -> None:
        with self._write_lock:
            self._apply_locked(docs, ids)

    def _apply_locked(self, docs: list[dict[str, Any]], ids: Iterable[str]) -> None:
        ix = self._require_owner()
        found = {d["id"] for d in docs}
        writer = ix.writer(timeout=30.0)
        try:
            for doc in docs:
                writer.update_document(**doc)
            for gone in set(ids) - found:
                writer.delete_by_term("id", gone)
            writer.commit()
        except BaseException:
            writer.cancel()
            raise
        self._committed()
        _LOGGER.debug("indexed %d papers, removed %d", len(docs), len(set(ids) - found))

    async def rebuild(self, db: PaperReader) -> int:
        """:meth:`reindex` in the writer thread (what the daemon calls when ``needs_rebuild``)."""
        return await self._in_writer(lambda: self.reindex(db))

    def reindex(self, db: PaperReader, *, progress: Callable[[int], None] | None = None) -> int:
        """Rebuild the whole index from the database (blocking); returns the number of papers.

        Readers keep the old generation until the single final commit. Work is
        spread over ``procs`` worker processes reading the database themselves
        (see :mod:`search.build`).
        """
        with self._write_lock:
            return self._reindex_locked(db, progress)

    def _reindex_locked(self, db: PaperReader, progress: Callable[[int], None] | None) -> int:
        ix = self._require_owner()
        started = time.monotonic()
        ids = db.read_blocking(sorted_ids)
        procs = self.procs if len(ids) >= PARALLEL_FROM else 1
        ranges = id_ranges(ids, procs)

        def step(done: int) -> None:
            if progress is not None:
                progress(done)
            self._checkpoint()  # after each segment: a cancelled rebuild commits nothing

        self._checkpoint()
        try:
            count = build_segments(ix, str(self.whoosh_dir), INDEX_NAME, db.url, ranges, procs, step)
        except windex.LockError as exc:
            raise SearchError(f"the search index in {self.whoosh_dir} is locked by another writer") from exc
        self._committed()
        with ix.searcher() as s:
            indexed = s.doc_count()
        if indexed != count:
            raise SearchError(f"rebuild indexed {indexed} of {count} papers")
        self.needs_rebuild = False
        elapsed = time.monotonic() - started
        _LOGGER.info("search index rebuilt: %d papers in %.1f s (%d processes)", count, elapsed, procs)
        return count

    def check(self, db: PaperReader, repair: bool = True) -> CheckReport:
        """Compare index and database by id and update date; optionally repair (one commit, blocking).

        An index that has to be rebuilt anyway (new, corrupt, outdated) is rebuilt instead.
        """
        if repair and self.owner and self.needs_rebuild:
            count = self.reindex(db)
            return CheckReport(in_database=count, in_index=count, repaired=True)
        in_db = db.read_blocking(db_stamps)
        self._checkpoint()
        index_stamps = self._index_stamps()
        self._checkpoint()
        report = CheckReport(in_database=len(in_db), in_index=len(index_stamps))
        report.missing = sorted(set(in_db) - set(index_stamps))
        report.extra = sorted(set(index_stamps) - set(in_db))
        report.stale = sorted(
            pid for pid, upd in in_db.items() if pid in index_stamps and index_stamps[pid] != upd
        )
        if repair and not report.clean:
            todo = report.missing + report.stale
            docs = db.read_blocking(lambda s: load_documents(s, todo)) if todo else []
            self._apply(docs, todo + report.extra)
            report.repaired = True
            _LOGGER.info(
                "search index repaired: %d missing, %d stale, %d extra",
                len(report.missing),
                len(report.stale),
                len(report.extra),
            )
        return report

    async def check_async(self, db: PaperReader, repair: bool = True) -> CheckReport:
        """:meth:`check` in the writer thread, as every write is."""
        return await self._in_writer(lambda: self.check(db, repair))

    async def warm_async(self) -> int:
        """:meth:`warm` in the writer thread (it holds the index's own searcher there)."""
        return await self._in_writer(self.warm)

    def _index_stamps(self) -> dict[str, dt.datetime | None]:
        ix = self._ix
        if ix is None:
            return {}
        out: dict[str, dt.datetime | None] = {}
        with ix.searcher() as s:
            reader = s.reader()
            col = reader.column_reader("updated") if reader.has_column("updated") else None
            for docnum, stored in reader.iter_docs():
                value = col[docnum] if col is not None else None
                out[stored["id"]] = naive_utc(value) if isinstance(value, dt.datetime) else None
        return out

    # ------------------------------------------------------------ reading
    def _searcher(self) -> Searcher:
        ix = self._ix
        if ix is None:
            raise SearchError("the search index has not been built yet (coolstove papers reindex)")
        local = self._local
        s = getattr(local, "searcher", None)
        now = time.monotonic()
        if s is None or local.ix is not ix:
            s = ix.searcher()
            local.ix, local.generation, local.checked = ix, self._generation, now
            with self._searchers_lock:
                self._searchers.append(s)
        elif local.generation != self._generation or now - local.checked > REFRESH_EVERY_S:
            if not s.up_to_date():
                # a new searcher rather than refresh(): refresh() fails on a reader of an empty index
                fresh = ix.searcher()
                with self._searchers_lock:
                    self._searchers = [x for x in self._searchers if x is not s] + [fresh]
                with contextlib.suppress(Exception):
                    s.close()
                s = fresh
            local.generation, local.checked = self._generation, now
        local.searcher = s
        return s

    def warm(self) -> int:
        """Pre-decode the commonest terms (see :func:`search.fastscore.warm`); never raises."""
        started = time.perf_counter()
        try:
            n = warm_postings(self._searcher(), TEXT_FIELDS)
        except Exception as exc:  # a warm-up is an optimisation: failing it changes nothing else
            _LOGGER.warning("search index warm-up skipped: %s", exc)
            return 0
        _LOGGER.info("search index warmed: %d terms in %.1f s", n, time.perf_counter() - started)
        return n

    def doc_count(self) -> int:
        try:
            return int(self._searcher().doc_count())
        except SearchError:
            return 0

    def parse(self, text: str) -> ParsedQuery:
        if self._parser is None:
            self._parser = make_parser(make_schema())
        return parse_query(text, self._parser)

    def search(
        self,
        query: str,
        *,
        categories: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        since: dt.date | None = None,
        until: dt.date | None = None,
        sort: str = "relevance",
        page: int = 1,
        pagelen: int = 20,
        db: PaperReader | None = None,
    ) -> SearchResult:
        """Run a user query; bad input gives an empty result whose ``error`` says why (never raises).

        With ``db`` the hits carry title, authors and abstract from the database,
        highlighted; without it only ids, scores and dates.
        """
        result = SearchResult(
            query=query if isinstance(query, str) else "", page=page, pagelen=pagelen, sort=sort
        )
        try:
            self._check_paging(page, pagelen, sort)
            parsed = self.parse(query)
        except QueryError as exc:
            result.error = str(exc)
            return result
        result.terms = parsed.terms
        return self._run(result, parsed.query, parsed.matchers, categories, exclude, since, until, db)

    def related(
        self, paper_id: str, limit: int = 10, *, db: PaperReader | None = None, page: int = 1
    ) -> SearchResult:
        """Cool Papers' [REL]: the paper's ten key terms (by Bo1 against the index) as an OR query."""
        result = SearchResult(query=f"related:{paper_id}", page=page, pagelen=limit)
        if db is None:
            result.error = "related papers need the database (the paper's text is not stored in the index)"
            return result
        rows = db.read_blocking(lambda s: paper_texts(s, [paper_id]))
        row = rows.get(paper_id)
        if row is None:
            result.error = f"paper {paper_id} is not in the local database"
            return result
        try:
            s = self._searcher()
            text = f"{row.title}\n{row.title}\n{row.abstract}"
            terms = s.key_terms_from_text("abstract", text, numterms=10)
        except SearchError as exc:
            result.error = str(exc)
            return result
        if not terms:
            result.error = "this paper has no distinctive terms to search for"
            return result
        result.terms = [t for t, _w in terms]
        matcher = TermMatcher(stems=set(result.terms))
        q = wq.AndNot(words_query(terms), wq.Term("id", paper_id))
        return self._run(result, q, {"title": matcher, "abstract": matcher}, None, None, None, None, db)

    def _check_paging(self, page: int, pagelen: int, sort: str) -> None:
        if sort not in ("relevance", "new"):
            raise QueryError("sort must be 'relevance' or 'new'")
        if not 1 <= pagelen <= 200:
            raise QueryError("page length must be between 1 and 200")
        if page < 1:
            raise QueryError("pages are numbered from 1")
        if page * pagelen > self.max_results:
            raise QueryError(f"results stop at {self.max_results}; narrow the query or add filters")

    def _run(
        self,
        result: SearchResult,
        q: wq.Query,
        matchers: dict[str, TermMatcher],
        categories: Iterable[str] | None,
        exclude: Iterable[str] | None,
        since: dt.date | None,
        until: dt.date | None,
        db: PaperReader | None,
    ) -> SearchResult:
        if since and until and since > until:
            result.error = "the start date is after the end date"
            return result
        filters: list[wq.Query] = []
        cats = [c.lower() for c in categories or () if c]
        if cats:
            filters.append(wq.Or([wq.Term("categories", c) for c in cats]))
        dates = date_filter("announced", since, until)
        if dates is not None:
            filters.append(dates)
        flt = wq.And(filters) if len(filters) > 1 else (filters[0] if filters else None)
        excl = [c.lower() for c in exclude or () if c]
        mask = wq.Or([wq.Term("categories", c) for c in excl]) if excl else None
        limit = result.page * result.pagelen
        try:
            s = self._searcher()
            start = (result.page - 1) * result.pagelen
            ranked = self._fast(s, q, limit, flt, mask, result.sort == "new")
            if ranked is None:
                ranked = self._whoosh(s, q, limit, flt, mask, result.sort == "new")
            total, exact, docnums, scores = ranked
            reader = s.reader()
            announced = reader.column_reader("announced") if reader.has_column("announced") else None
            hits = []
            for rank, (docnum, score) in enumerate(
                zip(docnums[start:], scores[start:], strict=True), start + 1
            ):
                ann = announced[docnum] if announced is not None else None
                hits.append(
                    Hit(
                        id=reader.stored_fields(docnum)["id"],  # what Searcher copies from its reader
                        rank=rank,
                        score=round(float(score), 4) if score is not None else None,
                        announced=ann.date() if isinstance(ann, dt.datetime) else None,
                    )
                )
            result.total, result.total_exact = (
                (total, True) if exact else (max(total, len(hits) + start), False)
            )
        except SearchError as exc:
            result.error = str(exc)
            return result
        except READ_ERRORS as exc:  # the index's files failed: it is rebuilt from the database
            _LOGGER.exception("search failed reading the index in %s", self.whoosh_dir)
            self.needs_rebuild = True
            who = "the daemon rebuilds it" + ("" if self.owner else " (or: coolstove papers reindex)")
            result.error = f"the search index could not be read ({exc.__class__.__name__}); {who}"
            return result
        except Exception as exc:  # a bug in evaluating this query: the index is fine, say so
            _LOGGER.exception("search for %r failed", result.query)
            result.error = f"this search failed ({exc.__class__.__name__}); the daemon's log has the details"
            return result
        if result.total > self.max_results:
            result.capped = True
        result.hits = hits
        if db is not None and hits:
            self._fill(hits, matchers, db)
        return result

    def _fast(
        self,
        s: Searcher,
        q: wq.Query,
        limit: int,
        flt: wq.Query | None,
        mask: wq.Query | None,
        sort_new: bool,
    ) -> tuple[int, bool, list[int], list[float | None]] | None:
        """The NumPy path (:mod:`search.fastscore`), or None where it does not apply."""
        if not self.fast:
            return None
        try:
            got = fast_search(s, q, limit=limit, filter_q=flt, mask_q=mask, sort_new=sort_new)
        except Unsupported:
            return None
        except (AttributeError, TypeError, ValueError, IndexError) as exc:  # Whoosh internals moved
            if not self._fast_broken:
                _LOGGER.warning(
                    "fast scoring unavailable (%s: %s); using Whoosh's matchers", type(exc).__name__, exc
                )
            self._fast_broken = True
            return None
        return got.total, True, got.docnums, list(got.scores)

    @staticmethod
    def _whoosh(
        s: Searcher, q: wq.Query, limit: int, flt: wq.Query | None, mask: wq.Query | None, sort_new: bool
    ) -> tuple[int, bool, list[int], list[float | None]]:
        kwargs: dict[str, Any] = {"limit": limit, "filter": flt, "mask": mask, "terms": False}
        if sort_new:
            kwargs.update(sortedby="announced", reverse=True)
        found = s.search(q, **kwargs)
        hits = list(found)
        docnums = [h.docnum for h in hits]
        scores: list[float | None] = [h.score for h in hits]
        if found.has_exact_length():
            return len(found), True, docnums, scores
        return found.estimated_min_length(), False, docnums, scores

    def _fill(self, hits: list[Hit], matchers: dict[str, TermMatcher], db: PaperReader) -> None:
        rows = db.read_blocking(lambda s: paper_texts(s, [h.id for h in hits]))
        empty = TermMatcher()
        author_m = matchers.get("authors", empty)
        for hit in hits:
            row = rows.get(hit.id)
            if row is None:
                continue
            hit.in_database = True
            hit.title, hit.abstract = row.title, row.abstract
            hit.authors = list(row.authors or [])
            hit.categories = row.categories.split()
            hit.updated = row.updated
            hit.title_hl = highlight(row.title, matchers.get("title", empty))
            hit.abstract_hl, hit.snippet = highlight_both(row.abstract, matchers.get("abstract", empty))
            hit.authors_hl = [highlight(a, author_m) for a in hit.authors]
