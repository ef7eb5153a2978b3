"""The paper index as the rest of coolstove sees it: :class:`SearchIndex`, where Whoosh meets asyncio.

The daemon owns the index (an ``flock``, :mod:`search.lifecycle`); every write
runs in one writer thread and ends in one commit (:mod:`search.writer`,
:mod:`search.maintenance`); readers never block, each thread keeping its own
searcher (:mod:`search.searchers`). A search checks its options
(:mod:`search.filters`) and query (:mod:`search.query`), is ranked by the
NumPy fast path where it applies (:mod:`search.dispatch`) or else by Whoosh
with an exact total (:mod:`search.ranking`), and its hits are filled from the
database (:mod:`search.hydrate`). The index is derived data: a missing,
corrupt or outdated index is rebuilt from the database, never fatal.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import struct
import time
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from whoosh import index as windex
from whoosh import query as wq
from whoosh.qparser import QueryParser
from whoosh.searching import Searcher

from core.config import Config
from core.errors import SearchError
from search import whoosh_internals as wi
from search.dispatch import FastPath
from search.documents import db_stamps, load_documents, paper_texts, sorted_ids
from search.fastscore import RESULTS, set_cache_budget
from search.fastscore import warm as warm_postings
from search.filters import Filters, check_paging, make_filters
from search.highlight import TermMatcher
from search.hydrate import fill_hits, make_hits
from search.lifecycle import NoIndex, OwnerLock, create_empty, open_existing
from search.maintenance import CheckReport, apply_documents, compare, index_stamps, rebuild_index
from search.ports import PaperReader
from search.query import ParsedQuery, QueryError, make_parser, parse_query, words_query
from search.ranking import Ranked, whoosh_rank
from search.results import SearchResult
from search.schema import TEXT_FIELDS, make_schema
from search.searchers import Searchers
from search.writer import WriterThread

__all__ = ["READ_ERRORS", "CheckReport", "SearchIndex"]

_LOGGER = logging.getLogger(__name__)
T = TypeVar("T")

SYNC_FILE = "synced.json"  # the database generation the index is complete through (mark_synced)
RESULT_DEPTH = 100  # a search ranks (and caches) this many, so pages 2-5 cost no ranking
PARALLEL_FROM = 20_000  # below this, worker processes cost more than they save
# What reading a damaged index raises; anything else from a search is a bug, not a reason to rebuild.
READ_ERRORS: tuple[type[BaseException], ...] = (
    OSError, EOFError, struct.error, zlib.error, windex.IndexError
)


class SearchIndex:
    """The paper index in ``index_dir``; see the module docstring for the threading rules."""

    def __init__(
        self,
        index_dir: Path,
        *,
        procs: int | None = None,
        max_results: int = 1000,
        build_memory_mb: int | None = None,
    ) -> None:
        self.index_dir = Path(index_dir)
        self.procs = procs if procs is not None else min(2, os.cpu_count() or 1)
        self.max_results = max_results
        self.build_memory_mb = build_memory_mb  # None: segments of SEGMENT_PAPERS
        self.needs_rebuild = False
        self.fast = True  # NumPy scoring for term queries (search.fastscore); False: Whoosh only
        self._ix: windex.Index | None = None
        self._parser: QueryParser | None = None
        self._lock = OwnerLock(self.index_dir)
        self._writer = WriterThread()
        self._searchers = Searchers()
        self._fastpath = FastPath()
        self._failing = False
        self.results = RESULTS  # ranked lists of recent searches, shared by the process's indexes
        #: called in the writing thread after every commit of this process (publishing a generation)
        self.commit_listeners: list[Callable[[], None]] = []

    @classmethod
    def for_config(cls, cfg: Config, index_dir: Path | None = None) -> SearchIndex:
        """The index as configured (``[search]``): its folder, result cap, build memory and cache budget."""
        set_cache_budget(cfg.search.cache_mb * 2**20)
        return cls(
            index_dir or cfg.storage.index_dir,
            max_results=cfg.search.max_results,
            build_memory_mb=cfg.search.build_memory_mb,
        )

    @property
    def whoosh_dir(self) -> Path:
        return self.index_dir / "whoosh"

    @property
    def owner(self) -> bool:
        return self._lock.held

    @property
    def _fast_broken(self) -> bool:
        return self._fastpath.broken

    # ------------------------------------------------------------ lifecycle
    def open(self, *, owner: bool = True) -> SearchIndex:
        """Open (creating or rebuilding-if-corrupt); ``owner=False`` opens read-only, as the CLI does.

        After an owner open, ``needs_rebuild`` says the index was created empty or
        replaced because it was unreadable: call :meth:`rebuild` (or :meth:`reindex`).
        """
        self.index_dir.mkdir(parents=True, exist_ok=True)
        verdict = wi.self_test()  # once per process: Whoosh's internals still behave as the fast path assumes
        if not verdict.ok:
            _LOGGER.warning("search fast path off, Whoosh's own code serves every query: %s", verdict)
            self.fast = False
        if owner:
            self._lock.take()
            self._writer.start()
        try:
            self._ix = open_existing(self.index_dir, self.whoosh_dir)
        except NoIndex:
            self._ix = None
            if owner:
                _LOGGER.info("no search index in %s yet; it will be built from the database", self.whoosh_dir)
                self._replace_with_empty()
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
            self._replace_with_empty()
        return self

    def _replace_with_empty(self) -> None:
        self._searchers.close_all()
        self._ix = create_empty(self.index_dir, self.whoosh_dir)
        self._committed()
        self.needs_rebuild = True

    def _committed(self) -> None:
        """After each commit: readers reopen, listeners run (their failures are logged, never raised)."""
        self._searchers.committed()
        for listener in self.commit_listeners:
            try:
                listener()
            except Exception:
                _LOGGER.exception("after an index commit, %r failed", listener)

    def cancel(self) -> None:
        """Make a rebuild or repair in the writer thread stop at its next batch, and refuse new ones.

        The daemon calls it when stopping: maintenance at start may take minutes, systemd waits seconds.
        The index keeps its last committed generation.
        """
        self._writer.cancel()

    def _checkpoint(self) -> None:
        self._writer.checkpoint()

    def close(self) -> None:
        """Stop the writer thread (finishing queued writes), close searchers, release the lock."""
        self._writer.shutdown()
        self._searchers.close_all()
        if self._ix is not None:
            self._ix.close()
            self._ix = None
        self._lock.release()

    def __enter__(self) -> SearchIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ writing
    def _require_owner(self) -> windex.Index:
        if not self.owner or self._ix is None:
            raise SearchError("the search index was not opened for writing")
        return self._ix

    async def _in_writer(self, fn: Callable[[], T]) -> T:
        """``fn()`` in the index's writer thread (see :mod:`search.writer`)."""
        return await self._writer.run(fn)

    async def update(self, db: PaperReader, ids: list[str]) -> bool:
        """Re-index these papers after a committed crawl batch (one commit); never raises into the crawler.

        Papers no longer in the database are removed. A failure is logged once
        and returns False: the caller keeps the batch to try again (or :meth:`check` repairs it).
        """
        ids = sorted(set(ids))
        if not ids:
            return True
        try:
            docs = await db.read(lambda s: load_documents(s, ids))
            await self._in_writer(lambda: self._apply(docs, ids))
        except Exception as exc:
            if not self._failing:
                _LOGGER.error(
                    "search index update of %d papers failed: %s (check() will repair)", len(ids), exc
                )
            self._failing = True
            return False
        if self._failing:
            _LOGGER.info("search index updates recovered")
        self._failing = False
        return True

    # ------------------------------------------------------------ following the database
    def mark_synced(self, db_generation: int, db_url: str) -> None:
        """Record that the index holds every paper written up to ``db_generation`` of that database.

        The record names the index's own generation too, so any later commit this
        record does not describe (a CLI reindex, a crashed batch) makes it stale, and
        :meth:`synced_generation` then answers None: the start-up check compares all.
        """
        ix = self._require_owner()
        record = {"db_generation": db_generation, "db": db_url, "index_generation": ix.latest_generation()}
        tmp = self.index_dir / f".{SYNC_FILE}.tmp"
        tmp.write_text(json.dumps(record))
        os.replace(tmp, self.index_dir / SYNC_FILE)

    async def mark_synced_async(self, db_generation: int, db_url: str) -> None:
        """:meth:`mark_synced` in the writer thread, after the commits it describes."""
        await self._in_writer(lambda: self.mark_synced(db_generation, db_url))

    def synced_generation(self, db_url: str) -> int | None:
        """The database generation :meth:`mark_synced` last recorded, if it still describes this index."""
        if self._ix is None or self.needs_rebuild:
            return None
        try:
            record = json.loads((self.index_dir / SYNC_FILE).read_text())
            generation = record["db_generation"]
            if record["db"] != db_url or record["index_generation"] != self._ix.latest_generation():
                return None
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return generation if isinstance(generation, int) and generation >= 0 else None

    def _apply(self, docs: list[dict[str, Any]], ids: Iterable[str]) -> None:
        with self._writer.lock:
            apply_documents(self._require_owner(), docs, ids)
            self._committed()

    async def rebuild(self, db: PaperReader) -> int:
        """:meth:`reindex` in the writer thread (what the daemon calls when ``needs_rebuild``)."""
        return await self._in_writer(lambda: self.reindex(db))

    def reindex(self, db: PaperReader, *, progress: Callable[[int], None] | None = None) -> int:
        """Rebuild the whole index from the database (blocking); returns the number of papers.

        Readers keep the old generation until the single final commit. Work is
        spread over ``procs`` worker processes reading the database themselves
        (see :mod:`search.build`).
        """
        with self._writer.lock:
            ix = self._require_owner()
            started = time.monotonic()
            ids = db.read_blocking(sorted_ids)
            procs = self.procs if len(ids) >= PARALLEL_FROM else 1

            def step(done: int) -> None:
                if progress is not None:
                    progress(done)
                self._writer.checkpoint()  # after each segment: a cancelled rebuild commits nothing

            self._writer.checkpoint()
            try:
                count = rebuild_index(
                    ix, str(self.whoosh_dir), db.url, ids, procs, step, self.build_memory_mb
                )
            finally:
                self._committed()
            self.needs_rebuild = False
        elapsed = time.monotonic() - started
        _LOGGER.info("search index rebuilt: %d papers in %.1f s (%d processes)", count, elapsed, procs)
        return count

    def check(self, db: PaperReader, repair: bool = True) -> CheckReport:
        """Compare index and database by id and update date; optionally repair (one commit, blocking).

        An index that has to be rebuilt anyway (new, corrupt, outdated) is rebuilt instead.
        The report keeps the ids; its ``str()``, what log lines show, only counts them.
        """
        if repair and self.owner and self.needs_rebuild:
            count = self.reindex(db)
            report = CheckReport(in_database=count, in_index=count, repaired=True)
        else:
            in_db = db.read_blocking(db_stamps)
            self._writer.checkpoint()
            in_index = index_stamps(self._ix)
            self._writer.checkpoint()
            report = compare(in_db, in_index)
            if repair and not report.clean:
                todo = report.missing + report.stale
                docs = db.read_blocking(lambda s: load_documents(s, todo)) if todo else []
                self._apply(docs, todo + report.extra)
                report.repaired = True
                _LOGGER.info("search index repaired: %s", report)
        return report

    async def check_async(self, db: PaperReader, repair: bool = True) -> CheckReport:
        """:meth:`check` in the writer thread, as every write is."""
        return await self._in_writer(lambda: self.check(db, repair))

    async def warm_async(self) -> int:
        """:meth:`warm` in the writer thread (it holds the index's own searcher there)."""
        return await self._in_writer(self.warm)

    # ------------------------------------------------------------ reading
    def _searcher(self) -> Searcher:
        ix = self._ix
        if ix is None:
            raise SearchError("the search index has not been built yet (coolstove papers reindex)")
        return self._searchers.get(ix)

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
            check_paging(page, pagelen, sort, self.max_results)
            filters = make_filters(categories, exclude, since, until)
            parsed = self.parse(query)
        except QueryError as exc:
            result.error = str(exc)
            return result
        result.terms = parsed.terms
        return self._run(result, parsed.query, parsed.matchers, filters, db)

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
        return self._run(result, q, {"title": matcher, "abstract": matcher}, Filters(), db)

    def _run(
        self,
        result: SearchResult,
        q: wq.Query,
        matchers: dict[str, TermMatcher],
        filters: Filters,
        db: PaperReader | None,
    ) -> SearchResult:
        limit = result.page * result.pagelen
        start = (result.page - 1) * result.pagelen
        sort_new = result.sort == "new"
        try:
            s = self._searcher()
            ranked = self._ranked(s, q, limit, filters, sort_new)
            hits, texts = make_hits(s.reader(), ranked.docnums[:limit], ranked.scores[:limit], start)
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
        result.hits = hits
        result.set_total(ranked.total, exact=True)  # both evaluators count every match
        result.capped = result.total > self.max_results
        if db is not None and hits:
            fill_hits(hits, matchers, db, texts)
        return result

    def _ranked(self, s: Searcher, q: wq.Query, limit: int, filters: Filters, sort_new: bool) -> Ranked:
        """The top ``limit`` (at least :data:`RESULT_DEPTH`, so the next pages are at hand), cached.

        The key names the generation and the segments the searcher reads, so a
        commit (or a rebuilt index) is never answered from an older ranking.
        """
        segments = tuple(_segment_id(sub.reader()) for sub, _ in s.leaf_searchers())
        key = (str(self.whoosh_dir), s.reader().generation(), segments, repr(q), repr(filters), sort_new)
        got = self.results.get(key)
        if got is not None:
            cached: Ranked = got[0]
            if len(cached.docnums) >= limit or len(cached.docnums) == cached.total:
                return cached
        depth = max(limit, min(RESULT_DEPTH, self.max_results))
        ranked = self._fast(s, q, depth, filters, sort_new)
        if ranked is None:
            ranked = self._whoosh(s, q, depth, filters, sort_new)
        self.results.put(key, (ranked,), size=256 + 64 * len(ranked.docnums) + len(key[3]) + len(key[4]))
        return ranked

    def _fast(self, s: Searcher, q: wq.Query, limit: int, filters: Filters, sort_new: bool) -> Ranked | None:
        """The NumPy path (:class:`search.dispatch.FastPath`), or None where it does not apply."""
        if not self.fast:
            return None
        return self._fastpath.rank(s, q, limit, filters, sort_new)

    @staticmethod
    def _whoosh(s: Searcher, q: wq.Query, limit: int, filters: Filters, sort_new: bool) -> Ranked:
        """Whoosh's matchers (:func:`search.ranking.whoosh_rank`): the exact total, every query shape."""
        return whoosh_rank(s, q, limit, filters, sort_new)


def _segment_id(reader: Any) -> str | None:
    seg = reader.segment()  # None for the reader of an empty index
    return None if seg is None else str(seg.segment_id())
