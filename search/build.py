"""The bulk rebuild: worker processes that each read a range of papers and write one segment.

Two costs dominate a Whoosh rebuild of 200,000 papers, and both are avoided
here rather than tuned:

* Whoosh's ``PostingPool`` keeps one 5-tuple (with its own bytes object) per
  posting and, past ``limitmb``, pickles sorted runs to disk and merges them
  back; on this corpus the spill alone costs about 1 ms of CPU per paper.
  :class:`CompactPool` keeps each term's postings in typed arrays (about a
  sixth of the memory), needs no sort beyond the term keys (papers arrive in
  docnum order) and never spills; a segment is capped at
  :data:`SEGMENT_PAPERS` papers to bound memory instead.
* ``MpWriter`` has the parent read and pickle every document for its
  workers. Here each worker reads its own id range from the database.

The parent holds the index's write lock throughout and publishes all new
segments in one commit, so readers switch from the old index to the complete
new one at once.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import threading
from array import array
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any, cast

from sqlalchemy.orm import Session
from whoosh.codec.base import Segment
from whoosh.filedb.filestore import FileStorage
from whoosh.index import Index
from whoosh.writing import SegmentWriter

from core.database import Database
from search.documents import iter_documents

__all__ = ["SEGMENT_PAPERS", "CompactPool", "build_segments", "id_ranges"]

_LOGGER = logging.getLogger(__name__)
SEGMENT_PAPERS = 50_000  # about 250 MB of postings in a worker


class CompactPool:
    """Postings grouped by term, in arrays; the pool interface ``SegmentWriter`` uses."""

    def __init__(self) -> None:
        self.terms: dict[tuple[str, bytes], tuple[array[int], array[float], list[bytes | None]]] = {}
        self.fieldnames: set[str] = set()

    def add(self, item: tuple[str, bytes, int, float, bytes | None]) -> None:
        fieldname, tbytes, docnum, weight, vbytes = item
        key = (fieldname, tbytes)
        entry = self.terms.get(key)
        if entry is None:
            entry = self.terms[key] = (array("I"), array("f"), [])
            self.fieldnames.add(fieldname)
        entry[0].append(docnum)
        entry[1].append(weight)
        entry[2].append(vbytes)

    def iter_postings(self) -> Iterator[tuple[str, bytes, int, float, bytes | None]]:
        terms = self.terms
        for key in sorted(terms):
            fieldname, tbytes = key
            docs, weights, values = terms[key]
            for i, docnum in enumerate(docs):
                yield fieldname, tbytes, docnum, weights[i], values[i]

    def cleanup(self) -> None:
        self.terms.clear()


class BulkWriter(SegmentWriter):
    """A ``SegmentWriter`` for a fresh segment, postings in a :class:`CompactPool`.

    Documents arrive in docnum order, so each term's postings are already
    sorted; it is never committed through ``commit()`` (no segment merging).
    """

    def __init__(self, ix: Index, **kwargs: Any) -> None:
        super().__init__(ix, **kwargs)
        self.pool = CompactPool()  # type: ignore[assignment]  # duck-types Whoosh's PostingPool


def id_ranges(ids: list[str], parts: int, cap: int = SEGMENT_PAPERS) -> list[tuple[str, str, int]]:
    """Split sorted ids into at least ``parts`` contiguous ranges of at most ``cap`` papers."""
    if not ids:
        return []
    n = max(parts, -(-len(ids) // cap))
    size = -(-len(ids) // n)
    starts = range(0, len(ids), size)
    return [(ids[i], ids[min(i + size, len(ids)) - 1], min(size, len(ids) - i)) for i in starts]


def build_part(
    index_path: str, indexname: str, db_url: str, lo: str, hi: str
) -> tuple[int, Segment | None]:
    """Worker: index the papers with ``lo <= id <= hi`` into a new segment; returns (count, segment)."""
    ix = FileStorage(index_path, supports_mmap=False).open_index(indexname=indexname)
    writer = BulkWriter(ix, _lk=False)
    db = Database(db_url)
    count = 0
    try:

        def feed(session: Session) -> int:
            n = 0
            for doc in iter_documents(session, lo, hi):
                writer.add_document(**doc)
                n += 1
            return n

        count = db.read_blocking(feed)
        segment = writer._finalize_segment() if count else None
    except BaseException:
        with contextlib.suppress(Exception):
            writer._close_segment()
        raise
    finally:
        db.close()
    # not _finish(): the temp folder is shared with the parent's writer, which removes it
    writer.is_closed = True
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
    """Index every range (in ``procs`` processes, or here when 1) and commit them as the whole index."""
    # the lock, held until the one commit below; a file index's writer is a SegmentWriter (its private
    # _close_segment and _commit_toc publish the parts' segments)
    writer = cast(SegmentWriter, ix.writer(timeout=60.0))
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
        writer._close_segment()
        writer._commit_toc(segments)  # only the new segments: the old index is dropped in this commit
    except BaseException:
        writer.cancel()
        raise
    writer._finish()
    return sum(count for count, _ in results)
