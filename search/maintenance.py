"""Writing the index: applying a crawl batch, comparing with the database, rebuilding it whole.

These run under the writer's lock (:mod:`search.writer`), each ending in one
commit; :class:`~search.index.SearchIndex` decides when. A rebuild is spread
over worker processes (:mod:`search.build`) and checks ``checkpoint`` after
each segment, so a cancelled rebuild commits nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from whoosh import index as windex

from core.errors import SearchError
from search import whoosh_internals as wi
from search.build import build_segments, id_ranges, segment_cap
from search.documents import naive_utc
from search.lifecycle import INDEX_NAME

__all__ = ["CheckReport", "apply_documents", "compare", "index_stamps", "rebuild_index"]

_LOGGER = logging.getLogger(__name__)


@dataclass
class CheckReport:
    """Differences between the database and the index, and whether they were repaired.

    The ids are kept for ``coolstove papers check`` (which prints ten of each);
    ``str()`` (what a log line shows) gives the counts only: after a full
    snapshot import the missing ids alone are tens of megabytes.
    """

    in_database: int = 0
    in_index: int = 0
    missing: list[str] = field(default_factory=list)  # in the database, not indexed
    stale: list[str] = field(default_factory=list)  # indexed with another update date
    extra: list[str] = field(default_factory=list)  # indexed, gone from the database
    repaired: bool = False

    @property
    def clean(self) -> bool:
        return not (self.missing or self.stale or self.extra)

    def __str__(self) -> str:
        counts = (
            f"{self.in_database:,} in the database, {self.in_index:,} in the index, "
            f"{len(self.missing):,} missing, {len(self.stale):,} stale, {len(self.extra):,} extra"
        )
        state = "agree" if self.clean else ("repaired" if self.repaired else "not repaired")
        return f"{counts} ({state})"


def compare(in_db: dict[str, dt.datetime | None], in_index: dict[str, dt.datetime | None]) -> CheckReport:
    """What differs between two ``{id: update date}`` maps, ids sorted."""
    report = CheckReport(in_database=len(in_db), in_index=len(in_index))
    report.missing = sorted(set(in_db) - set(in_index))
    report.extra = sorted(set(in_index) - set(in_db))
    report.stale = sorted(pid for pid, upd in in_db.items() if pid in in_index and in_index[pid] != upd)
    return report


def index_stamps(ix: windex.Index | None) -> dict[str, dt.datetime | None]:
    """``{id: update date}`` of every indexed paper."""
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


def apply_documents(ix: windex.Index, docs: list[dict[str, Any]], ids: Iterable[str]) -> None:
    """Index ``docs`` and delete the rest of ``ids`` (papers gone from the database), in one commit."""
    found = {d["id"] for d in docs}
    gone = set(ids) - found
    writer = ix.writer(timeout=30.0, codec=wi.writer_codec())  # crawl batches get side files too
    try:
        for doc in docs:
            writer.update_document(**doc)
        for pid in gone:
            writer.delete_by_term("id", pid)
        writer.commit()
    except BaseException:
        writer.cancel()
        raise
    _LOGGER.debug("indexed %d papers, removed %d", len(docs), len(gone))


def rebuild_index(
    ix: windex.Index,
    whoosh_dir: str,
    db_url: str,
    ids: list[str],
    procs: int,
    step: Callable[[int], None],
    memory_mb: int | None = None,
) -> int:
    """Replace the whole index by the papers ``ids`` (in ``procs`` processes); the count indexed.

    ``step(done)`` runs after each segment; raising from it abandons the rebuild before its commit.
    """
    ranges = id_ranges(ids, procs, segment_cap(memory_mb, procs)) if memory_mb else id_ranges(ids, procs)
    try:
        count = build_segments(ix, whoosh_dir, INDEX_NAME, db_url, ranges, procs, step)
    except windex.LockError as exc:
        raise SearchError(f"the search index in {whoosh_dir} is locked by another writer") from exc
    with ix.searcher() as s:
        indexed = s.doc_count()
    if indexed != count:
        raise SearchError(f"rebuild indexed {indexed} of {count} papers")
    return count
