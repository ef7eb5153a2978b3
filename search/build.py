"""The bulk rebuild: worker processes that each read a range of papers and write one segment.

Two costs dominate a Whoosh rebuild of 200,000 papers, and both are avoided
here rather than tuned:

* Whoosh's ``PostingPool`` keeps one 5-tuple (with its own bytes object) per
  posting and, past ``limitmb``, pickles sorted runs to disk and merges them
  back; on this corpus the spill alone costs about 1 ms of CPU per paper.
  :class:`~search.whoosh_internals.CompactPool` keeps each term's postings in typed arrays (about a
  sixth of the memory), needs no sort beyond the term keys (papers arrive in
  docnum order) and never spills; a segment's size is set by the memory the
  workers may use together (``[search] build_memory_mb``, :func:`segment_cap`).
* ``MpWriter`` has the parent read and pickle every document for its
  workers. Here each worker reads its own id range from the database.

The parent holds the index's write lock throughout and publishes all new
segments in one commit, so readers switch from the old index to the complete
new one at once. The segments are written by :class:`search.whoosh_internals.FastCodec`,
which leaves beside each one the arrays :mod:`search.fastscore` maps.

Every Whoosh internal this needs (the replaced pool, finishing a segment
without committing it, publishing segments) is in :mod:`search.whoosh_internals`;
when its self-test fails, the rebuild falls back to one ordinary Whoosh writer
(slower, same index).
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import cast

from sqlalchemy.orm import Session
from whoosh.codec.base import Segment
from whoosh.filedb.filestore import FileStorage
from whoosh.index import Index
from whoosh.writing import CLEAR, SegmentWriter

from core.database import Database
from search import whoosh_internals as wi
from search.documents import iter_documents
from search.whoosh_internals import CompactPool

__all__ = ["BYTES_PER_PAPER", "SEGMENT_PAPERS", "CompactPool", "build_part", "build_segments", "id_ranges",
           "segment_cap"]

_LOGGER = logging.getLogger(__name__)
SEGMENT_PAPERS = 50_000  # the cap when no memory budget is given
# A worker's peak memory per paper of its segment (the pool's arrays, then the segment written
# from them), measured on bench_search's corpus: 450,000 papers peaked at about 2.3 GB.
BYTES_PER_PAPER = 5_600
MIN_SEGMENT = 20_000


def segment_cap(memory_mb: int, procs: int) -> int:
    """Papers per segment so that ``procs`` workers at once stay within ``memory_mb``.

    Fewer, larger segments are what makes queries fast at scale: every query
    term is looked up once per segment, so 2.7 million papers in 54 segments of
    50,000 cost 54 lookups a term where 6 segments cost 6.
    """
    return max(MIN_SEGMENT, memory_mb * 2**20 // (max(1, procs) * BYTES_PER_PAPER))


def id_ranges(ids: list[str], parts: int, cap: int = SEGMENT_PAPERS) -> list[tuple[str, str, int]]:
    """Split sorted ids into contiguous ranges of at most ``cap`` papers, a multiple of ``parts`` of them.

    A multiple of the worker count, so the last wave of workers is not one alone.
    """
    if not ids:
        return []
    n = max(parts, -(-len(ids) // cap))
    n = min(len(ids), -(-n // parts) * parts)
    base, extra = divmod(len(ids), n)  # the first ``extra`` ranges take one paper more
    out, start = [], 0
    for k in range(n):
        size = base + (k < extra)
        out.append((ids[start], ids[start + size - 1], size))
        start += size
    return out


def build_part(index_path: str, indexname: str, db_url: str, lo: str, hi: str) -> tuple[int, Segment | None]:
    """Worker: index the papers with ``lo <= id <= hi`` into a new segment; returns (count, segment)."""
    ix = FileStorage(index_path, supports_mmap=False).open_index(indexname=indexname)
    writer = wi.BulkWriter(ix, CompactPool())
    db = Database(db_url)
    try:

        def feed(session: Session) -> int:
            n = 0
            for doc in iter_documents(session, lo, hi):
                writer.add_document(**doc)
                n += 1
            return n

        count = db.read_blocking(feed)
        segment = wi.finish_part(writer) if count else None
        if segment is None:
            wi.abandon_part(writer)
    except BaseException:
        wi.abandon_part(writer)
        raise
    finally:
        db.close()
    return count, segment


def build_segments(
    ix: Index,
    index_path: str,
    indexname: str,
    db_url: str,
    ranges: list[tuple[str, str, int]],
    procs: int,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Index every range (in ``procs`` processes, or here when 1) and commit them as the whole index.

    ``progress(papers done)`` is called after each range; if it raises, nothing
    is committed and the exception propagates (a cancelled rebuild).
    """
    if not wi.self_test().ok:
        return _build_stock(ix, db_url, ranges, progress)
    writer = cast(SegmentWriter, ix.writer(timeout=60.0))  # the lock, held until the one commit below
    try:
        results: list[tuple[int, Segment | None]] = []
        if procs <= 1 or len(ranges) <= 1:
            for lo, hi, _n in ranges:
                results.append(build_part(index_path, indexname, db_url, lo, hi))
                if progress is not None:
                    progress(sum(c for c, _ in results))
        else:
            # fork only a single-threaded process (the CLI): a threaded daemon could hand the
            # child a lock another thread holds; there, start fresh interpreters instead
            method = "fork" if threading.active_count() == 1 else "spawn"
            ctx = multiprocessing.get_context(method)
            pool = ProcessPoolExecutor(max_workers=procs, mp_context=ctx)
            try:
                futures = [
                    pool.submit(build_part, index_path, indexname, db_url, lo, hi) for lo, hi, _ in ranges
                ]
                for fut in futures:
                    results.append(fut.result())
                    if progress is not None:
                        progress(sum(c for c, _ in results))
            finally:  # a progress callback that raises (a cancelled rebuild) drops the parts not started
                pool.shutdown(wait=True, cancel_futures=True)
        segments = [seg for _count, seg in results if seg is not None]
        wi.publish(writer, segments)  # only the new segments: the old index is dropped in this commit
    except BaseException:
        if not writer.is_closed:
            writer.cancel()
        raise
    return sum(count for count, _ in results)


def _build_stock(
    ix: Index, db_url: str, ranges: list[tuple[str, str, int]], progress: Callable[[int], None] | None
) -> int:
    """The rebuild with nothing but Whoosh's public API: one writer, one process, one commit."""
    _LOGGER.warning("rebuilding the search index with Whoosh's own writer (slower): %s", wi.self_test())
    writer = ix.writer(timeout=60.0)
    db = Database(db_url)
    done = 0
    try:
        for lo, hi, _n in ranges:

            def feed(session: Session, lo: str = lo, hi: str = hi) -> int:
                n = 0
                for doc in iter_documents(session, lo, hi):
                    writer.add_document(**doc)
                    n += 1
                return n

            done += db.read_blocking(feed)
            if progress is not None:
                progress(done)
        writer.commit(mergetype=CLEAR)  # the old segments go in the same commit
    except BaseException:
        writer.cancel()
        raise
    finally:
        db.close()
    return done
